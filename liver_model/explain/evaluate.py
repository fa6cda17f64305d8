"""Explanation-quality evaluation: every method on every model over a set of tumour slices.

For each (model, method, slice) it records localisation against the ground-truth masks
(pointing game and energy share, for the tumour and for the liver), for segmentation models also
against the model's own tumour outline (does the explanation point where the model itself says
the tumour is? A map can miss the reference tumour yet be faithful to a model that missed it
too), faithfulness to the model
(deletion / insertion AUC) and the runtime; per (model, method) it reports the mean and the
spread (std, median, quartiles) of each, plus the model-randomisation rank correlation on the
first few slices. Chance levels are reported beside them (what a uniform map would score), so a
number like "energy 0.12" can be read: is that better than spreading the heat evenly?
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import ndimage

from liver_model.explain import quality
from liver_model.explain.base import METHODS, Explanation
from liver_model.explain.engine import ModelLike, as_prepared, explain, model_adapter
from liver_model.explain.sanity import model_randomisation_check, randomised_model
from liver_model.io import load_slice
from liver_model.masks import load_label_mask
from liver_model.preprocessing import PreparedSlice
from liver_model.segmentation import slice_maps
from liver_model.slices import CTSlice

SLICE_METRICS = ("pointing_tumour", "energy_tumour", "pointing_liver", "energy_liver",
                 "pointing_own_tumour", "energy_own_tumour", "deletion_auc", "insertion_auc", "runtime_s", "blank", "probability")
CHANCE_METRICS = ("chance_pointing_tumour", "chance_energy_tumour",
                  "chance_pointing_liver", "chance_energy_liver")
DEFAULT_MIN_TUMOUR_PIXELS = 100
"""Slices with smaller lesions are left out: a 10-pixel lesion is below every map's resolution."""

METRIC_NOTES = {
    "pointing_tumour": "1 if the heatmap peak is within tolerance_px of a tumour pixel, else 0; "
                       "blank maps are not scored (see 'blank')",
    "energy_tumour": "share of the heatmap's mass on tumour pixels; compare with "
                     "chance_energy_tumour (a uniform map); blank maps not scored",
    "pointing_liver": "as pointing_tumour, for the liver (tumour included)",
    "energy_liver": "as energy_tumour, for the liver (tumour included)",
    "pointing_own_tumour": "as pointing_tumour, against the model's own tumour mask (segmentation "
                           "models; not scored where the model outlines no tumour)",
    "energy_own_tumour": "as energy_tumour, against the model's own tumour mask (segmentation "
                         "models; not scored where the model outlines no tumour)",
    "deletion_auc": "area under p(tumour) as the most important pixels are set to 0, from 0 to "
                    "100% of pixels; lower = more faithful; blank maps delete in random order",
    "insertion_auc": "area under p(tumour) as the most important pixels are put back into a "
                     "blurred slice; higher = more faithful",
    "runtime_s": "wall time of explain() (first call per model includes tracing; use the median)",
    "blank": "1 if the map is near-constant (nothing to show), else 0; the mean is the blank rate",
    "probability": "the model's p(tumour) on the slice",
    "randomisation_rank_correlation": "Spearman rho between the maps of the trained model and of "
                                      "a copy with its top layers re-initialised (Adebayo et al. "
                                      "2018); near 1 = the map ignores the model (fails the check)",
}

Log = Callable[[str], None]


@dataclass(eq=False)
class EvalSlice:
    """A tumour slice with its masks, as read from a manifest row."""

    ct: CTSlice
    tumour: np.ndarray
    liver: np.ndarray
    name: str
    """Path relative to the manifest's folder (never an absolute path of this machine)."""


