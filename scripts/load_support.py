"""Pieces of ``scripts/load_test.py`` that need no browser: slice choice, percentiles, process
sampling from /proc, server start-up and the report.

Kept apart so that ``tests/test_load_test.py`` can check them quickly on real inputs (the
shared slices, real child processes) without starting Chromium or TensorFlow.
"""
from __future__ import annotations

import csv
import hashlib
import math
import os
import platform
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MAX_SESSIONS = 32
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
"""Debian's Chromium on this closed network: without the background-networking flags it keeps
trying to reach Google's hosts."""
"""Upper bound on sessions per round: each is a whole Chromium (~150-300 MiB, CPU hungry)."""
CLK_TCK = os.sysconf("SC_CLK_TCK")


def combined_calls(model_ids: list[str]) -> int:
    """Combined calls Diagnose shows above the models' own: one per shipped ensemble whose members
    are all among ``model_ids`` (each adds one "p(tumour) =" bar, but no explanation map)."""
    sys.path.insert(0, str(REPO))
    from liver_model.ensemble import list_shipped_ensembles

    return len(list_shipped_ensembles(model_ids))


def default_data_dir() -> Path:
    """``$LIVERLENS_DATA`` or ``<repo>/../shared/datasets`` (as the tests use)."""
    return Path(os.environ.get("LIVERLENS_DATA", REPO.parent / "shared" / "datasets"))


def parse_sessions(text: str) -> list[int]:
    """``"1,4,8,16"`` -> ``[1, 4, 8, 16]``; refuses empty, non-positive and > ``MAX_SESSIONS`` counts,
    because an unbounded count would start that many browsers on a 2-core machine."""
    try:
        counts = [int(part) for part in text.split(",") if part.strip()]
    except ValueError as err:
        raise ValueError(f"--sessions takes comma-separated integers, not {text!r}") from err
    if not counts:
        raise ValueError("--sessions needs at least one count")
    bad = [n for n in counts if not 1 <= n <= MAX_SESSIONS]
    if bad:
        raise ValueError(f"session counts must be 1..{MAX_SESSIONS} (one Chromium each); got {bad}")
    return counts


def choose_slices(manifest: Path, count: int, offset: int = 0) -> list[Path]:
    """``count`` distinct real slices that show liver (what a user uploads), deterministic, tumour
    and normal alternating, spread over patients (round-robin over patients in id order).

    Every session of every round gets its own file so no prediction or explanation comes from the
    app's caches (they are keyed by the file's hash; files with identical bytes are skipped).
    ``offset`` shifts the choice, for a second run against the same (already warm) server.
    """
    root = manifest.resolve().parent
    with manifest.open(newline="") as handle:
        rows = sorted(csv.DictReader(handle), key=lambda r: (r["patient_id"], int(r["slice_index"] or 0)))
    queues: dict[tuple[str, str], list[Path]] = {}
    for row in rows:
        if row["has_liver"].strip() not in ("1", "True", "true"):
            continue
        label = "tumour" if row["label"].strip().lower() == "tumour" else "normal"
        queues.setdefault((label, row["patient_id"]), []).append(root / row["path"])
    order: list[Path] = []
    patients = sorted({p for _, p in queues})
    depth = max(len(v) for v in queues.values())
    for i in range(depth):  # i-th slice of every patient, tumour then normal, before any (i+1)-th
        for patient in patients:
            for label in ("tumour", "normal"):
                queue = queues.get((label, patient), [])
                if i < len(queue):
                    order.append(queue[i])
    chosen: list[Path] = []
    seen: set[bytes] = set()
    for path in order[offset:]:
        digest = hashlib.sha256(path.read_bytes()).digest()
        if digest in seen:
            continue
        seen.add(digest)
        chosen.append(path)
        if len(chosen) == count:
            return chosen
    raise ValueError(f"only {len(chosen)} distinct slices in {manifest} after offset {offset}; need {count}")


