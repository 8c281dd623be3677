"""Audit at scale: the same pages at 100,000 and at 10,000,000 events, then what an auditor and
the writers feel. Every goal is a ratio of two figures taken side by side in this run, so it holds
on a slower machine too.

The events are seeded with `audit_seed`, spread over 90 days among ~25 users: the bench connects as
the postgres superuser, so the command switches the audit table's triggers off for its transaction
and COPYs every event already chained and dated (models.event_hash, the definition the trigger and
verify_audit share); the runtime role could not, and would get every event dated now. First
SMALL_EVENTS, over the 90 days before the last 90 (so the rest can still be spread over the last
90), and the pages are measured; then up to BIG_EVENTS, and the same pages again. The small stage
runs in a transaction rolled back at its end: the events its page views record are dated now, and
would leave no room before now for the rest. Its pages therefore skip a commit each, which only
makes the ratio harder to meet.

The pages, with Django's test client as an auditor: the list filtered by one actor and the last 7
days of the trail, and by one target, each repeated with different actors and targets (p50, p95);
a deep keyset page (events older than the 1st percentile of seqs). Goal: each page's p95 at the big
size <= 1.5 times the small size's (the index, not the table, sets the cost).

`audit_verify()` over the whole chain, in events/s, against a bare pass over the same rows in the
same run: one SQL aggregate that reads every event and recomputes its hash with the chain's own
function, checking nothing else (twice, the faster counts). Goal: verify >= 0.5 times the bare pass.

A CSV export of the newest 1,000,000 `message.viewed` events (filtered by action and start time) in
a fresh process, in rows/s with that process's peak RSS and its RSS before the export. Goal: peak
<= 150 MB.

Last, 50 writer processes each doing small audited actions (one UPDATE and its audit event in one
transaction) against the same actions without the event: the extra p95 is what the chain lock and
the insert cost under contention. Goal: audited p95 <= 1.5 times plain p95.

Every part checks that it did all of its work (each page showed events, verify and the bare pass
covered every event, the export wrote exactly the rows its filter selects) and fails otherwise.
"""

import json
import os
import sys
import time
from datetime import timedelta

from bench import harness

TITLE = "Audit at scale"


# The two sizes the pages are compared at. Seeding runs at about 30,000 events/s on the reference
# machine (10,000,000 in about 6 minutes); BENCH_AUDIT_EVENTS sets a smaller big size for a quick look.
SMALL_EVENTS = 100_000
BIG_EVENTS = int(os.environ.get("BENCH_AUDIT_EVENTS", "10000000"))
SPAN_DAYS = 90


def _sizes(tiny):
    if tiny:
        return {
            "small_events": 1000,
            "events": 3000,
            "page_runs": 3,
            "writers": 4,
            "actions_per_writer": 3,
            "rounds": 1,
            "rate": 40,
        }
    return {
        "small_events": SMALL_EVENTS,
        "events": max(BIG_EVENTS, SMALL_EVENTS + 1),
        "page_runs": 30,
        "writers": 50,
        "actions_per_writer": 40,
        "rounds": 2,
        "rate": 250,
    }


def _timed_pages(client, urls):
    times = []
    for url in urls:
        started = time.perf_counter()
        response = client.get(url)
        times.append(time.perf_counter() - started)
        if response.status_code != 200 or b'title="Event detail"' not in response.content:
            raise RuntimeError(f"{url} answered {response.status_code} without events")
    return times


