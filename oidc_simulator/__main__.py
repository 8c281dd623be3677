"""``python -m oidc_simulator --port 0 --client-id ID --client-secret SECRET``: serve until interrupted.

The first line on stdout is ``listening on http://HOST:PORT`` (the port it bound), for whoever started it."""

import argparse
import contextlib
import signal
import sys

from oidc_simulator.server import ProviderServer


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m oidc_simulator", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 binds a free port")
    parser.add_argument("--issuer", help="default: http://HOST:PORT (the bound port)")
    parser.add_argument("--client-id", required=True)
    parser.add_argument("--client-secret", required=True)
    parser.add_argument(
        "--redirect-uri",
        dest="redirect_uris",
        action="append",
        default=[],
        help="registered callback (repeat); none = any loopback URI",
    )
    parser.add_argument(
        "--verbose-http", dest="verbose", action="store_true", help="log each request's method and path to stderr"
    )
    args = parser.parse_args(argv)
    try:
        server = ProviderServer(**vars(args))  # the options are named as the server's arguments
    except OSError as error:
        print(f"cannot listen on {args.host}:{args.port}: {error}", file=sys.stderr)
        return 1
    signal.signal(signal.SIGTERM, _interrupt)
    # The first line is what whoever started it reads: the bound port, then the issuer if it differs.
    print(f"listening on {server.base_url}", flush=True)
    if server.issuer != server.base_url:
        print(f"issuer {server.issuer}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    return 0


def _interrupt(signum, frame):
    # SIGTERM (how the tests stop it) ends the server as Ctrl-C does, closing its socket.
    raise KeyboardInterrupt


if __name__ == "__main__":
    sys.exit(main())
