"""Throughput: the production server under 16 concurrent clients, results page against a fair baseline.

gunicorn (sync workers, WEB_WORKERS of them: the count the README recommends for 2 cores) serves
the 100-row track & trace results page of the overhead scenario to 16 concurrent clients, each an
analyst with their own session (created in the database, sent as the cookie). The baseline is an
authenticated page with the same middleware, session and one audit event, but no Mimecast call and
no table: an audit event's own page (`/audit/event/<seq>/`, one row read and the read audited),
served the same way to 16 auditors with their own sessions. The goal is the ratio of the two. The
anonymous sign-in page (no session, no audit) is measured too, as the trivial view earlier runs
compared against. The simulator (no latency) runs in its own process, like Mimecast would.

The load generator is 16 threads in the runner process, one loopback connection each (gunicorn's
sync workers close the connection after every response, so each request connects anew). It
competes with gunicorn, the simulator and PostgreSQL for the same 2 cores: info reports the CPU
each of them used.

    python -m bench.scenarios.throughput --simulator PORT --now ISO   (the simulator process)
"""

import argparse
import contextlib
import http.client
import logging
import os
import re
import signal
import sys
import threading
import time
from datetime import datetime
from pathlib import Path
from urllib.parse import urlencode

from bench import harness

TITLE = "Throughput"
CLIENTS = 16
# 2 x cores + 1 for 2 cores, gunicorn's rule of thumb: a sync worker is idle while it waits for
# Mimecast or PostgreSQL, so more workers than cores keep the cores busy. BENCH_WEB_WORKERS overrides.
WEB_WORKERS = 5
_ROW = re.compile(rb'class="msg-link"')


def _cpu_seconds(pgid):
    """User + system CPU seconds of every live process in a process group (from /proc)."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # fields[0] is the state (field 3); pgrp is field 5, utime 14, stime 15, cutime 16, cstime 17.
        if int(fields[2]) == pgid:
            total += sum(int(f) for f in fields[11:15])
    return total / os.sysconf("SC_CLK_TCK")


def _load(port, paths_and_headers, *, seconds, warmup):
    """CLIENTS threads, each sending its (path, headers) back to back for warmup + seconds; the
    latencies of requests started after the warm-up are kept."""
    start_gate = threading.Barrier(CLIENTS + 1)
    stop = threading.Event()
    measuring = threading.Event()
    latencies = [[] for _ in range(CLIENTS)]
    failures = [0] * CLIENTS

    def client(index):
        path, headers = paths_and_headers[index]
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        start_gate.wait()
        while not stop.is_set():
            keep = measuring.is_set()
            started = time.perf_counter()
            try:
                conn.request("GET", path, headers=headers)
                response = conn.getresponse()
                response.read()
                ok = response.status == 200
            except (OSError, http.client.HTTPException):
                ok = False
                conn.close()
            elapsed = time.perf_counter() - started
            if keep and not stop.is_set():
                if ok:
                    latencies[index].append(elapsed)
                else:
                    failures[index] += 1
        conn.close()

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(CLIENTS)]
    for thread in threads:
        thread.start()
    start_gate.wait()
    time.sleep(warmup)
    measuring.set()
    cpu_before = time.process_time()
    started = time.monotonic()
    time.sleep(seconds)
    stop.set()
    wall = time.monotonic() - started
    cpu = time.process_time() - cpu_before
    for thread in threads:
        thread.join(timeout=60)
    done = [t for per_client in latencies for t in per_client]
    if not done:
        raise RuntimeError(f"no request succeeded ({sum(failures)} failed)")
    return {
        "rps": round(len(done) / wall, 1),
        **harness.summary_ms(done),
        "failed": sum(failures),
        "seconds": round(wall, 1),
        "load_generator_cpu_cores": round(cpu / wall, 2),
    }


def _phase(port, clients, *, seconds, warmup, groups):
    cpu_before = {name: _cpu_seconds(pgid) for name, pgid in groups.items()}
    started = time.monotonic()
    result = _load(port, clients, seconds=seconds, warmup=warmup)
    wall = time.monotonic() - started
    result["cpu_cores"] = {
        name: round((_cpu_seconds(pgid) - cpu_before[name]) / wall, 2) for name, pgid in groups.items()
    }
    return result


def _start_servers(ctx, workers):
    """The simulator and gunicorn, each in its own process; and the search that gives ROWS rows."""
    from django.utils import timezone

    from bench.scenarios.overhead import _search
    from mimecast_simulator import SimulatorServer

    # The simulator process and a copy of its state here (same seed and clock), to choose the search.
    anchor = timezone.now().replace(microsecond=0)
    search = _search(SimulatorServer(seed=1, now=anchor))
    sim_port = harness.free_port()
    sim_url = f"http://127.0.0.1:{sim_port}"
    simulator = ctx.start(
        "simulator",
        [harness.PY, "-m", "bench.scenarios.throughput", "--simulator", str(sim_port), "--now", anchor.isoformat()],
        ready_url=f"{sim_url}/_sim/health",
    )
    port = harness.free_port()
    web = ctx.start(
        "gunicorn",
        [harness.PY, "-m", "gunicorn", "mimecast_portal.wsgi", "-b", f"127.0.0.1:{port}", "-w", str(workers)],
        env=ctx.env(**harness.mimecast_env(sim_url)),
        ready_url=f"http://127.0.0.1:{port}/accounts/login/",
    )
    return port, {"gunicorn": web.pid, "simulator": simulator.pid}, search


def _session_cookies(role):
    """One user of ``role`` and one session each, as 16 people would have: their session cookie values."""
    from importlib import import_module

    from django.conf import settings
    from django.test import Client

    store = import_module(settings.SESSION_ENGINE).SessionStore
    cookies = []
    for i in range(CLIENTS):
        user = harness.portal_user(f"bench-load-{role}-{i}", [role])
        client = Client()
        client.force_login(user)
        cookies.append(client.cookies[settings.SESSION_COOKIE_NAME].value)
    if not all(store(session_key=key).exists(key) for key in cookies):
        raise RuntimeError("the sessions were not stored")
    return cookies


def _clients(path, cookies):
    from django.conf import settings

    return [(path, {"Cookie": f"{settings.SESSION_COOKIE_NAME}={c}"}) for c in cookies]


def _baseline_path(port, cookie):
    """The baseline page: the newest audit event's page, checked to answer 200 and to be audited."""
    from django.urls import reverse

    from investigations.models import AuditAction, AuditEvent

    seq = AuditEvent.objects.order_by("-seq").values_list("seq", flat=True).first()
    path = reverse("audit-event", args=[seq])
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", path, headers=_clients(path, [cookie])[0][1])
    response = conn.getresponse()
    response.read()
    conn.close()
    audited = AuditEvent.objects.filter(action=AuditAction.AUDIT_EVENT_VIEWED, target_id=str(seq)).exists()
    if response.status != 200 or not audited:
        raise RuntimeError(f"the baseline page answered {response.status}, audited: {audited}")
    return path


