"""``python -m saml_simulator --port 0``: serve until interrupted.

The first line on stdout is ``listening on http://HOST:PORT`` (the port it bound), for whoever started it."""

import argparse
import contextlib
import signal
import sys

from saml_simulator.server import IdpServer


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m saml_simulator", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 binds a free port")
    parser.add_argument(
        "--verbose-http", dest="verbose", action="store_true", help="log each request's method and path to stderr"
    )
    args = parser.parse_args(argv)
    try:
        server = IdpServer(host=args.host, port=args.port, verbose=args.verbose)
    except OSError as error:
        print(f"cannot listen on {args.host}:{args.port}: {error}", file=sys.stderr)
        return 1
    signal.signal(signal.SIGTERM, _interrupt)
    print(f"listening on {server.base_url}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    return 0


def _interrupt(signum, frame):
    # SIGTERM (how the tests stop it) ends the server as Ctrl-C does, closing its socket and keys.
    raise KeyboardInterrupt


if __name__ == "__main__":
    sys.exit(main())