def percentile(values: list[float], q: float) -> float:
    """Linear-interpolated percentile (numpy's default method); NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100.0
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def _children() -> dict[int, list[int]]:
    """Parent pid -> child pids, from /proc/*/stat (psutil is not a dependency)."""
    tree: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            stat = _stat(int(entry.name))
            if stat:
                tree.setdefault(int(stat[1]), []).append(int(entry.name))
    return tree


def _stat(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name (index 0 = state), or None if gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            text = handle.read().decode(errors="replace")
    except OSError:
        return None
    return text[text.rfind(")") + 2:].split()


def descendants(root: int, tree: dict[int, list[int]] | None = None) -> list[int]:
    """``root`` and every process below it."""
    tree = _children() if tree is None else tree
    found, stack = [], [root]
    while stack:
        pid = stack.pop()
        found.append(pid)
        stack.extend(tree.get(pid, []))
    return found


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of one process so far (0 if it is gone)."""
    stat = _stat(pid)
    return (int(stat[11]) + int(stat[12])) / CLK_TCK if stat else 0.0


def rss_bytes(pid: int) -> int:
    """Resident set size of one process (0 if it is gone)."""
    try:
        with open(f"/proc/{pid}/statm") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, IndexError):
        return 0


def machine_busy_seconds() -> float:
    """CPU seconds all cores spent not idle since boot (/proc/stat), to see load from elsewhere."""
    with open("/proc/stat") as handle:
        values = [int(v) for v in handle.readline().split()[1:8]]
    return (sum(values) - values[3] - values[4]) / CLK_TCK  # minus idle and iowait


@dataclass
class Sampler:
    """Samples, every ``interval_s`` in a thread, the server's RSS (its process tree summed) and the
    CPU seconds of the server tree and of the client processes (the browsers and Playwright's
    driver: descendants of ``client_root`` outside the server tree).

    CPU time is kept per pid as the largest value seen, so processes that exit during a round
    still count (up to one interval of their last work is lost). The split tells server latency
    from client contention on a small machine, where the browsers compete with the server.
    """

    server_pid: int
    client_root: int = field(default_factory=os.getpid)
    interval_s: float = 0.2
    peak_rss: int = 0
    samples: int = 0
    _server_cpu: dict[int, float] = field(default_factory=dict)
    _client_cpu: dict[int, float] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def sample(self) -> None:
        """One sample (also callable directly, e.g. by tests)."""
        tree = _children()
        server = descendants(self.server_pid, tree)
        self.peak_rss = max(self.peak_rss, sum(rss_bytes(p) for p in server))
        for pid in server:
            self._server_cpu[pid] = max(self._server_cpu.get(pid, 0.0), cpu_seconds(pid))
        skip = set(server) | {self.client_root}
        for pid in descendants(self.client_root, tree):
            if pid not in skip:
                self._client_cpu[pid] = max(self._client_cpu.get(pid, 0.0), cpu_seconds(pid))
        self.samples += 1

    def cpu(self) -> tuple[float, float]:
        """(server, client) CPU seconds seen so far; take differences around a round."""
        return sum(self._server_cpu.values()), sum(self._client_cpu.values())

    def reset_peak(self) -> None:
        """Start a new peak (one per round)."""
        self.peak_rss = 0
        self.sample()

    def __enter__(self) -> Sampler:
        def loop() -> None:
            while not self._stop.wait(self.interval_s):
                self.sample()
        self.sample()
        self._thread = threading.Thread(target=loop, name="rss-sampler", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join()
        self.sample()


def free_port() -> int:
    """A free loopback TCP port (the OS picks it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def http_status(url: str) -> int | None:
    """HTTP status of a GET, or None when nothing answers (503 comes back as 503, not an error)."""
    try:
        with urllib.request.urlopen(url, timeout=3) as response:
            return int(response.status)
    except urllib.error.HTTPError as err:
        return int(err.code)
    except OSError:
        return None


def server_command(launcher: str, port: int) -> list[str]:
    """How to start the app: ``streamlit run serve.py`` (warm start, /ready route) when asked for and
    present, else ``streamlit run streamlit_app.py`` as users start it; same flags for both."""
    entry = "serve.py" if launcher == "serve" and (REPO / "serve.py").is_file() else "streamlit_app.py"
    return [str(REPO / ".venv" / "bin" / "streamlit"), "run", entry, "--server.headless", "true",
            "--server.port", str(port), "--server.address", "127.0.0.1", "--server.fileWatcherType", "none",
            "--browser.gatherUsageStats", "false"]


def start_server(command: list[str], log: Path, pin_core: int | None) -> subprocess.Popen[bytes]:
    """Start the server in its own process group, optionally pinned to one core (``taskset``)."""
    if pin_core is not None:
        command = ["taskset", "-c", str(pin_core), *command]
    with log.open("wb") as out:
        return subprocess.Popen(command, cwd=REPO, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def stop_server(server: subprocess.Popen[bytes]) -> None:
    """Terminate a server started by :func:`start_server`; kill it if it has not exited in 30 s."""
    server.terminate()
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()


def wait_ready(url: str, ready_path: str, server: subprocess.Popen[bytes] | None, timeout_s: float,
               log: Path | None = None) -> float:
    """Seconds until ``GET url+ready_path`` answers 200; raises if the server dies, times out or
    reports a failed warm-up (a 5xx other than 503, which means "still warming")."""
    start = time.monotonic()
    while (status := http_status(url + ready_path)) != 200:
        if status is not None and status >= 500 and status != 503:
            raise RuntimeError(f"{url}{ready_path} answered {status}: the warm-up failed")
        if server is not None and server.poll() is not None:
            tail = log.read_text(errors="replace")[-3000:] if log else ""
            raise RuntimeError(f"server exited with {server.returncode} before it was ready:\n{tail}")
        if time.monotonic() - start > timeout_s:
            raise RuntimeError(f"{url}{ready_path} not 200 after {timeout_s:.0f} s")
        time.sleep(0.25)
    return time.monotonic() - start


def machine_info() -> dict[str, object]:
    """Cores, CPU model and kernel, for the JSON (timings mean little without them)."""
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cores": os.cpu_count(), "usable_cores": len(os.sched_getaffinity(0)), "cpu_model": model,
            "memory_gib": round(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") / 2**30, 1),
            "kernel": platform.release(), "python": platform.python_version()}


def table(rounds: list[dict[str, object]]) -> str:
    """The printed summary: one line per round."""
    head = (f"{'N':>3} {'pred p50':>9} {'p95':>6} {'CAM p50':>8} {'p95':>6} {'LIME p50':>9} {'p95':>6} "
            f"{'errors':>6} {'peak RSS MiB':>12} {'window s':>8} {'server CPU s':>12} {'browser CPU s':>13} "
            f"{'other CPU s':>11}")
    lines = [head, "-" * len(head)]

    def cell(values: list[float], q: float, width: int) -> str:
        value = percentile(values, q)
        return f"{'-':>{width}}" if math.isnan(value) else f"{value:>{width}.2f}"

    for r in rounds:
        s = r["sessions"]
        times = {k: [x[k] for x in s if x.get(k) is not None] for k in ("to_predictions_s", "to_gradcam_s", "to_lime_s")}
        lines.append(
            f"{r['n']:>3} {cell(times['to_predictions_s'], 50, 9)} {cell(times['to_predictions_s'], 95, 6)} "
            f"{cell(times['to_gradcam_s'], 50, 8)} {cell(times['to_gradcam_s'], 95, 6)} "
            f"{cell(times['to_lime_s'], 50, 9)} {cell(times['to_lime_s'], 95, 6)} {r['errors']:>6} "
            f"{r['peak_rss_mib']:>12.0f} {r['wall_s']:>8.1f} {r['server_cpu_s']:>12.1f} {r['browser_cpu_s']:>13.1f} "
            f"{r['other_cpu_s']:>11.1f}")
    return "\n".join(lines)
