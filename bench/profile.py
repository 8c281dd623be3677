"""`make profile`: where the 100-row track & trace page spends the portal's own time.

    .venv/bin/python -m bench.profile [--runs 50] [--top 30] [--out FILE]

Sets up the bench database and a loopback simulator exactly as the overhead scenario does, makes
the same page request `--runs` times under cProfile (after a warm-up), and prints:

- the median wall time of the page and of the direct client call, and their difference;
- that difference split by phase (the Mimecast call, template rendering, the database, the rest),
  from the profiler's cumulative times per request;
- the `--top` functions by their own time.

The phase split is what the README quotes; the figures under cProfile are larger than without it
(the profiler's own cost), so they are read as shares, not as absolute times.
"""

import argparse
import cProfile
import io
import pstats
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import harness  # noqa: E402

# Phases, by the function whose cumulative time they are: the first match in this order wins, so
# the Mimecast call inside a view is counted once, under "mimecast call".
PHASES = (
    ("mimecast call", "investigations/mimecast/transport.py", "_request"),
    ("template rendering", "django/template/base.py", "render"),
    ("database", "django/db/backends/utils.py", "_execute_with_wrappers"),
)


def _phase_seconds(stats, runs):
    """Seconds per request in each phase: the cumulative time of the phase's outermost function
    (of the functions so named in that file, the one with the largest cumulative time; pstats
    already counts a recursive function's time once)."""
    out = {}
    for name, path, func in PHASES:
        cumulative = [
            ct
            for (filename, _line, function), (_cc, _nc, _tt, ct, _callers) in stats.stats.items()
            if function == func and filename.endswith(path)
        ]
        out[name] = max(cumulative, default=0.0) / runs
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--out", help="also write the full pstats dump here")
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/portal_profile")
    parser.add_argument("--broker-url", default="redis://127.0.0.1:6379/4")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="portal-profile-") as tmp:
        tmp = Path(tmp)
        harness.bench_environment(database_url=args.database_url, broker_url=args.broker_url, tmp=tmp)
        harness.fresh_database(args.database_url)
        import django

        django.setup()
        import logging

        from django.core.management import call_command

        logging.getLogger("investigations.mimecast").setLevel(logging.WARNING)
        call_command("migrate", verbosity=0)
        from bench.scenarios import overhead

        ctx = harness.Context(database_url=args.database_url, broker_url=args.broker_url, tmp=tmp, tiny=False)
        try:
            _profile(ctx, overhead, args)
        finally:
            ctx.stop_all()


def _profile(ctx, overhead, args):
    from django.test import Client

    client, url, params, direct = overhead.prepared(ctx)
    for _ in range(5):  # warm-up: templates compiled, connections open
        client.get(url, params)
        direct()

    page, call = [], []
    profiler = cProfile.Profile()
    for _ in range(args.runs):
        started = time.perf_counter()
        profiler.enable()
        response = client.get(url, params)
        profiler.disable()
        page.append(time.perf_counter() - started)
        if response.status_code != 200:
            raise RuntimeError(f"the results page answered {response.status_code}")
        started = time.perf_counter()
        direct()
        call.append(time.perf_counter() - started)
    assert isinstance(client, Client)

    stats = pstats.Stats(profiler)
    page_ms = statistics.median(page) * 1000
    call_ms = statistics.median(call) * 1000
    print(f"page median {page_ms:.1f} ms (under the profiler), direct call median {call_ms:.1f} ms, {args.runs} runs")
    total = stats.total_tt / args.runs
    phases = _phase_seconds(stats, args.runs)
    print("\nper request, under cProfile:")
    accounted = 0.0
    for name, seconds in phases.items():
        accounted += seconds
        print(f"  {name:<20} {seconds * 1000:7.1f} ms  {seconds / total:6.1%}")
    rest = total - accounted
    print(f"  {'the rest':<20} {rest * 1000:7.1f} ms  {rest / total:6.1%}")
    print(f"  {'total':<20} {total * 1000:7.1f} ms")
    buffer = io.StringIO()
    pstats.Stats(profiler, stream=buffer).sort_stats("tottime").print_stats(args.top)
    print("\nfunctions by own time:\n" + buffer.getvalue().split("\n", 4)[-1])
    if args.out:
        stats.dump_stats(args.out)
        print(f"pstats written to {args.out}")


if __name__ == "__main__":
    main()