def _writer(user_id, phases, per_writer, interval, offset, go, start_at, results):
    """One writer process. Once `go` is set, for each phase (False: the action alone, True: the
    action and its audit event), per_writer actions one every `interval` seconds (open loop: a
    slow action does not delay the next one), each in its own transaction and timed."""
    import django

    django.setup()  # a spawned process starts from nothing
    from django.db import connection, transaction
    from django.utils import timezone

    from investigations.audit.services import audit_record
    from investigations.models import User

    durations = {audited: [] for audited in set(phases)}
    try:
        User.objects.filter(pk=user_id).exists()  # connect before the start line
        results.put(("ready", None))
        go.wait()
        phase_length = per_writer * interval + 1.0
        for number, audited in enumerate(phases):
            begin = start_at.value + number * phase_length + offset
            for k in range(per_writer):
                time.sleep(max(0.0, begin + k * interval - time.time()))
                started = time.perf_counter()
                with transaction.atomic():
                    User.objects.filter(pk=user_id).update(last_login=timezone.now())
                    if audited:
                        audit_record(actor="bench", action="bench.action", target=("user", user_id), data={"k": k})
                durations[audited].append(time.perf_counter() - started)
        results.put(("ok", durations))
    except Exception as error:  # reported by the parent, not swallowed
        results.put(("error", repr(error)))
    finally:
        connection.close()


def _writers(n_writers, per_writer, rounds, user_ids, rate):
    """n_writers processes (as gunicorn and Celery workers are: one process, one connection each,
    no shared GIL), together doing `rate` actions a second, evenly spread, in alternating phases
    without and with the audit event. Returns ({False: durations, True: durations}) in seconds.

    Open loop on purpose: 50 processes acting back to back would saturate 2 cores, and every
    action would then wait for the CPU far longer than for anything the audit adds. Spawned, not
    forked: a forked child would inherit (and, in kombu's after-fork hook, block on) the runner's
    Redis connections."""
    import multiprocessing
    import queue

    context = multiprocessing.get_context("spawn")
    results, go, start_at = context.Queue(), context.Event(), context.Value("d", 0.0)
    phases = [False, True] * rounds
    interval = n_writers / rate  # each writer's period; writers are phased evenly across it
    processes = [
        context.Process(
            target=_writer,
            args=(
                user_ids[i % len(user_ids)],
                phases,
                per_writer,
                interval,
                i * interval / n_writers,
                go,
                start_at,
                results,
            ),
            daemon=True,
        )
        for i in range(n_writers)
    ]
    timeout = 120 + len(phases) * (per_writer * interval + 1.0)
    try:
        for process in processes:
            process.start()
        # Every writer sets Django up at once, on the same cores: the slowest is ready only once
        # nearly all of them are, so the wait grows with their number.
        ready_by = time.monotonic() + 120 + 5 * n_writers
        for _ in processes:
            kind, detail = results.get(timeout=max(1.0, ready_by - time.monotonic()))
            if kind == "error":
                raise RuntimeError(f"a writer failed before starting: {detail}")
        start_at.value = time.time() + 0.5
        go.set()
        outcomes = [results.get(timeout=timeout) for _ in processes]
    except queue.Empty:
        raise RuntimeError("the writer processes did not report back in time") from None
    finally:
        for process in processes:
            process.join(timeout=10)
            if process.is_alive():
                process.kill()
    errors = [detail for kind, detail in outcomes if kind == "error"]
    if errors:
        raise RuntimeError(f"{len(errors)} writer(s) failed: {errors[0]}")
    return {audited: [d for _, durations in outcomes for d in durations[audited]] for audited in (False, True)}