def _checked_page(port, path, headers):
    """The page gunicorn serves really is the 100-row page: its row count and body."""
    from bench.scenarios.overhead import ROWS

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", path, headers=headers)
    response = conn.getresponse()
    body = response.read()
    conn.close()
    rows = len(_ROW.findall(body))
    if response.status != 200 or rows != ROWS:
        raise RuntimeError(f"the results page answered {response.status} with {rows} rows, not {ROWS}")
    return rows, body


def run(ctx):
    from django.urls import reverse
    from django.utils import timezone

    from bench.scenarios.overhead import REASON

    seconds, warmup = (2, 0.5) if ctx.tiny else (30, 3)
    workers = int(os.environ.get("BENCH_WEB_WORKERS", WEB_WORKERS))
    port, groups, (route, start) = _start_servers(ctx, workers)
    end = timezone.now().replace(microsecond=0)
    query = urlencode(
        {"route": route, "window": "custom", "start": start.isoformat(), "end": end.isoformat(), "reason": REASON}
    )
    results_clients = _clients(f"{reverse('track-trace')}?{query}", _session_cookies("analyst"))
    rows, body = _checked_page(port, *results_clients[0])
    auditors = _session_cookies("auditor")
    baseline_path = _baseline_path(port, auditors[0])
    baseline_clients = _clients(baseline_path, auditors)
    trivial_path = reverse("login")
    trivial_clients = [(trivial_path, {})] * CLIENTS

    trivial = _phase(port, trivial_clients, seconds=seconds, warmup=warmup, groups=groups)
    baseline = _phase(port, baseline_clients, seconds=seconds, warmup=warmup, groups=groups)
    results = _phase(port, results_clients, seconds=seconds, warmup=warmup, groups=groups)
    ratio = round(results["rps"] / baseline["rps"], 3)
    return {
        "figures": {
            "results_rps": results["rps"],
            "results_p95_ms": results["p95_ms"],
            "baseline_rps": baseline["rps"],
            "baseline_p95_ms": baseline["p95_ms"],
            "rps_ratio": ratio,
            "trivial_rps": trivial["rps"],
            "trivial_p95_ms": trivial["p95_ms"],
            "trivial_rps_ratio": round(results["rps"] / trivial["rps"], 3),
        },
        "goals": {"rps_ratio": harness.goal(ratio, ">=", 0.5)},
        "info": {
            "workers": workers,
            "clients": CLIENTS,
            "results_page": {"rows": rows, "bytes": len(body), **results},
            "baseline_page": {
                "path": baseline_path,
                "note": "an audit event's page: signed in, same middleware and session, one audit event, "
                "no Mimecast call, no table",
                **baseline,
            },
            "trivial_page": {"path": trivial_path, "note": "the sign-in page, anonymous", **trivial},
            "load_generator": f"{CLIENTS} threads in the runner process, sharing the cores with the server",
        },
    }


def _serve_simulator(argv):
    """The simulator on its own process (what the throughput scenario starts)."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--simulator", type=int, required=True)
    parser.add_argument("--now", required=True)
    args = parser.parse_args(argv)
    from mimecast_simulator import SimulatorServer

    logging.basicConfig(level=logging.WARNING)
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    server = SimulatorServer(host="127.0.0.1", port=args.simulator, seed=1, now=datetime.fromisoformat(args.now))
    server.start()
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()


if __name__ == "__main__":
    _serve_simulator(sys.argv[1:])
