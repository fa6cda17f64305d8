"""Explanation engine: why does a model say "tumour" on this slice, and how good is that answer.

``explain(model, slice, method)`` returns an :class:`Explanation`; :data:`METHODS` tells the UI
what each method needs and costs. Overlays (``overlay``), quality metrics against the tumour mask
(``quality``) and the model-randomisation sanity check (``sanity``) are separate modules. Nothing
here imports the UI.
"""
from liver_model.explain.base import METHODS, Explanation, MethodSpec
from liver_model.explain.engine import explain

__all__ = ["METHODS", "Explanation", "MethodSpec", "explain"]
