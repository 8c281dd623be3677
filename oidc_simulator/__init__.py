"""A small OpenID Connect provider for the tests: discovery, JWKS, the code flow, userinfo and refresh,
and, on demand, each kind of bad ID token a relying party must refuse. Standard library and PyJWT only;
it imports nothing from the portal and is not part of the installed wheel.

    python -m oidc_simulator --port 0 --client-id ID --client-secret SECRET [--issuer URL]
        [--redirect-uri URI ...] [--verbose-http]          # prints "listening on http://127.0.0.1:PORT"
    ProviderServer(client_id=..., client_secret=...).start(); .issuer; .provider; .stop()   # in-process

Endpoints, under the issuer (an issuer with a path, ``http://host:port/realms/soc``, serves under it):
``/.well-known/openid-configuration``, ``/jwks`` (one RS256 key, ``kid`` in every ID token's header),
``/authorize`` (GET: the request; POST: the login form), ``/token`` (``authorization_code`` and
``refresh_token``; client_secret_basic or client_secret_post; PKCE S256/plain when the request had a
challenge), ``/userinfo`` (Bearer access token).

Control API, loopback only, ``POST /_control/<action>`` with a JSON body:
``user`` {username, email, groups, password="pw", name, sub}, ``groups`` {username, groups},
``remove-user`` {username}, ``revoke`` {username} (their access and refresh tokens), ``fault`` {fault}
(the next ID token issued, by either grant, is bad in that way: ``tokens.FAULTS``), ``end-sessions``,
``age-sessions`` {seconds} (every browser session signed in that much earlier), ``authorize-requests``
(the query of each /authorize, oldest first), ``reset`` (no users, sessions, codes, tokens or fault).

Choices where the specifications leave room:

- ``sub`` is derived from the username, so a user set again after a reset is the same person.
- A browser session (cookie ``oidc_simulator_session``: on loopback, cookies do not tell ports apart)
  is reused without the form unless ``prompt=login``, or ``max_age`` is 0 or shorter than the session's
  age; a sign-in at the form is a new ``auth_time``. ``prompt=none`` without a session answers
  ``error=login_required``.
- Without ``--redirect-uri`` any http(s) loopback callback is accepted (the tests' portal listens on a
  random port). An unknown client or redirect URI gets an error page, never a redirect.
- Codes live 60 s and are single use; a replayed code is refused (``invalid_grant``) and revokes the
  tokens it was exchanged for (RFC 6749 4.1.2).
- ID tokens live 300 s and always carry ``auth_time``, ``email``, ``name``, ``preferred_username`` and
  ``groups``. A refresh keeps the refresh token, keeps the original ``auth_time``, carries no ``nonce``,
  and reads the user's groups as they are now (so does /userinfo): that is how a relying party sees a
  group removed at the provider. A removed user's refresh token and access tokens are refused.
- Errors are the standard OAuth JSON (``error``, ``error_description``): ``invalid_client`` with 401
  (and ``WWW-Authenticate: Basic`` when Basic was used), ``invalid_grant``, ``unsupported_grant_type``,
  ``invalid_request`` with 400; /userinfo answers 401 with ``WWW-Authenticate: Bearer error="invalid_token"``.
- Nothing is logged unless ``--verbose-http``, and then only each request's method and path, never
  its query (codes, state) nor any token.
"""

from oidc_simulator.server import ProviderServer
from oidc_simulator.tokens import FAULTS

__all__ = ["FAULTS", "ProviderServer"]
