"""Time opening the bundled 20-slice example CT: upload -> volume curve of every model, cold and warm.

Usage: ``python scripts/benchmark_example.py [--repeats N]``.

Runs the Volume page headless in this process (``streamlit.testing.v1.AppTest``: the page script
with upload parsing, series grouping, JPEG 2000 decoding, encoding, every model's batched
prediction and the chart; no browser) and prints seconds:

* ``cold``: the first upload in a fresh process (model weights loaded, functions traced);
* ``warm``: later uploads of the same series whose bytes differ (a header comment changed), so no
  cached result is reused: decoding and all predictions run again;
* ``cached``: the same files once more (Streamlit's caches answer);
* ``decode only``: :func:`liver_model.io.read_dicom_series` on the 20 files (no app, no models).
"""
from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import pydicom  # noqa: E402
from streamlit.testing.v1 import AppTest  # noqa: E402

from dashboard.examples import EXAMPLE_DIR  # noqa: E402
from liver_model.io import read_dicom_series  # noqa: E402


def example_upload(tag: str | None) -> list[tuple[str, bytes, str]]:
    """The example's files as an upload; with ``tag``, each header carries it (new bytes, same pixels)."""
    files = []
    for path in sorted(EXAMPLE_DIR.glob("*.dcm")):
        data = path.read_bytes()
        if tag is not None:
            ds = pydicom.dcmread(io.BytesIO(data))
            ds.ImageComments = tag
            buffer = io.BytesIO()
            ds.save_as(buffer, enforce_file_format=True)
            data = buffer.getvalue()
        files.append((path.name, data, "application/dicom"))
    return files


def timed_upload(at: AppTest, files: list[tuple[str, bytes, str]]) -> float:
    """Seconds from handing the files to the uploader until the volume chart is built."""
    at.file_uploader[0].set_value(files)
    start = time.perf_counter()
    at.run()
    elapsed = time.perf_counter() - start
    if at.exception or at.error:
        raise SystemExit(f"app failed: {[e.value for e in (*at.exception, *at.error)]}")
    if not at.get("plotly_chart"):
        raise SystemExit("no volume chart was drawn")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="warm uploads (and decode-only runs) to time")
    args = parser.parse_args()

    start = time.perf_counter()
    at = AppTest.from_file(str(REPO / "streamlit_app.py"), default_timeout=900)
    at.run()
    at.switch_page("pages/volume.py")
    at.run()
    print(f"app start (Home, then Volume, no upload): {time.perf_counter() - start:.1f} s")
    uploads = [example_upload(None)] + [example_upload(f"benchmark run {k}") for k in range(args.repeats)]
    cold = timed_upload(at, uploads[0])
    warm = [timed_upload(at, files) for files in uploads[1:]]
    cached = timed_upload(at, uploads[0])
    paths = sorted(EXAMPLE_DIR.glob("*.dcm"))
    decode = []
    for _ in range(args.repeats):
        begin = time.perf_counter()
        read_dicom_series(paths)
        decode.append(time.perf_counter() - begin)
    print(f"upload -> volume curve, 20 slices x every model, cold (first upload): {cold:.1f} s")
    print(f"upload -> volume curve, warm (new bytes, same series), median of {len(warm)}: "
          f"{statistics.median(warm):.2f} s  (all: {', '.join(f'{t:.2f}' for t in warm)})")
    print(f"upload -> volume curve, cached (same files again): {cached:.2f} s")
    print(f"decode only (read_dicom_series, JPEG 2000, 20 files), median of {len(decode)}: "
          f"{statistics.median(decode):.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
