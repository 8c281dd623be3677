"""A small OpenID Connect provider for the tests: discovery, JWKS, the code flow, userinfo and refresh,
and, on demand, each kind of bad ID token a relying party must refuse. Standard library and PyJWT only;
it imports nothing from the portal and is not part of the installed wheel."""
