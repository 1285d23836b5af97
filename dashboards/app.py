"""The meshproof dashboard: every run of a reports folder, one run, two runs, many runs.

    streamlit run dashboards/app.py -- --reports reports      (or: meshproof dashboard)

Pages live in `dashboards/views/`, each a Streamlit page script whose `main()` draws it;
they read run directories only (through `dashboards.data`).
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

VIEWS = Path(__file__).resolve().parent / "views"


def main() -> None:
    st.set_page_config(page_title="meshproof", page_icon="🕸", layout="wide")
    pages = [
        st.Page(VIEWS / "runs.py", title="Runs", icon=":material/list:", default=True),
        st.Page(VIEWS / "run.py", title="Run", icon=":material/monitoring:", url_path="run"),
        st.Page(VIEWS / "compare.py", title="Compare", icon=":material/compare_arrows:"),
        st.Page(VIEWS / "trends.py", title="Trends", icon=":material/trending_up:"),
    ]
    navigation = st.navigation(pages)
    st.sidebar.caption("meshproof · service-mesh chaos and observability runs")
    navigation.run()


if __name__ == "__main__":
    main()
