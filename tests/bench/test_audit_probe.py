"""The audit export probe reports its own peak memory, not that of the process that started it."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PAGE = 4096


def _peak_reported_by_a_child(code):
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    return int(done.stdout) * 1024


def test_a_probe_started_by_a_larger_process_reports_its_own_peak():
    # The bench runner is such a process: it has seeded millions of events when it starts the probe.
    ballast = bytearray(300 * 2**20)
    ballast[::PAGE] = b"\x01" * (len(ballast) // PAGE)  # touched, so resident
    peak = _peak_reported_by_a_child("from bench.scenarios.audit_scale import _peak_rss_kb; print(_peak_rss_kb())")
    # What getrusage would say carries the parent's 300 MB over (the reason the probe does not use it).
    inherited = _peak_reported_by_a_child("import resource; print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)")
    assert inherited >= len(ballast)  # so this test would catch the probe using it
    assert peak < 100 * 2**20
