"""Case reports: one content object (``content``) rendered as PDF (``pdf``) and JSON, plus figures.

Nothing here imports the UI; the dashboard and ``python -m liver_model report`` call the same
builders, so a report downloaded from the app and one written by the command line agree.
"""
from liver_model.report.content import (DISCLAIMER, SliceReport, VolumeReport, build_slice_report,
                                        build_volume_report, report_dict, report_json)
from liver_model.report.pdf import render_pdf

__all__ = ["DISCLAIMER", "SliceReport", "VolumeReport", "build_slice_report", "build_volume_report",
           "render_pdf", "report_dict", "report_json"]
