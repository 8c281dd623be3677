"""`make bench`: run the scenarios side by side on this machine, write
bench/results/<date>-<commit>.json and print the table.

    .venv/bin/python -m bench [--tiny] [--only fanout,overhead] [--results DIR]
    .venv/bin/python -m bench.table [RESULTS.json] [--readme]   # the table of a results file

A scenario that cannot do all of its work (harness.require) or raises is recorded with an "error"
(and "incomplete": true for a require), shows "incomplete" or "error" in the table with its goals
missed, and makes the run exit with status 1 once every other scenario has run.

--tiny runs every scenario at toy sizes (the smoke run in `make test` uses it): the figures are
then meaningless, but every part of the harness runs. PostgreSQL and Redis must be up (as for
`make test`); the bench database is dropped and created afresh. The simulator, gunicorn and the
Celery workers are started here and stopped before it exits, whatever happens.
"""

import argparse
import importlib
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import harness  # noqa: E402
from bench.table import markdown as table  # noqa: E402

# The audit scenario goes first: it seeds its millions of events over the past 90 days into an
# empty trail (the seed continues from the newest event, so any earlier event would squeeze them all
# into the last minutes), and every later scenario then writes its audit events to a trail that size.
SCENARIOS = (
    "audit_scale",
    "fanout",
    "overhead",
    "throughput",
    "archive_details",
    "remediation",
    "remediation_bulk",
    "scale_out",
)


def _git(*args):
    try:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()  # noqa: S603,S607
    except (OSError, subprocess.CalledProcessError):
        return ""


def _machine():
    memory_gb = None
    try:
        with open("/proc/meminfo") as handle:
            memory_gb = round(int(handle.readline().split()[1]) / 1024 / 1024, 1)
    except (OSError, ValueError, IndexError):
        pass
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        postgres = cursor.fetchone()[0]
    return {
        "cpus": os.cpu_count(),
        "redis": _redis_version(),
        "memory_gb": memory_gb,
        "platform": platform.platform(),
        "processor": platform.machine(),
        "python": platform.python_version(),
        "postgres": postgres,
    }


def _redis_version():
    import redis

    try:
        with redis.Redis.from_url(os.environ["CELERY_BROKER_URL"]) as client:
            return client.info("server")["redis_version"]
    except (redis.RedisError, KeyError):
        return None


def _arguments(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="toy sizes: checks the harness, measures nothing")
    parser.add_argument("--only", default="", help="comma-separated scenario names (default: all)")
    parser.add_argument("--results", default=str(ROOT / "bench" / "results"))
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", harness.DEFAULT_DATABASE_URL))
    parser.add_argument("--broker-url", default=os.environ.get("BENCH_BROKER_URL", harness.DEFAULT_BROKER_URL))
    args = parser.parse_args(argv)
    args.names = [n.strip() for n in args.only.split(",") if n.strip()] or list(SCENARIOS)
    unknown = sorted(set(args.names) - set(SCENARIOS))
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(unknown)}; known: {', '.join(SCENARIOS)}")
    return args


def _prepare(args, tmp):
    """The bench's environment and an empty, migrated database; Django set up."""
    harness.bench_environment(database_url=args.database_url, broker_url=args.broker_url, tmp=tmp)
    harness.fresh_database(args.database_url)
    import django

    django.setup()
    import logging

    from django.core.management import call_command

    # One INFO line per Mimecast call would bury the table; warnings and errors still show.
    logging.getLogger("investigations.mimecast").setLevel(logging.WARNING)
    call_command("migrate", verbosity=0)


def _run_scenario(name, args, tmp):
    """One scenario's result; an exception becomes the result's "error", so the others still run."""
    module = importlib.import_module(f"bench.scenarios.{name}")
    ctx = harness.Context(database_url=args.database_url, broker_url=args.broker_url, tmp=tmp, tiny=args.tiny)
    print(f"== {name}: {module.TITLE}", flush=True)
    started = time.monotonic()
    try:
        result = module.run(ctx)
    except KeyboardInterrupt:
        raise
    except harness.BenchIncomplete as incomplete:  # its figures would flatter: keep none of them
        result = {"title": module.TITLE, "error": str(incomplete), "incomplete": True}
        print(f"   incomplete: {incomplete}", file=sys.stderr, flush=True)
    except Exception:  # one scenario failing must not hide the others' figures
        result = {"title": module.TITLE, "error": traceback.format_exc()}
        print(result["error"], file=sys.stderr, flush=True)
    finally:
        ctx.stop_all()
    result.setdefault("title", module.TITLE)
    result["processes"] = ctx.started  # all stopped by now: name, pid (= process group), url
    result["seconds"] = round(time.monotonic() - started, 1)
    print(f"   done in {result['seconds']} s", flush=True)
    return result


def main(argv=None):
    args = _arguments(argv)
    # SIGTERM (a CI timeout, say) unwinds like Ctrl-C, so the finally blocks stop what we started.
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    with tempfile.TemporaryDirectory(prefix="portal-bench-") as tmp:
        tmp = Path(tmp)
        _prepare(args, tmp)
        results = {
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "commit": _git("rev-parse", "--short=12", "HEAD") or "unknown",
            "dirty": bool(_git("status", "--porcelain", "--untracked-files=no")),
            "tiny": args.tiny,
            "machine": _machine(),
            "scenarios": {name: _run_scenario(name, args, tmp) for name in args.names},
        }

    results_dir = Path(args.results)
    results_dir.mkdir(parents=True, exist_ok=True)
    path = results_dir / f"{results['date'][:10]}-{results['commit']}{'-tiny' if args.tiny else ''}.json"
    path.write_text(json.dumps(results, indent=2, sort_keys=False) + "\n")
    print()
    print(table(results))
    print(f"\nwritten to {path}")
    failed = [name for name, result in results["scenarios"].items() if "error" in result]
    if failed:
        print(f"failed or incomplete, so their goals are missed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
