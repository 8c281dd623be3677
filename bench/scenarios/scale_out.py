"""Scenario: remediation throughput with 1, 2 and 4 Celery worker processes, and where the cores bind.

For each worker count, 120 remediation requests (3 with --tiny) are drafted, previewed, submitted and
approved first, with no worker taking them, so their tasks wait in the broker; then that many
Celery worker processes (one process each, prefork concurrency 1: what adding a machine adds), once
started and idle, are told to take them, and carry them out against an ample budget (the
simulator's default: a million calls a minute) whose incidents settle at once (so a request is a
create and one read, and the rate budget plays no part).

Figures per worker count n:
- requests_per_s_nw: requests carried out from the first Mimecast call to the last request final,
  divided by that time; speedup_4w is the 4-process rate over the 1-process rate.
- cpu shares over that window, of all the machine's cores: the worker processes (their process
  groups), PostgreSQL (the backends of the bench database, seen in pg_stat_activity), the bench
  process (the in-process simulator and this harness), Redis (the server's process, shared with
  anything else using it), and the whole machine (/proc/stat), which says whether the cores were
  full. These are CPU seconds from /proc, so they hold on a busy machine; the rates do not.

Every request must end succeeded with its incident recorded, or the scenario is incomplete.
"""

import contextlib
import os
import signal
import subprocess
import time

from bench import harness
from bench.scenarios.remediation import (
    messages,
    pending_requests,
    require_complete,
    simulator_and_people,
    start_workers,
)

TITLE = "Scale-out: remediation throughput with 1, 2 and 4 Celery worker processes (ample budget)"

STEPS = (1, 2, 4)
TICK = os.sysconf("SC_CLK_TCK")


def _proc_cpu(pid):
    """CPU seconds (user + system) of one process, or None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / TICK


def _group_cpu(pgids):
    """CPU seconds of every live process in these process groups (a worker and its children)."""
    total = 0.0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) in pgids:
            total += (int(fields[11]) + int(fields[12])) / TICK
    return total


def _named_cpu(name):
    total = 0.0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/comm") as handle:
                    if handle.read().strip() != name:
                        continue
            except OSError:
                continue
            total += _proc_cpu(entry) or 0.0
    return total


def _machine_busy():
    """(busy, total) jiffies of the whole machine since boot."""
    with open("/proc/stat") as handle:
        values = [int(v) for v in handle.readline().split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


class PostgresCpu:
    """CPU seconds of the bench database's backends: sampled while the run goes, since a backend
    that ends takes its figures with it."""

    def __init__(self):
        self.first, self.last = {}, {}
        self.sampled = False

    def sample(self):
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
            pids = [row[0] for row in cursor.fetchall()]
        for pid in pids:
            cpu = _proc_cpu(pid)
            if cpu is not None:
                # A backend already there at the start counts from then; a later one from its birth.
                self.first.setdefault(pid, 0.0 if self.sampled else cpu)
                self.last[pid] = cpu
        self.sampled = True

    def seconds(self):
        return sum(self.last[pid] - self.first[pid] for pid in self.last)


def _stop(ctx, procs):
    """Stop this step's workers (their process groups) before the next step starts its own."""
    for proc in procs:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
    for proc in procs:
        with contextlib.suppress(subprocess.TimeoutExpired):  # one that ignores SIGTERM is killed below
            proc.wait(timeout=15)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        proc.bench_log.close()
        ctx.processes.remove(proc)