def _export_in_fresh_process(ctx, username, query):
    """The export runs in a process of its own, so its peak RSS is the export's, not ours."""
    import subprocess

    argv = [harness.PY, "-m", "bench.scenarios.audit_scale", "export", username, query]
    done = subprocess.run(argv, cwd=harness.ROOT, env=ctx.env(), capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode != 0:
        raise RuntimeError(f"export probe failed: {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _status_kb(field):
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith(f"{field}:"))


def _current_rss_kb():
    return _status_kb("VmRSS")


def _peak_rss_kb():
    # VmHWM, the peak of this process's own memory since its exec. Not getrusage's ru_maxrss: Linux
    # carries that across exec from the process that spawned us, so it would report the bench
    # runner's size (tens of MB above the export's after seeding) whenever the runner is larger.
    return _status_kb("VmHWM")


def _export_probe(username, query):
    """The export as a web worker serves it. What the process holds before it (Django set up, the
    URLconf and so every view imported, as in any worker that has served a request) is reported
    apart from what the export adds."""
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.test import Client
    from django.urls import get_resolver

    at_setup = _current_rss_kb()
    get_resolver().url_patterns  # noqa: B018 (imports every view, as the first request would)
    client = Client()
    client.force_login(get_user_model().objects.get(username=username))
    before = _current_rss_kb()
    started = time.perf_counter()
    response = client.get(f"/audit/export.csv?{query}")
    if response.status_code != 200:
        raise RuntimeError(f"export answered {response.status_code}")
    lines = 0
    size = 0
    for chunk in response.streaming_content:
        lines += chunk.count(b"\r\n")
        size += len(chunk)
    elapsed = time.perf_counter() - started
    peak = _peak_rss_kb()
    rows = lines - 2  # the header line and the column names
    print(
        json.dumps(
            {
                "rows": rows,
                "bytes": size,
                "seconds": elapsed,
                "peak_rss_kb": peak,
                "rss_at_setup_kb": at_setup,
                "rss_before_export_kb": before,
            }
        )
    )


def _seed(n_events, ending_days_ago=0):
    """Seed the events (chained and dated by audit_seed) and analyse the table. Returns seconds and head."""
    from django.core.management import call_command
    from django.db import connection

    from investigations.models import AuditEvent

    started = time.perf_counter()
    call_command(
        "audit_seed",
        str(n_events),
        "--seed",
        str(7 + ending_days_ago),
        "--days",
        str(SPAN_DAYS),
        "--ending-days-ago",
        str(ending_days_ago),
        stdout=open("/dev/null", "w"),  # noqa: SIM115
    )
    seed_seconds = time.perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE investigations_auditevent")
    return seed_seconds, AuditEvent.objects.order_by("-seq").values_list("seq", flat=True).first()


def _page_filters(runs):
    """The actors and targets the filtered pages ask for, drawn from the newest events so that
    every page has events to show; the same ones at both sizes."""
    from investigations.models import AuditEvent

    recent = list(
        AuditEvent.objects.order_by("-seq").values_list("actor_type", "actor_label", "target_type", "target_id")[:5000]
    )
    actors = sorted({label for kind, label, _, _ in recent if kind == "user"})
    targets = sorted({tid for _, _, ttype, tid in recent if ttype == "remediationrequest"})
    return [actors[i % len(actors)] for i in range(runs)], [targets[(i * 7) % len(targets)] for i in range(runs)]


def _page_urls(filters, head):
    """The list filtered by actor and the last 7 days of the trail, by one target, and a deep keyset page."""
    from django.utils import timezone
    from django.utils.http import urlencode

    from investigations.models import AuditEvent

    actors, targets = filters
    newest = AuditEvent.objects.order_by("-seq").values_list("created_at", flat=True).first()
    since = timezone.localtime(newest - timedelta(days=7)).strftime("%Y-%m-%d %H:%M")
    actor_urls = ["/audit/?" + urlencode({"actor": actor, "since": since}) for actor in actors]
    target_urls = [
        "/audit/?" + urlencode({"target_type": "remediationrequest", "target_id": target}) for target in targets
    ]
    deep = max(2, head // 100)
    return actor_urls, target_urls, [f"/audit/?before={deep + i}" for i in range(len(actors))]


def _measure_pages(auditor, urls):
    from django.test import Client

    client = Client()
    client.force_login(auditor)
    _timed_pages(client, [group[0] for group in urls])  # warm up templates and plans
    return [_timed_pages(client, group) for group in urls]


def _small_stage(auditor, size):
    """Seed the small trail and measure its pages, in a transaction rolled back at the end: the
    seeded events are kept (their own transaction committed), the ones the page views record are not."""
    from django.db import transaction

    seed_seconds, head = _seed(size["small_events"], ending_days_ago=SPAN_DAYS)
    with transaction.atomic():
        filters = _page_filters(size["page_runs"])
        pages = _measure_pages(auditor, _page_urls(filters, head))
        transaction.set_rollback(True)
    return seed_seconds, head, filters, pages


def _bare_pass(head):
    """Every event up to head read and its hash recomputed with the chain's own function, in one
    aggregate: the least a verification must do. Returns (events hashed, seconds); raises when an
    event does not match."""
    from django.db import connection

    from investigations.models import CHAIN_FIELDS, AuditEvent

    table = AuditEvent._meta.db_table
    started = time.perf_counter()
    computed = f"investigations_audit_hash({', '.join(CHAIN_FIELDS)})"
    sql = f"SELECT count(*), count(*) FILTER (WHERE hash = {computed}) FROM {table} WHERE seq <= %s"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, [head])
        read, matching = cursor.fetchone()
    seconds = time.perf_counter() - started
    if read != matching:
        raise RuntimeError(f"bare pass: {read - matching} of {read} events do not match their hash")
    return read, seconds


def _timed_verify():
    from investigations.audit.chain import audit_verify
    from investigations.models import AuditEvent

    head = AuditEvent.objects.order_by("-seq").values_list("seq", flat=True).first()
    events = AuditEvent.objects.filter(seq__lte=head).count()
    bare = [_bare_pass(head)]
    started = time.perf_counter()
    verified = audit_verify()
    verify_seconds = time.perf_counter() - started
    bare.append(_bare_pass(head))
    if not verified.ok:
        raise RuntimeError(f"the seeded chain does not verify: {verified.problem}")
    if verified.checked < events or verified.head_seq < head:
        raise RuntimeError(f"verify checked {verified.checked} events up to seq {verified.head_seq}, not all {events}")
    if any(read != events for read, _ in bare):
        raise RuntimeError(f"the bare pass read {[read for read, _ in bare]} events, not {events}")
    bare_seconds = min(seconds for _, seconds in bare)
    return verified.checked, verify_seconds, events, bare_seconds


def _export(ctx, auditor, wanted):
    """The newest `wanted` message.viewed events: the action and a start time, as an auditor would."""
    from django.db import connection
    from django.utils.http import urlencode

    from investigations.models import AuditEvent

    export_filter = {"action": "message.viewed"}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT created_at FROM investigations_auditevent WHERE action = 'message.viewed'"
            " ORDER BY seq DESC OFFSET %s LIMIT 1",
            [wanted - 1],
        )
        row = cursor.fetchone()
    expected = AuditEvent.objects.filter(action="message.viewed")
    if row:
        export_filter["since"] = row[0].isoformat()
        expected = expected.filter(created_at__gte=row[0])
    expected_rows = expected.count()
    export = _export_in_fresh_process(ctx, auditor.username, urlencode(export_filter))
    if export["rows"] != expected_rows:
        raise RuntimeError(f"the export wrote {export['rows']} rows, not the {expected_rows} its filter selects")
    return export_filter, export


