"""`make profile`: where the 100-row track & trace page spends the portal's own time.

    .venv/bin/python -m bench.profile [--runs 50] [--top 30] [--out FILE]

Sets up the bench database and a loopback simulator exactly as the overhead scenario does, makes
the same page request `--runs` times under cProfile (after a warm-up), and prints:

- the median wall time of the page and of the direct client call, and their difference, first
  without the profiler (the figure the overhead scenario measures), then under it;
- the database queries one page makes;
- the page's time split by phase (the Mimecast call, template rendering, the rows built in Python,
  the database, the rest), from the profiler's cumulative times per request, and inside those, the
  audit event and the session and user (load and save);
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
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import harness  # noqa: E402

# Phases, by the function whose cumulative time they are: the first match in this order wins, so
# the Mimecast call inside a view is counted once, under "mimecast call".
# The phases do not overlap: the rows are built in the view, outside the template engine, and
# neither they nor the templates query the database.
PHASES = (
    ("mimecast call", (("investigations/mimecast/transport.py", "_request"),)),
    ("template rendering", (("django/template/base.py", "render"),)),
    ("rows built in Python", (("investigations/workspace/rows.py", "track_trace_rows"),)),
    ("database", (("django/db/backends/utils.py", "_execute_with_wrappers"),)),
)
# Parts of the phases above (their database time is in "database" too), shown for where they stand.
WITHIN = (
    ("audit event", (("investigations/audit/services.py", "audit_record"),)),
    (
        "session load and save",
        (
            ("django/contrib/sessions/backends/base.py", "_get_session"),
            ("django/contrib/sessions/middleware.py", "process_response"),
        ),
    ),
    (
        "user and roles",
        (("django/contrib/auth/__init__.py", "get_user"), ("investigations/core/roles.py", "user_roles")),
    ),
)


def _cumulative(stats, path, func):
    """The cumulative time of the outermost function so named in that file (of several, the one with
    the largest cumulative time; pstats already counts a recursive function's time once)."""
    return max(
        (
            ct
            for (filename, _line, function), (_cc, _nc, _tt, ct, _callers) in stats.stats.items()
            if function == func and filename.endswith(path)
        ),
        default=0.0,
    )


def _phase_seconds(stats, runs, phases=PHASES):
    """Seconds per request in each phase: the sum over the phase's functions of their cumulative time."""
    return {name: sum(_cumulative(stats, path, func) for path, func in parts) / runs for name, parts in phases}


def _unprofiled(overhead, client, url, params, direct, runs):
    """Page and direct call in turn without the profiler, as the overhead scenario measures them."""
    page, call, _ = overhead.interleaved(client, url, params, direct, runs)
    for name, pick in (("median", statistics.median), ("fastest", min)):
        page_ms, call_ms = pick(page) * 1000, pick(call) * 1000
        print(
            f"without the profiler, {name}: page {page_ms:.1f} ms, direct call {call_ms:.1f} ms, "
            f"overhead {page_ms - call_ms:.1f} ms ({runs} runs)"
        )
    print("(on a busy machine the fastest run says more than the median)")


def _queries(client, url, params):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        client.get(url, params)
    print(f"database queries per page: {len(queries)}")
    for query in queries.captured_queries:
        print(f"  {query['sql'][:150]}")


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
    _unprofiled(overhead, client, url, params, direct, args.runs)
    _queries(client, url, params)

    profiler = cProfile.Profile()
    page, call, _ = overhead.interleaved(client, url, params, direct, args.runs, profiler=profiler)
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
    print("within those:")
    for name, seconds in _phase_seconds(stats, args.runs, WITHIN).items():
        print(f"  {name:<20} {seconds * 1000:7.1f} ms  {seconds / total:6.1%}")
    buffer = io.StringIO()
    pstats.Stats(profiler, stream=buffer).sort_stats("tottime").print_stats(args.top)
    print("\nfunctions by own time:\n" + buffer.getvalue().split("\n", 4)[-1])
    if args.out:
        stats.dump_stats(args.out)
        print(f"pstats written to {args.out}")


if __name__ == "__main__":
    main()