def _step(ctx, server, analyst, approver, picked, workers):
    from django.utils import timezone

    from investigations.models import RemediationRequest
    from investigations.remediation import services
    from mimecast_portal.celery import app

    pending = pending_requests(server, analyst, picked)
    for req in pending:  # tasks wait in the broker until the workers start
        services.remediation_request_approve(
            actor=approver, request_id=req.pk, reason="Bench approval", authenticated_at=timezone.now()
        )
    server.calls.clear()
    # The workers start on a queue nobody sends to, so their start-up is not counted; then they
    # are told to take the waiting tasks.
    name = f"bench-scale-{workers}"
    procs = start_workers(ctx, server, workers=workers, concurrency=1, name=name, queue=f"{name}-idle")
    pgids = {proc.pid for proc in procs}
    postgres = PostgresCpu()
    postgres.sample()
    workers_before, bench_before = _group_cpu(pgids), _proc_cpu(os.getpid())
    redis_before, machine_before = _named_cpu("redis-server"), _machine_busy()
    nodes = [node for reply in app.control.ping(timeout=1.0) or [] for node in reply if node.startswith(f"{name}-")]
    app.control.add_consumer(app.conf.task_default_queue, destination=nodes, reply=True)
    ids = [req.pk for req in pending]
    deadline = time.monotonic() + (60 if ctx.tiny else 600)
    open_ones = RemediationRequest.objects.filter(pk__in=ids).exclude(state__in=RemediationRequest.FINAL_STATES)
    while open_ones.exists() and time.monotonic() < deadline:
        postgres.sample()
        time.sleep(0.25)
    postgres.sample()
    workers_cpu = _group_cpu(pgids) - workers_before
    bench_cpu, redis_cpu = _proc_cpu(os.getpid()) - bench_before, _named_cpu("redis-server") - redis_before
    busy, total = (a - b for a, b in zip(_machine_busy(), machine_before, strict=True))
    _stop(ctx, procs)

    requests = {r.pk: r for r in RemediationRequest.objects.filter(pk__in=ids)}
    require_complete(requests)
    harness.require(
        all(r.state == RemediationRequest.State.SUCCEEDED for r in requests.values()),
        f"with {workers} worker(s) not every request succeeded",
    )
    calls = list(server.calls)
    started = min(c.time for c in calls)
    window = max(r.finished_at.timestamp() for r in requests.values()) - started
    core_seconds = window * (os.cpu_count() or 1)
    return {
        "requests_per_s": round(len(ids) / window, 2),
        "window_s": round(window, 2),
        "calls": len(calls),
        "cpu_s": {
            "workers": round(workers_cpu, 2),
            "postgres": round(postgres.seconds(), 2),
            "bench_and_simulator": round(bench_cpu, 2),
            "redis_shared": round(redis_cpu, 2),
        },
        "share_of_cores": {
            "workers": round(workers_cpu / core_seconds, 3),
            "postgres": round(postgres.seconds() / core_seconds, 3),
            "bench_and_simulator": round(bench_cpu / core_seconds, 3),
            "machine": round(busy / total, 3) if total else None,
        },
        "worker_cpu_ms_per_request": round(workers_cpu * 1000 / len(ids), 1),
        "postgres_cpu_ms_per_request": round(postgres.seconds() * 1000 / len(ids), 1),
    }


def run(ctx):
    count = 3 if ctx.tiny else 120
    server, analyst, approver = simulator_and_people(ctx, "bench-scale")
    server.configure(incident_settle_ms=0)
    picked = messages(server, count * len(STEPS))
    steps = {}
    for n, workers in enumerate(STEPS):
        steps[workers] = _step(ctx, server, analyst, approver, picked[n * count : (n + 1) * count], workers)
    figures = {f"requests_per_s_{w}w": steps[w]["requests_per_s"] for w in STEPS}
    figures["speedup_4w"] = round(steps[4]["requests_per_s"] / steps[1]["requests_per_s"], 2)
    for w in STEPS:
        figures[f"machine_busy_share_{w}w"] = steps[w]["share_of_cores"]["machine"]
        figures[f"worker_cpu_ms_per_request_{w}w"] = steps[w]["worker_cpu_ms_per_request"]
        figures[f"postgres_cpu_ms_per_request_{w}w"] = steps[w]["postgres_cpu_ms_per_request"]
    return {
        "figures": figures,
        "goals": {},
        "info": {
            "requests_per_step": count,
            "cpus": os.cpu_count(),
            "budget": "ample (1,000,000 calls a minute); incidents settle at once",
            "steps": {f"{w}w": steps[w] for w in STEPS},
        },
    }
