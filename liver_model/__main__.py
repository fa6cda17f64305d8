"""Command-line entry: ``python -m liver_model <command> ...``.

Each command lives in its own module under :mod:`liver_model.commands` and exposes
``add_arguments(parser)`` and ``run(args) -> int``; modules are imported lazily so that
``info`` does not pay for importing TensorFlow.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from liver_model.errors import LiverLensError

COMMANDS: dict[str, tuple[str, str]] = {
    "info": ("liver_model.commands.info", "Counts per label, split and patient of a manifest."),
    "split": ("liver_model.commands.split", "Write the deterministic patient-level split file."),
    "train": ("liver_model.commands.train", "Train one architecture on the patient split."),
    "evaluate": ("liver_model.commands.evaluate", "Evaluate shipped models on any manifest."),
    "explain-eval": ("liver_model.commands.explain_eval", "Measure explanation quality."),
    "benchmark": ("liver_model.commands.benchmark", "Print model size, latency, throughput."),
    "cv": ("liver_model.commands.cv", "Patient-level cross-validation of a segmentation recipe."),
    "cv-compare": ("liver_model.commands.cv_compare", "Paired comparison of two cv reports (same folds)."),
    "refresh-cards": ("liver_model.commands.refresh_cards", "Re-read shipped cards' CV summaries from their reports."),
    "recipe-comparison": ("liver_model.commands.recipe_comparison", "Every ablation CV report against the shipped recipe it changes."),
    "learning-curve": ("liver_model.commands.learning_curve", "ROC AUC against the number of training patients (cv reports of one recipe)."),
    "auc-by-patient": ("liver_model.commands.auc_by_patient", "Where a cv report's pooled ROC AUC is lost, patient by patient."),
    "ensemble": ("liver_model.commands.ensemble", "Cross-validate and ship the mean of shipped detectors."),
    "report": ("liver_model.commands.report", "Write a case report (PDF, JSON) for a slice or series."),
    "import-volumes": ("liver_model.commands.import_volumes", "Labelled NIfTI volumes (LiTS, MSD) -> a dataset with a manifest."),
    "download-msd-liver": ("liver_model.commands.download_msd_liver", "Fetch and unpack MSD Task03_Liver (needs internet)."),
}


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv``, run one command and turn typed errors into a one-line message."""
    parser = argparse.ArgumentParser(prog="python -m liver_model", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    argv = sys.argv[1:] if argv is None else argv
    chosen = next((a for a in argv if a in COMMANDS), None)
    for name, (module_name, help_text) in COMMANDS.items():
        cmd_parser = sub.add_parser(name, help=help_text)
        if name == chosen:
            importlib.import_module(module_name).add_arguments(cmd_parser)
    args = parser.parse_args(argv)
    module = importlib.import_module(COMMANDS[args.command][0])
    try:
        return int(module.run(args) or 0)
    except LiverLensError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
