"""``python -m saml_simulator --port 0``: serve until interrupted (``oidc_simulator.loopback.serve_command``)."""

import sys

from oidc_simulator.loopback import serve_command
from saml_simulator.server import IdpServer


def main(argv=None) -> int:
    return serve_command("saml_simulator", __doc__, lambda args: IdpServer(**vars(args)), argv=argv)


if __name__ == "__main__":
    sys.exit(main())