def _timed_writers(size, user_ids):
    from django.db import connection

    with connection.cursor() as cursor:
        # Seeding wrote gigabytes of WAL: start the writers after the checkpoint it calls for, not
        # during it, or the figure measures the bulk load's aftermath rather than an action.
        cursor.execute("CHECKPOINT")
    timed = _writers(size["writers"], size["actions_per_writer"], size["rounds"], user_ids, size["rate"])
    return harness.summary_ms(timed[False]), harness.summary_ms(timed[True])


def _ratio(numerator, denominator):
    return round(numerator / denominator, 2) if denominator else float("inf")


def _figures(head, size, seeded, pages, verified, export, writers):
    small_pages, big_pages = ([harness.summary_ms(t) for t in stage] for stage in pages)
    actor_page, target_page, deep_page = big_pages
    checked, verify_seconds, bare_events, bare_seconds = verified
    plain_ms, audited_ms = writers
    figures = {
        "events": head,
        "small_events": seeded["small_head"],
        "seed_events_per_s": round(size["events"] / seeded["seconds"]),
        "actor_7d_page_p50_ms": actor_page["median_ms"],
        "actor_7d_page_p95_ms": actor_page["p95_ms"],
        "target_page_p50_ms": target_page["median_ms"],
        "target_page_p95_ms": target_page["p95_ms"],
        "deep_keyset_page_p50_ms": deep_page["median_ms"],
        "deep_keyset_page_p95_ms": deep_page["p95_ms"],
    }
    for name, small, big in zip(("actor_7d", "target", "deep_keyset"), small_pages, big_pages, strict=True):
        figures[f"{name}_page_p95_ms_small"] = small["p95_ms"]
        figures[f"{name}_page_p95_big_over_small"] = _ratio(big["p95_ms"], small["p95_ms"])
    verify_rate = checked / verify_seconds
    bare_rate = bare_events / bare_seconds
    figures.update(
        {
            "verify_events_per_s": round(verify_rate),
            "bare_hash_pass_events_per_s": round(bare_rate),
            "verify_over_bare_pass": round(verify_rate / bare_rate, 2),
            "export_rows": export["rows"],
            "export_rows_per_s": round(export["rows"] / export["seconds"]),
            "export_peak_rss_mb": round(export["peak_rss_kb"] / 1024, 1),
            "export_rss_at_setup_mb": round(export["rss_at_setup_kb"] / 1024, 1),
            "export_rss_before_mb": round(export["rss_before_export_kb"] / 1024, 1),
            "action_p95_ms_plain": plain_ms["p95_ms"],
            "action_p95_ms_audited": audited_ms["p95_ms"],
            "audited_over_plain_action_p95": _ratio(audited_ms["p95_ms"], plain_ms["p95_ms"]),
            "audited_action_p95_overhead_ms": round(audited_ms["p95_ms"] - plain_ms["p95_ms"], 2),
            "audited_action_median_overhead_ms": round(audited_ms["median_ms"] - plain_ms["median_ms"], 2),
        }
    )
    return figures


