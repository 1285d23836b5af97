"""Views of a run for people: DuckDB aggregations, plotly figures, the HTML report.

`harness.report.html.write_html(run_dir, out)` writes one self-contained HTML file; the
dashboard (`dashboards/`) draws the same views, cached.
"""
