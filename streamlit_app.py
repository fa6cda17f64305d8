"""LiverLens entry point: ``streamlit run streamlit_app.py``.

Only navigation lives here: ``st.navigation`` over the Home view and the page files in ``pages/``
(a page registered here is the only way to reach it, so the sidebar lists exactly these).
"""
from __future__ import annotations

import streamlit as st

from dashboard import home, state, tf_runtime, warmup
from dashboard.auth import gate

tf_runtime.keep_tensorflow_warm()
warmup.start()  # once per process: load and trace the models before the first upload
st.set_page_config(page_title="LiverLens", page_icon=":material/radiology:", layout="wide")
state.init_state()

navigation = st.navigation(
    [
        st.Page(home.render, title="Home", icon=":material/home:", url_path="home", default=True),
        st.Page("pages/diagnose.py", title="Diagnose", icon=":material/search:"),
        st.Page("pages/compare.py", title="Compare", icon=":material/grid_view:"),
        st.Page("pages/performance.py", title="Performance", icon=":material/monitoring:"),
        st.Page("pages/volume.py", title="Volume", icon=":material/view_in_ar:"),
        st.Page("pages/teaching.py", title="Teaching", icon=":material/school:"),
    ]
)
st.sidebar.caption("Research and teaching tool. **Not a medical device**; not for clinical decisions.")
gate.require_login()  # optional login (README "Serving"): nothing of a page runs before it
navigation.run()