def _goals(figures):
    goals = {
        f"{name}_page_p95_big_over_small": harness.goal(figures[f"{name}_page_p95_big_over_small"], "<=", 1.5)
        for name in ("actor_7d", "target", "deep_keyset")
    }
    goals["verify_over_bare_pass"] = harness.goal(figures["verify_over_bare_pass"], ">=", 0.5)
    goals["export_peak_rss_mb"] = harness.goal(figures["export_peak_rss_mb"], "<=", 150)
    goals["audited_over_plain_action_p95"] = harness.goal(figures["audited_over_plain_action_p95"], "<=", 1.5)
    return goals


def run(ctx):
    size = _sizes(ctx.tiny)
    analysts = [harness.portal_user(f"bench-audit-analyst-{i}", ["analyst"]) for i in range(20)]
    auditor = harness.portal_user("bench-auditor", ["auditor"])
    small_seconds, small_head, filters, small_pages = _small_stage(auditor, size)
    big_seconds, head = _seed(size["events"] - small_head)
    big_pages = _measure_pages(auditor, _page_urls(filters, head))
    verified = _timed_verify()
    export_filter, export = _export(ctx, auditor, 500 if ctx.tiny else 1_000_000)
    writers = _timed_writers(size, [u.pk for u in analysts])

    seeded = {"seconds": small_seconds + big_seconds, "small_head": small_head}
    figures = _figures(head, size, seeded, (small_pages, big_pages), verified, export, writers)
    info = {
        "sizes": size,
        "seed_seconds": round(small_seconds + big_seconds, 1),
        "verify_seconds": round(verified[1], 2),
        "bare_pass_seconds": round(verified[3], 2),
        "pages_small": [harness.summary_ms(t) for t in small_pages],
        "export": export,
        "export_filter": export_filter,
        "export_rss_growth_mb": round((export["peak_rss_kb"] - export["rss_before_export_kb"]) / 1024, 1),
        "pages_measured_with": "Django test client in the runner process (server time, no network)",
        "writers": {"plain": writers[0], "audited": writers[1]},
    }
    return {"figures": figures, "goals": _goals(figures), "info": info}


if __name__ == "__main__" and len(sys.argv) == 4 and sys.argv[1] == "export":
    _export_probe(sys.argv[2], sys.argv[3])
