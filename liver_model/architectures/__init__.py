"""Keras builders of the architectures LiverLens can train, one module per architecture.

Each module builds a functional model that takes float32 RGB 0..255 (normalisation is a layer
inside the model) and names its Grad-CAM target layer in a ``CAM_LAYER`` constant, so the
registry (``liver_model/registry.py``) can list them without special cases.
"""
