"""Audit at scale: millions of events, then what an auditor and the writers feel.

5,000,000 events are seeded with `audit_seed`, spread over 90 days among ~25 users: the bench
connects as the postgres superuser, so the command switches the audit table's triggers off for its
transaction and COPYs every event already chained and dated (models.event_hash, the definition the
trigger and verify_audit share); the runtime role could not, and would get every event dated now.
Then, with Django's test client as an auditor: the list filtered by one actor and the last 7 days,
and by one target, each repeated with different actors and targets (p50, p95); a deep keyset page
(events older than the 1st percentile of seqs). `audit_verify()` over the whole chain, in events/s.
A CSV export of the newest 1,000,000 `message.viewed` events (filtered by action and start time) in
a fresh process, in rows/s with that process's peak RSS. Last, 50 writer processes each doing
small audited actions (one UPDATE and its audit event in one transaction) against the same actions
without the event: the extra p95 is what the chain lock and the insert cost under contention.
"""

import json
import resource
import sys
import time
from datetime import timedelta

from bench import harness

TITLE = "Audit at scale"


def _sizes(tiny):
    if tiny:
        return {"events": 3000, "page_runs": 3, "writers": 4, "actions_per_writer": 3, "rounds": 1, "rate": 40}
    return {"events": 5_000_000, "page_runs": 30, "writers": 50, "actions_per_writer": 40, "rounds": 2, "rate": 250}


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
        for _ in processes:
            kind, detail = results.get(timeout=120)
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


def _current_rss_kb():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))


def _export_probe(username, query):
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.test import Client

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
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    rows = lines - 2  # the header line and the column names
    print(
        json.dumps(
            {"rows": rows, "bytes": size, "seconds": elapsed, "peak_rss_kb": peak, "rss_before_export_kb": before}
        )
    )


def _seed(n_events):
    """Seed the events (chained and dated by audit_seed) and analyse the table. Returns seconds and head."""
    from django.core.management import call_command
    from django.db import connection

    from investigations.models import AuditEvent

    started = time.perf_counter()
    call_command("audit_seed", str(n_events), "--seed", "7", "--days", "90", stdout=open("/dev/null", "w"))  # noqa: SIM115
    seed_seconds = time.perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE investigations_auditevent")
    return seed_seconds, AuditEvent.objects.order_by("-seq").values_list("seq", flat=True).first()


def _page_urls(runs, head):
    """The list filtered by actor and the last 7 days, by one target, and a deep keyset page."""
    from django.utils import timezone
    from django.utils.http import urlencode

    from investigations.models import AuditEvent

    since = (timezone.now() - timedelta(days=7)).strftime("%Y-%m-%d %H:%M")
    # Actors and targets drawn from the newest events, so every page has events to show.
    recent = list(
        AuditEvent.objects.order_by("-seq").values_list(
            "actor_type", "actor_label", "target_type", "target_id", "created_at"
        )[:5000]
    )
    week_ago = timezone.now() - timedelta(days=7)
    actors = sorted({label for kind, label, _, _, at in recent if kind == "user" and at >= week_ago})
    targets = sorted({tid for _, _, ttype, tid, _ in recent if ttype == "remediationrequest"})
    actor_urls = ["/audit/?" + urlencode({"actor": actors[i % len(actors)], "since": since}) for i in range(runs)]
    target_urls = [
        "/audit/?" + urlencode({"target_type": "remediationrequest", "target_id": targets[(i * 7) % len(targets)]})
        for i in range(runs)
    ]
    deep = max(2, head // 100)
    return actor_urls, target_urls, [f"/audit/?before={deep + i}" for i in range(runs)]


def _timed_verify():
    from investigations.audit.chain import audit_verify

    started = time.perf_counter()
    verified = audit_verify()
    verify_seconds = time.perf_counter() - started
    if not verified.ok:
        raise RuntimeError(f"the seeded chain does not verify: {verified.problem}")
    return verified.checked, verify_seconds


def _export(ctx, auditor, wanted):
    """The newest `wanted` message.viewed events: the action and a start time, as an auditor would."""
    from django.db import connection
    from django.utils.http import urlencode

    export_filter = {"action": "message.viewed"}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT created_at FROM investigations_auditevent WHERE action = 'message.viewed'"
            " ORDER BY seq DESC OFFSET %s LIMIT 1",
            [wanted - 1],
        )
        row = cursor.fetchone()
    if row:
        export_filter["since"] = row[0].isoformat()
    return export_filter, _export_in_fresh_process(ctx, auditor.username, urlencode(export_filter))


