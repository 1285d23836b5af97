"""Views of a run for people, the one package that renders: report.md and its chart,
junit.xml (`run_files`, written by `harness.store.RunWriter`), how numbers and verdicts
read (`text`), DuckDB aggregations, plotly figures, the HTML report.

`harness.report.html.write_html(run_dir, out)` writes one self-contained HTML file; the
dashboard (`dashboards/`) draws the same views, cached.
"""
