"""Streamlit glue of the LiverLens dashboard.

Pages in ``pages/`` only lay out what the modules here return; computation lives in
``liver_model`` (which never imports this package).
"""
