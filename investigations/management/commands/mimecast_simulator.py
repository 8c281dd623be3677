"""Run the Mimecast API simulator: `manage.py mimecast_simulator --port 8025 --seed 1`."""

from django.core.management.base import BaseCommand, CommandError

_SERVER_OPTIONS = ("host", "port", "seed", "rate_limit_per_minute", "latency_ms", "incident_settle_ms")


class Command(BaseCommand):
    help = "Serve the Mimecast API simulator (API 1.0 and 2.0) on a loopback HTTP port until interrupted."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8025)
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument("--rate-limit-per-minute", type=int, default=None)
        parser.add_argument("--latency-ms", type=int, default=0)
        parser.add_argument("--incident-settle-ms", type=int, default=1500)
        parser.add_argument("--verbose-http", action="store_true", help="log every HTTP request to stderr")

    def handle(self, *args, **opts):
        try:
            # The simulator is a development tool kept out of the installed wheel: run from a checkout.
            from mimecast_simulator import SIM_CREDENTIALS, SimulatorServer
        except ImportError as exc:
            raise CommandError("The Mimecast simulator is not installed here; run it from a source checkout.") from exc
        if opts["host"] not in ("127.0.0.1", "localhost", "::1"):
            self.stderr.write(
                self.style.WARNING("The simulator is meant for loopback; the control API stays loopback-only.")
            )
        # The options are named as the server's arguments, but for --verbose-http.
        server_args = {name: opts[name] for name in _SERVER_OPTIONS}
        try:
            srv = SimulatorServer(**server_args, verbose=opts["verbose_http"]).start()
        except OSError as exc:
            raise CommandError(f"cannot listen on {opts['host']}:{opts['port']}: {exc}") from exc
        c = SIM_CREDENTIALS
        self.stdout.write(self.style.SUCCESS(f"Mimecast simulator listening on {srv.base_url} (seed {opts['seed']})"))
        self.stdout.write(
            f"  API 1.0: app id {c.app_id}, access key {c.access_key[:12]}..., "
            f"login {c.username} (Basic-Cloud) / {c.ad_username} (Basic-AD)"
        )
        self.stdout.write(f"  API 2.0: client id {c.client_id}")
        self.stdout.write(f"  control: {srv.base_url}/_sim/health")
        srv.serve_forever()
