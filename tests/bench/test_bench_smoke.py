"""The `make bench` smoke run: every scenario at tiny sizes, so the harness keeps working.

Benchmarks are not tests: nothing here looks at a time. It checks that the run finishes, that every
scenario did all of its work (none is recorded with an error or as incomplete) and reports finite
figures and well-formed goals, and that it leaves nothing running; and that a scenario which does
not finish its work (harness.require) is recorded as incomplete, with no figures, and fails the run.
The bench gets its own database and Redis database (derived from the test run's), since it drops
and creates its database from scratch.
"""

import json
import math
import os
import socket
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from bench.__main__ import SCENARIOS

ROOT = Path(__file__).resolve().parents[2]


def _bench_database_url():
    """The test run's PostgreSQL server, a database of the bench's own named after the test's. The
    bench creates and drops that database, so it connects as the owner (make test runs the suite as
    a runtime role that may create nothing)."""
    parts = urlsplit(os.environ.get("DATABASE_OWNER_URL") or os.environ["DATABASE_URL"])
    name = parts.path.lstrip("/") or "postgres"
    return urlunsplit(parts._replace(path=f"/{name}_bench_smoke"))


def _bench_broker_url():
    """The test run's Redis, 8 databases along (db 1 for the tests means db 9 for the bench)."""
    parts = urlsplit(os.environ["CELERY_BROKER_URL"])
    db = int(parts.path.lstrip("/") or 0)
    return urlunsplit(parts._replace(path=f"/{(db + 8) % 16}"))


def _is_number(value):
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _port_is_closed(url):
    parts = urlsplit(url)
    with socket.socket() as sock:
        sock.settimeout(2)
        return sock.connect_ex((parts.hostname, parts.port)) != 0


def _run_bench(tmp_path, *argv):
    """The bench at tiny sizes, in a process of its own, its results written to tmp_path."""
    env = {
        **os.environ,
        "BENCH_DATABASE_URL": os.environ.get("BENCH_DATABASE_URL") or _bench_database_url(),
        "BENCH_BROKER_URL": os.environ.get("BENCH_BROKER_URL") or _bench_broker_url(),
    }
    return subprocess.run(
        [sys.executable, *argv, "--tiny", "--results", str(tmp_path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


# The runner with one more scenario, which does 4 of its 5 units of work and says so.
INCOMPLETE_RUNNER = """
import sys, types
import bench.__main__ as runner
from bench import harness

probe = types.ModuleType("bench.scenarios.probe_incomplete")
probe.TITLE = "A scenario that does 4 of its 5 units of work"

def run(ctx):
    done = 4
    harness.require(done == 5, f"did {done} of 5 units")
    return {"figures": {"units": done}, "goals": {}}

probe.run = run
sys.modules[probe.__name__] = probe
runner.SCENARIOS = (*runner.SCENARIOS, "probe_incomplete")
sys.exit(runner.main(sys.argv[1:]))
"""


@pytest.mark.slow
def test_an_incomplete_scenario_is_recorded_without_figures_and_fails_the_run(tmp_path):
    run = _run_bench(tmp_path, "-c", INCOMPLETE_RUNNER, "--only", "probe_incomplete,archive_details")
    assert run.returncode == 1, run.stdout[-3000:] + run.stderr[-5000:]

    [path] = tmp_path.glob("*-tiny.json")
    results = json.loads(path.read_text())
    probe = results["scenarios"]["probe_incomplete"]
    assert probe["error"] == "did 4 of 5 units"
    assert probe["incomplete"] is True
    assert "figures" not in probe
    # The other scenario still ran, complete.
    assert "error" not in results["scenarios"]["archive_details"], results["scenarios"]["archive_details"]
    assert results["scenarios"]["archive_details"]["figures"]["details_shown"] == 5
    assert "| probe_incomplete | incomplete | did 4 of 5 units | | **no** |" in run.stdout
    assert "failed or incomplete, so their goals are missed: probe_incomplete" in run.stderr


@pytest.mark.slow
def test_bench_runs_every_scenario_at_tiny_sizes_and_leaves_nothing_running(tmp_path):
    run = _run_bench(tmp_path, "-m", "bench")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-5000:]

    [path] = tmp_path.glob("*-tiny.json")
    results = json.loads(path.read_text())
    assert results["tiny"] is True
    assert list(results["scenarios"]) == list(SCENARIOS)
    assert all(results["machine"][key] for key in ("cpus", "memory_gb", "python", "postgres", "redis"))
    assert results["commit"]
    for name, scenario in results["scenarios"].items():
        assert "error" not in scenario, f"{name}: {scenario.get('error')}"
        assert "incomplete" not in scenario, name
        assert scenario["figures"], name
        for figure, value in scenario["figures"].items():
            assert _is_number(value), f"{name}.{figure} = {value!r}"
        for figure, goal in scenario["goals"].items():
            assert figure in scenario["figures"], f"{name}: a goal for no figure ({figure})"
            assert set(goal) == {"value", "goal", "met"}, f"{name}.{figure}: {goal}"
            assert goal["value"] == scenario["figures"][figure]
            assert goal["goal"].split()[0] in ("<=", ">=")
            assert isinstance(goal["met"], bool)

        # Nothing it started is still running: not the process, nor anything in its group
        # (gunicorn's workers, Celery's children), and its port is closed.
        for process in scenario["processes"]:
            with pytest.raises(ProcessLookupError):
                os.kill(process["pid"], 0)
            with pytest.raises(ProcessLookupError):
                os.killpg(process["pid"], 0)
            if process["url"]:
                assert _port_is_closed(process["url"]), process
    assert any(p["name"] == "gunicorn" for p in results["scenarios"]["throughput"]["processes"])
