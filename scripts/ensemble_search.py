"""Would a bigger combined call help? Every 2- and 3-member mean of recipes cross-validated on the
same folds, scored by the ensemble rule of ``liver_model.ensemble`` from their reports alone.

Why: the shipped combined call averages two views; more recipes are already cross-validated
(``assets/metrics/cv_*.json``: ablations, other views), and their out-of-fold scores tell, with
no training, whether a third member would be worth shipping (and training on every patient).

Usage: ``python scripts/ensemble_search.py assets/metrics/cv_efficientnet_lite0_unet.json
assets/metrics/cv_efficientnet_lite0_unet_liver.json ... [--max-members 3]``
"""
from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from liver_model.ensemble import cross_validate  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("reports", nargs="+", type=Path, help="CV reports on the same folds")
    parser.add_argument("--max-members", type=int, default=3)
    args = parser.parse_args(argv)
    reports = {path.stem.removeprefix("cv_"): json.loads(path.read_text()) for path in args.reports}
    rows = []
    for k in range(1, args.max_members + 1):
        for names in itertools.combinations(reports, k):
            pooled = (reports[names[0]] if k == 1 else cross_validate({n: reports[n] for n in names}))["pooled"]
            rows.append((pooled["roc_auc"]["value"], pooled["roc_auc"]["ci95_low"], pooled["roc_auc"]["ci95_high"],
                         pooled["sensitivity_at_specificity_0.90"]["value"],
                         pooled["specificity_at_sensitivity_0.90"]["value"], " + ".join(names)))
    print(f"{'ROC AUC [95 % CI]':<22} {'sens@spec0.90':>13} {'spec@sens0.90':>13}  members")
    for auc, low, high, sens, spec, names in sorted(rows, reverse=True):
        print(f"{auc:.3f} [{low:.3f}-{high:.3f}]    {sens:>10.3f} {spec:>13.3f}  {names}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
