"""How long the message page takes when every Mimecast call is slow (not a timed test).

Starts the simulator with a fixed latency per call (default 200 ms), signs an analyst in with
Django's test client, and opens the phishing campaign's message page several times. Because the
page's upstream calls run concurrently, it should come back in less than twice one call's latency,
however many calls it makes. The related-activity section (TTP logs, SAFE scores, "who else received
it"), which htmx loads right after the page, is measured too.

    .venv/bin/python bench/detail_fanout.py [--latency-ms 200] [--runs 5]

Uses a throwaway SQLite database unless DATABASE_URL is set. Exit status 1 when the page is not under
twice the latency.
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _environment(tmp):
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mimecast_portal.settings")
    os.environ.setdefault("DEBUG", "true")
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{tmp}/bench.sqlite3")
    os.environ.setdefault("ALLOWED_HOSTS", "testserver")
    os.environ.setdefault("FIELD_ENCRYPTION_KEYS", "W3t6Rhxy-J6LKsKO30bCtGjBRHw7K0sTE1_ZHexxo3Y=")
    os.environ.setdefault("AUDIT_CHECKPOINT_DIR", str(Path(tmp) / "checkpoints"))
    os.environ.setdefault("HTTPS", "false")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency-ms", type=int, default=200)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        _environment(tmp)
        import django

        django.setup()
        import logging

        from django.test.utils import setup_test_environment

        setup_test_environment()  # so responses carry their template context
        logging.getLogger("investigations").setLevel(logging.WARNING)
        from django.conf import settings
        from django.core.management import call_command
        from django.test import Client
        from django.urls import reverse

        from investigations.mimecast.simulator import SIM_CREDENTIALS as sim
        from investigations.mimecast.simulator import SimulatorServer
        from tests.factories import UserFactory

        call_command("migrate", verbosity=0)
        server = SimulatorServer(host="127.0.0.1", port=0, seed=1, latency_ms=args.latency_ms).start()
        try:
            # API 1.0 with the access and secret keys configured directly, as in production: no login
            # round trip in front of every page.
            settings.MIMECAST_ENV = {
                "MIMECAST_API_VERSION": "1",
                "MIMECAST_BASE_URL": server.base_url,
                "MIMECAST_ALLOWED_HOSTS": server.base_url.removeprefix("http://"),
                "MIMECAST_APP_ID": sim.app_id,
                "MIMECAST_APP_KEY": sim.app_key,
                "MIMECAST_ACCESS_KEY": sim.access_key,
                "MIMECAST_SECRET_KEY": sim.secret_key,
            }
            user = UserFactory(username="bench-analyst", roles=["analyst"])
            client = Client()
            client.force_login(user)
            message_id = server.state.story["phishing_message_ids"][0]
            url = reverse("message-detail", args=[message_id])

            def timed(target, **kwargs):
                before = len(server.calls)
                started = time.perf_counter()
                response = client.get(target, **kwargs)
                elapsed = time.perf_counter() - started
                assert response.status_code == 200, response.status_code
                return elapsed, len(server.calls) - before, response

            client.get(url)  # warm up imports, templates and the connection pool
            page_times, related_times = [], []
            calls_page = calls_related = 0
            for _ in range(args.runs):
                elapsed, calls_page, response = timed(url)
                page_times.append(elapsed)
                elapsed, calls_related, _ = timed(response.context["related_url"], headers={"HX-Request": "true"})
                related_times.append(elapsed)
        finally:
            server.stop()

    latency = args.latency_ms / 1000
    page = statistics.median(page_times)
    related = statistics.median(related_times)
    print(f"simulated latency per call: {args.latency_ms} ms; {args.runs} runs; medians:")
    print(
        f"  message page:      {page * 1000:7.0f} ms  ({calls_page} Mimecast calls; one after another would take "
        f"{calls_page * args.latency_ms} ms)"
    )
    print(
        f"  related section:   {related * 1000:7.0f} ms  ({calls_related} Mimecast calls; one after another would "
        f"take {calls_related * args.latency_ms} ms)"
    )
    ok = page < 2 * latency
    print(f"message page under twice the latency ({2 * args.latency_ms} ms): {'yes' if ok else 'NO'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