def _timed_writers(size, user_ids):
    from django.db import connection

    with connection.cursor() as cursor:
        # Seeding wrote gigabytes of WAL: start the writers after the checkpoint it calls for, not
        # during it, or the figure measures the bulk load's aftermath rather than an action.
        cursor.execute("CHECKPOINT")
    timed = _writers(size["writers"], size["actions_per_writer"], size["rounds"], user_ids, size["rate"])
    return harness.summary_ms(timed[False]), harness.summary_ms(timed[True])


def _figures(head, size, seed_seconds, pages, verified, export, writers):
    actor_page, target_page, deep_page = (harness.summary_ms(t) for t in pages)
    checked, verify_seconds = verified
    plain_ms, audited_ms = writers
    return {
        "events": head,
        "seed_events_per_s": round(size["events"] / seed_seconds),
        "actor_7d_page_p50_ms": actor_page["median_ms"],
        "actor_7d_page_p95_ms": actor_page["p95_ms"],
        "target_page_p50_ms": target_page["median_ms"],
        "target_page_p95_ms": target_page["p95_ms"],
        "deep_keyset_page_p50_ms": deep_page["median_ms"],
        "deep_keyset_page_p95_ms": deep_page["p95_ms"],
        "verify_events_per_s": round(checked / verify_seconds),
        "export_rows": export["rows"],
        "export_rows_per_s": round(export["rows"] / export["seconds"]),
        "export_peak_rss_mb": round(export["peak_rss_kb"] / 1024, 1),
        "action_p95_ms_plain": plain_ms["p95_ms"],
        "action_p95_ms_audited": audited_ms["p95_ms"],
        "audited_action_p95_overhead_ms": round(audited_ms["p95_ms"] - plain_ms["p95_ms"], 2),
        "audited_action_median_overhead_ms": round(audited_ms["median_ms"] - plain_ms["median_ms"], 2),
    }


def run(ctx):
    from django.test import Client

    size = _sizes(ctx.tiny)
    analysts = [harness.portal_user(f"bench-audit-analyst-{i}", ["analyst"]) for i in range(20)]
    auditor = harness.portal_user("bench-auditor", ["auditor"])
    seed_seconds, head = _seed(size["events"])

    client = Client()
    client.force_login(auditor)
    urls = _page_urls(size["page_runs"], head)
    _timed_pages(client, [group[0] for group in urls])  # warm up templates and plans
    pages = [_timed_pages(client, group) for group in urls]
    verified = _timed_verify()
    export_filter, export = _export(ctx, auditor, 500 if ctx.tiny else 1_000_000)
    writers = _timed_writers(size, [u.pk for u in analysts])

    figures = _figures(head, size, seed_seconds, pages, verified, export, writers)
    info = {
        "sizes": size,
        "seed_seconds": round(seed_seconds, 1),
        "verify_seconds": round(verified[1], 2),
        "export": export,
        "export_filter": export_filter,
        "export_rss_growth_mb": round((export["peak_rss_kb"] - export["rss_before_export_kb"]) / 1024, 1),
        "pages_measured_with": "Django test client in the runner process (server time, no network)",
        "writers": {"plain": writers[0], "audited": writers[1]},
    }
    goals = {
        "actor_7d_page_p95_ms": harness.goal(figures["actor_7d_page_p95_ms"], "<=", 50),
        "target_page_p95_ms": harness.goal(figures["target_page_p95_ms"], "<=", 50),
        "deep_keyset_page_p95_ms": harness.goal(figures["deep_keyset_page_p95_ms"], "<=", 50),
        "verify_events_per_s": harness.goal(figures["verify_events_per_s"], ">=", 200_000),
        "export_peak_rss_mb": harness.goal(figures["export_peak_rss_mb"], "<=", 150),
        "audited_action_p95_overhead_ms": harness.goal(figures["audited_action_p95_overhead_ms"], "<=", 5),
    }
    return {"figures": figures, "goals": goals, "info": info}


if __name__ == "__main__" and len(sys.argv) == 4 and sys.argv[1] == "export":
    _export_probe(sys.argv[2], sys.argv[3])
