"""Soak the demo: the whole `make demo` stack, with remediation traffic through it for a while.

Starts the demo (simulator, worker with beat on the file-system broker, gunicorn) in a folder of its
own (free ports, its own SQLite file), then, until the time is up, creates, previews, submits and
approves remediation requests through the portal's services, as the demo's analyst and approver,
with at most --in-flight requests unfinished at a time. The approval publishes the task to the
broker; the worker carries it out against the simulator and polls it to the end.

It watches the worker the whole time: a worker that exits is counted as a death (with its exit code
and the last lines of its log) and started again so the soak goes on. At the end it waits for every
approved request to finish, then prints the figures as JSON and writes them to soak-result.json:
requests done, worker deaths, losses (approved but never succeeded, or succeeded without exactly
one Mimecast incident of its own).

    .venv/bin/python scripts/demo_soak.py --minutes 30
"""

import argparse
import json
import os
import re
import socket
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _arguments():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0, help="how long to send traffic")
    parser.add_argument("--var", help="the demo's folder (default: a new temporary folder)")
    parser.add_argument("--in-flight", type=int, default=12, help="at most this many unfinished requests")
    parser.add_argument("--pause", type=float, default=1.0, help="seconds between two requests")
    parser.add_argument("--drain-minutes", type=float, default=10.0, help="how long to wait for the last ones")
    return parser.parse_args()


class WorkerWatch:
    """Restarts the demo's worker when it exits, and remembers each death."""

    def __init__(self, process, start, worker_argv, log_path):
        self.process, self.start, self.argv, self.log_path = process, start, worker_argv, log_path
        self.deaths = []

    def check(self):
        code = self.process.poll()
        if code is None:
            return
        tail = self.log_path.read_text(errors="replace")[-3000:] if self.log_path.exists() else ""
        self.deaths.append({"at": datetime.now(UTC).isoformat(), "exit_code": code, "log_tail": tail})
        print(f"worker died with exit code {code}; restarting it", file=sys.stderr, flush=True)
        self.process = self.start("worker", self.argv)


def main():
    args = _arguments()
    var = Path(args.var or tempfile.mkdtemp(prefix="demo-soak-")).resolve()
    os.environ.update(PORTAL_VAR_DIR=str(var), DEMO_PORT=str(_free_port()), DEMO_SIMULATOR_PORT=str(_free_port()))
    sys.path.insert(0, str(ROOT / "scripts"))
    import demo  # reads PORTAL_VAR_DIR and the ports when imported

    env, children, _logins, start = demo.start_demo()
    worker = next(proc for name, proc in children if name == "worker")
    watch = WorkerWatch(worker, start, demo.WORKER, var / "log" / "worker.log")
    result = {}
    try:
        if not demo.wait_for(f"http://127.0.0.1:{demo.PORT}/accounts/login/", 60):
            raise SystemExit(f"the demo's web server did not answer; see {var}/log/web.log")
        if not demo.wait_for(f"http://127.0.0.1:{demo.SIM_PORT}/_sim/health", 60):
            raise SystemExit(f"the simulator did not answer; see {var}/log/simulator.log")
        os.environ.update(env)
        # The soak's own process sends the approvers' mail nowhere: the console would drown its figures.
        os.environ["EMAIL_BACKEND"] = "django.core.mail.backends.dummy.EmailBackend"
        result = _soak(args, watch)
    finally:
        for _name, proc in children:
            if proc.poll() is None:
                proc.terminate()
        for _name, proc in children:
            try:
                proc.wait(timeout=15)
            except Exception:  # stopping anyway
                proc.kill()
    result["var"] = str(var)
    (var / "soak-result.json").write_text(json.dumps(result, indent=2))
    summary = {k: v for k, v in result.items() if k != "deaths"}
    print(json.dumps(summary, indent=2), flush=True)
    return 0 if result.get("worker_deaths") == 0 and result.get("losses") == 0 else 1


def _soak(args, watch):
    import django  # set up only once the demo's environment is in place

    django.setup()
    from django.contrib.auth import get_user_model
    from django.db import close_old_connections

    from investigations.models import RemediationRequest
    from investigations.remediation import services
    from mimecast_simulator.data import generate

    users = get_user_model().objects
    analyst, approver = users.get(username="analyst"), users.get(username="approver")
    values = {
        "kind": RemediationRequest.Kind.REMEDIATE,
        "search_by": RemediationRequest.SearchBy.FILE_HASH,
        # The simulator's seeded macro attachment (seed 1, as `make demo` runs it).
        "search_value": generate(1, datetime.now(UTC)).story["macro_sha256"],
        "reason": "Soak: macro-laden invoice, pull every copy",
    }
    stop_watching = threading.Event()

    def keep_watching():
        while not stop_watching.wait(1):
            watch.check()

    watcher = threading.Thread(target=keep_watching, daemon=True)
    watcher.start()
    approved, errors = [], []
    started = time.monotonic()
    deadline = started + args.minutes * 60
    unfinished = RemediationRequest.objects.exclude(state__in=RemediationRequest.FINAL_STATES)
    try:
        while time.monotonic() < deadline:
            close_old_connections()
            if unfinished.filter(pk__in=approved).count() >= args.in_flight:
                time.sleep(1)
                continue
            try:
                req = services.remediation_request_create(actor=analyst, values=values)
                req = services.remediation_request_preview(actor=analyst, request_id=req.pk)
                req = services.remediation_request_submit(actor=analyst, request_id=req.pk)
                services.remediation_request_approve(
                    actor=approver, request_id=req.pk, reason="Soak approval", version=req.version
                )
                approved.append(req.pk)
            except Exception as exc:  # counted, the soak goes on
                errors.append(f"{type(exc).__name__}: {exc}")
            if len(approved) % 50 == 0 and approved:
                print(f"{len(approved)} approved, {len(watch.deaths)} worker deaths", flush=True)
            time.sleep(args.pause)
        drain_deadline = time.monotonic() + args.drain_minutes * 60
        while time.monotonic() < drain_deadline and unfinished.filter(pk__in=approved).exists():
            close_old_connections()
            time.sleep(2)
    finally:
        stop_watching.set()
        watcher.join()
    watch.check()
    rows = list(RemediationRequest.objects.filter(pk__in=approved).values("pk", "state", "incident_id"))
    succeeded = [r for r in rows if r["state"] == "succeeded"]
    incidents = [r["incident_id"] for r in succeeded]
    duplicated = len(incidents) - len(set(incidents))
    missing_incident = sum(1 for i in incidents if not i)
    by_state = {}
    for r in rows:
        by_state[r["state"]] = by_state.get(r["state"], 0) + 1
    log = watch.log_path.read_text(errors="replace") if watch.log_path.exists() else ""
    return {
        "minutes": args.minutes,
        "requests_approved": len(approved),
        "requests_done": len(succeeded),
        "states": by_state,
        "worker_deaths": len(watch.deaths),
        "losses": len(approved) - len(succeeded) + duplicated + missing_incident,
        "traffic_errors": len(errors),
        "first_traffic_errors": errors[:5],
        "json_decode_errors_in_worker_log": len(re.findall(r"JSONDecodeError", log)),
        "unrecoverable_errors_in_worker_log": len(re.findall(r"Unrecoverable error", log)),
        "elapsed_seconds": round(time.monotonic() - started),
        "deaths": watch.deaths,
    }


if __name__ == "__main__":
    sys.exit(main())
