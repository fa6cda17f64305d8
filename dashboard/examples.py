"""The bundled example CT: what a fresh install shows before anyone has a file at hand.

Twenty real abdominal CT slices (JPEG 2000 DICOM) from the TotalSegmentator project,
``assets/examples/totalsegmentator_ct`` with its ``ATTRIBUTION.md``. Their licence (Apache-2.0 /
CC BY 4.0) asks for credit wherever they are shown, so the bundle carries :data:`CREDIT` and
:mod:`dashboard.uploads` shows it under the slices.
"""
from __future__ import annotations

import dataclasses

import streamlit as st

from dashboard import state, uploads
from liver_model.paths import ASSETS_DIR

EXAMPLE_DIR = ASSETS_DIR / "examples" / "totalsegmentator_ct"
NAME = "the example CT (20 abdominal slices, TotalSegmentator)"
CREDIT = (
    "Example CT from the TotalSegmentator project (Wasserthal et al., Radiology: Artificial "
    "Intelligence 2023; github.com/wasserth/TotalSegmentator), Apache-2.0 / CC BY 4.0. "
    "No liver or tumour label exists for it: it shows what the models do, not whether they are right."
)


def example_files() -> list[tuple[str, bytes]]:
    """The example's DICOM files as ``(name, bytes)``, as an upload would bring them."""
    return [(path.name, path.read_bytes()) for path in sorted(EXAMPLE_DIR.glob("*.dcm"))]


def example_bundle() -> uploads.UploadBundle | None:
    """The example read through the same path as an upload, named and credited."""
    bundle, errors = uploads.read_files(example_files())
    for message in errors:
        st.error(message)
    return None if bundle is None else dataclasses.replace(bundle, name=NAME, credit=CREDIT)


def offer_example(*, key: str) -> None:
    """A "Try the example" button that makes the example the slices under review on every page.

    It opens on the middle slice, which cuts through liver, spleen and stomach.
    """
    if not EXAMPLE_DIR.is_dir():
        return
    if st.button("Try the example", key=key, type="primary",
                 help="Open a real 20-slice abdominal CT shipped with LiverLens (TotalSegmentator, CC BY 4.0)."):
        bundle = example_bundle()
        if bundle is not None:
            state.set_active(bundle, len(bundle.slices) // 2)
            st.rerun()
    st.caption("No CT at hand? " + CREDIT)