def select_tumour_rows(frame: pd.DataFrame, *, split: str | None, max_slices: int | None,
                       seed: int = 0,
                       min_tumour_pixels: int = DEFAULT_MIN_TUMOUR_PIXELS) -> pd.DataFrame:
    """Tumour rows with a mask (of ``split`` if given), optionally a seeded sample of them.

    The sample is drawn from rows sorted by path, so it depends on the seed and the manifest's
    content only, not on its row order.
    """
    rows = frame[(frame["y"] == 1) & frame["mask_path"].notna()]
    if split is not None:
        if "split" not in rows.columns:
            raise ValueError("the manifest has no split column; apply a split file first")
        rows = rows[rows["split"] == split]
    if "tumour_pixels" in rows.columns:
        rows = rows[rows["tumour_pixels"].astype(int) >= min_tumour_pixels]
    rows = rows.sort_values("path").reset_index(drop=True)
    if max_slices is not None and len(rows) > max_slices:
        rows = rows.sample(n=max_slices, random_state=seed).sort_values("path")
    return rows.reset_index(drop=True)


def load_eval_slices(rows: pd.DataFrame, root: Path) -> list[EvalSlice]:
    """Read the slices and masks of manifest ``rows`` (absolute paths under ``root``)."""
    out = []
    for row in rows.itertuples():
        mask = load_label_mask(row.mask_path)
        out.append(EvalSlice(ct=load_slice(row.path), tumour=mask.tumour, liver=mask.liver,
                             name=Path(row.path).relative_to(root).as_posix()))
    return out


def chance_levels(prepared: PreparedSlice, item: EvalSlice,
                  tolerance_px: int) -> dict[str, float]:
    """Scores of a uniform map over the model's field of view (the body crop)."""
    support = prepared.to_slice(np.ones((prepared.size, prepared.size), np.float32)) > 0.5
    out = {}
    for name, mask in (("tumour", item.tumour), ("liver", item.liver)):
        near = ndimage.distance_transform_edt(~mask) <= tolerance_px
        out[f"chance_pointing_{name}"] = float(near[support].mean())
        out[f"chance_energy_{name}"] = float(mask[support].mean())
    return out


def own_tumour_mask(model: ModelLike, prepared: PreparedSlice) -> np.ndarray | None:
    """The model's own tumour mask on the slice (as the app outlines it), None without maps."""
    if not getattr(model, "has_maps", False):
        return None
    maps = slice_maps(model, prepared)
    return None if maps is None else maps.tumour_mask()


def localisation(heatmap: np.ndarray, item: EvalSlice, own_tumour: np.ndarray | None,
                 tolerance_px: int) -> dict[str, float]:
    """Pointing game and energy share of a slice-resolution heatmap against each mask.

    Own-mask scores are NaN for models without maps and where the model outlined nothing:
    there is no region to point at, and a 0 would read as "the map missed it".
    """
    values = {
        "pointing_tumour": quality.pointing_game(heatmap, item.tumour, tolerance_px),
        "energy_tumour": quality.energy_pointing(heatmap, item.tumour),
        "pointing_liver": quality.pointing_game(heatmap, item.liver, tolerance_px),
        "energy_liver": quality.energy_pointing(heatmap, item.liver),
        "pointing_own_tumour": math.nan,
        "energy_own_tumour": math.nan,
    }
    if own_tumour is not None and own_tumour.any():
        values["pointing_own_tumour"] = quality.pointing_game(heatmap, own_tumour, tolerance_px)
        values["energy_own_tumour"] = quality.energy_pointing(heatmap, own_tumour)
    return values


def score(model: ModelLike, prepared: PreparedSlice, explanation: Explanation, item: EvalSlice,
          tolerance_px: int, seed: int, own_tumour: np.ndarray | None = None) -> dict[str, float | None]:
    """All per-slice metrics of one explanation; None where undefined (e.g. pointing of a blank map)."""
    adapter = model_adapter(model)
    tumour_target = explanation.target_class == "tumour"

    def predict_target(batch: np.ndarray) -> np.ndarray:
        p = adapter.predict_proba(batch)
        return p if tumour_target else 1.0 - p

    deletion, insertion = quality.deletion_insertion_auc(
        predict_target, prepared.tensor, explanation.model_input_heatmap, seed=seed)
    values = {
        **localisation(explanation.heatmap, item, own_tumour, tolerance_px),
        "deletion_auc": deletion,
        "insertion_auc": insertion,
        "runtime_s": explanation.runtime_s,
        "blank": float(explanation.is_blank),
        "probability": explanation.probability,
    }
    return {k: (v if math.isfinite(v) else None) for k, v in values.items()}


