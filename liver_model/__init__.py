"""LiverLens core: from a CT slice file to an explained liver-tumour prediction.

Everything here is UI-free (it never imports ``streamlit`` or ``dashboard``) so that training,
evaluation, tests and the dashboard share one data path. Sub-modules are imported explicitly
(``from liver_model.io import load_slices``); this file stays import-light so that
``python -m liver_model info`` does not pay for TensorFlow.
"""
