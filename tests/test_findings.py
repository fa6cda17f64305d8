"""The findings paragraph on the bad cases of issue #10: each gives a sensible paragraph.

No lesion, several lesions, a lesion at the image border, an 8-bit image without HU, a slice
without liver, and no tumour mask at all. Every sentence must carry a source and every measured
number in it must be the measured one.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from liver_model.findings import (LI_RADS_SENTENCE, ExplanationSummary, ModelResult, fmt_length,
                                  write_findings)
from liver_model.io import load_slice
from liver_model.manifest import read_manifest
from liver_model.masks import load_label_mask
from liver_model.measurements import measure_slice

MODELS = [ModelResult("model_a", 0.80, 0.30, 0.90, 0.40, "test patients"),
          ModelResult("model_b", 0.10, 0.20, 0.70, 0.60, "validation patients")]


@pytest.fixture(scope="module")
def lits_multi(lits_manifest: Path):
    frame = read_manifest(lits_manifest)
    row = frame.loc[frame["tumour_pixels"].astype(int).idxmax()]
    return load_slice(row["path"]), load_label_mask(row["mask_path"])


@pytest.fixture(scope="module")
def ircad(ircadb_manifest: Path):
    frame = read_manifest(ircadb_manifest)
    with_liver = frame.loc[frame["liver_pixels"].astype(int).idxmax()]
    without = frame[frame["liver_pixels"].astype(int) == 0].iloc[0]
    return ([load_slice(with_liver["path"]), load_label_mask(with_liver["mask_path"])],
            [load_slice(without["path"]), load_label_mask(without["mask_path"])])


def check_common(findings) -> str:
    text = findings.text
    assert all(s.source for s in findings.sentences)
    assert LI_RADS_SENTENCE in text
    assert "The models disagree: 1 of 2" in text and "model_a 0.80" in text
    assert "0.70 to 0.90" in text and "test patients / validation patients" in text
    return text


def test_several_lesions_in_an_eight_bit_image(lits_multi):
    ct, mask = lits_multi
    m = measure_slice(mask.tumour, mask.liver, source="reference mask", liver_source="reference mask",
                      hu=ct.hu, spacing_mm=ct.spacing_mm, body_rgb=ct.rgb)
    text = check_common(write_findings(MODELS, m, None))
    assert f"outlines {len(m.lesions)} lesions; the largest measures" in text
    assert fmt_length(m.lesions[0].long_axis, "px") in text and "px" in text
    assert "pixel spacing of this image is unknown" in text
    assert "not HU-calibrated" in text and "attenuating" not in text
    assert f"{m.tumour_burden:.1%}" in text


def test_no_lesion_names_the_model_and_its_threshold(ircad):
    (ct, mask), _ = ircad
    m = measure_slice(np.zeros_like(mask.tumour), None, source="some_map_model", hu=ct.hu,
                      hu_calibrated=True, spacing_mm=ct.spacing_mm)
    text = check_common(write_findings(MODELS, m, ExplanationSummary("model_a", "Grad-CAM", None, None)))
    assert "No lesion is outlined by the tumour map of some_map_model at p >= 0.5" in text
    assert "no lesion is outlined, so its overlap with a lesion is not measured" in text
    assert "no liver outline is available" in text


def test_planted_lesion_with_hu_gives_attenuation_in_words_and_numbers(ircad):
    (ct, mask), _ = ircad
    disc = np.zeros_like(mask.liver)
    ys, xs = np.nonzero(mask.liver)
    cy, cx = int(np.median(ys)), int(np.median(xs))
    disc[cy - 10:cy + 10, cx - 10:cx + 10] = True
    disc &= mask.liver
    hu = ct.hu.copy()
    hu[disc] -= 50
    m = measure_slice(disc, mask.liver, source="reference mask", liver_source="reference mask",
                      hu=hu, hu_calibrated=True, spacing_mm=ct.spacing_mm, body_rgb=ct.rgb)
    lesion = m.lesions[0]
    text = check_common(write_findings(MODELS, m, ExplanationSummary("model_a", "Grad-CAM", 0.62, 0.01)))
    assert "outlines one lesion, measuring " + fmt_length(lesion.long_axis, "mm") in text
    assert f"It is {lesion.attenuation} relative to the surrounding liver" in text
    assert f"{lesion.hu_difference:+.0f} HU" in text
    assert "Grad-CAM of model_a puts 62% of its mass inside the outlined lesion" in text


def test_border_lesion_is_a_lower_bound(lits_multi):
    ct, mask = lits_multi
    tumour = np.zeros_like(mask.tumour)
    tumour[100:140, 0:30] = True
    m = measure_slice(tumour, mask.liver, source="reference mask", liver_source="reference mask")
    assert "reaches the image border, so its size is a lower bound" in write_findings(MODELS, m, None).text


def test_slice_without_liver(ircad):
    _, (ct, mask) = ircad
    m = measure_slice(mask.tumour, mask.liver, source="reference mask", liver_source="reference mask",
                      hu=ct.hu, hu_calibrated=True, spacing_mm=ct.spacing_mm)
    text = check_common(write_findings(MODELS, m, None))
    assert "No lesion is outlined by the reference mask on this slice" in text
    assert "no liver is outlined on this slice" in text


def test_no_mask_at_all_and_unanimous_models():
    models = [ModelResult("a", 0.9, 0.5), ModelResult("b", 0.7, 0.5)]
    findings = write_findings(models, None, None, no_measurement_reason="No lesion is measured: why.")
    assert findings.text.startswith("All 2 models suggest a liver tumour on this slice")
    assert "No lesion is measured: why." in findings.text and LI_RADS_SENTENCE in findings.text
    negative = write_findings([ModelResult("a", 0.1, 0.5)], None, None).text
    assert negative.startswith("The model a does not suggest a liver tumour on this slice (p(tumour) 0.10")