def summarise(values: Sequence[float]) -> dict[str, float | int | None]:
    """Mean, std, median, quartiles and count of the finite values (None where there are none)."""
    v = np.asarray([x for x in values if x is not None and math.isfinite(x)], np.float64)
    if v.size == 0:
        return {"n": 0, "mean": None, "std": None, "median": None, "q25": None, "q75": None}
    q25, median, q75 = np.percentile(v, [25, 50, 75])
    return {"n": int(v.size), "mean": float(v.mean()), "std": float(v.std(ddof=0)),
            "median": float(median), "q25": float(q25), "q75": float(q75)}


def evaluate_explanations(models: Mapping[str, ModelLike], slices: Sequence[EvalSlice],
                          methods: Sequence[str], *, preset: str = "fast",
                          tolerance_px: int = quality.DEFAULT_TOLERANCE_PX,
                          sanity_slices: int = 2, seed: int = 0,
                          log: Log | None = None) -> dict:
    """Run the evaluation and return a JSON-ready report (see the module docstring)."""
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise ValueError(f"unknown method(s) {unknown}; known: {list(METHODS)}")
    report: dict = {"preset": preset, "tolerance_px": tolerance_px, "seed": seed,
                    "n_slices": len(slices), "slices": [s.name for s in slices],
                    "methods": list(methods), "metric_notes": METRIC_NOTES,
                    "models": {}, "chance": {}, "own_tumour_slices": {}}
    chance_rows: dict[str, list[dict[str, float]]] = {}
    for model_id, model in models.items():
        prepared = [as_prepared(item.ct, model) for item in slices]
        chance_rows[model_id] = [chance_levels(p, item, tolerance_px)
                                 for p, item in zip(prepared, slices)]
        own = [own_tumour_mask(model, p) for p in prepared]
        if any(mask is not None for mask in own):
            report["own_tumour_slices"][model_id] = int(sum(bool(m is not None and m.any()) for m in own))
        randomised = randomised_model(model, seed=seed)
        per_method: dict = {}
        for method in methods:
            started = time.perf_counter()
            rows, correlations = [], []
            for index, (item, prep, own_mask) in enumerate(zip(slices, prepared, own)):
                explanation = explain(model, prep, method, target="tumour", preset=preset)
                rows.append(score(model, prep, explanation, item, tolerance_px, seed, own_mask))
                if index < sanity_slices:
                    correlations.append(model_randomisation_check(
                        model, prep, method, preset=preset, trained=explanation,
                        randomised=randomised).rank_correlation)
            per_method[method] = {
                "metrics": {k: summarise([r[k] for r in rows]) for k in SLICE_METRICS},
                "randomisation_rank_correlation": summarise(correlations),
                "randomised_layers": randomised[1],
                "per_slice": rows,
            }
            if log is not None:
                m = per_method[method]["metrics"]
                log(f"{model_id:<28} {method:<10} pointing {_fmt(m['pointing_tumour']['mean'])} "
                    f"energy {_fmt(m['energy_tumour']['mean'])} "
                    f"own-map pointing {_fmt(m['pointing_own_tumour']['mean'])} "
                    f"energy {_fmt(m['energy_own_tumour']['mean'])} "
                    f"del {_fmt(m['deletion_auc']['mean'])} ins {_fmt(m['insertion_auc']['mean'])} "
                    f"t {_fmt(m['runtime_s']['median'])} s  ({time.perf_counter() - started:.0f} s)")
        report["models"][model_id] = per_method
    for model_id, rows in chance_rows.items():
        report["chance"][model_id] = {k: summarise([r[k] for r in rows]) for k in CHANCE_METRICS}
    return report


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"
