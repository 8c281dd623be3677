"""``python -m oidc_simulator --port 0 --client-id ID --client-secret SECRET``: serve until interrupted.

Under ``--issuer``, a second line on stdout says ``issuer URL`` when it differs from the bound address."""

import sys

from oidc_simulator.loopback import serve_command
from oidc_simulator.server import ProviderServer


def main(argv=None) -> int:
    # The options are named as the server's arguments.
    return serve_command("oidc_simulator", __doc__, lambda args: ProviderServer(**vars(args)), _options, argv)


def _options(parser):
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


if __name__ == "__main__":
    sys.exit(main())
