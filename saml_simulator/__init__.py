"""A SAML 2.0 identity provider for the tests, on pysaml2's IdP ``Server`` (responses signed with
xmlsec1), which also issues each kind of bad response a service provider must refuse. pysaml2,
cryptography and the standard library only; it imports nothing from the portal and is not part of the
installed wheel.

    python -m saml_simulator --port 0 [--host 127.0.0.1] [--verbose-http]
        # prints "listening on http://127.0.0.1:PORT"; the entity id is that URL + "/metadata"

Endpoints: ``/metadata`` (the IdP's metadata, with its signing certificate), ``/sso/redirect``
(HTTP-Redirect binding) and ``/sso/post`` (HTTP-POST binding) for the AuthnRequest, ``/sso/login``
(the login form's POST). The response always goes back by HTTP-POST (an auto-posting form), its
assertion signed (RSA-SHA256) by a key generated at start in a temporary directory.

Control API, loopback only, ``POST /_control/<action>`` with a JSON body: ``sp`` {metadata} (the
service provider's metadata XML: its entity id, ACS and certificate; the IdP answers only registered
service providers), ``user`` {username, email, groups, password="pw", name}, ``groups`` {username,
groups}, ``fault`` {fault} (the next response is bad in that way: ``FAULTS``), ``end-sessions``,
``age-sessions`` {seconds}, ``requests`` (each AuthnRequest seen: id, issuer, force_authn, binding),
``reset`` (no users, sessions, fault or requests; the registered service provider stays).

A browser session (cookie ``saml_simulator_session``) is reused without the form unless the request
says ``ForceAuthn="true"``; a sign-in at the form is a new AuthnInstant. The NameID is persistent,
``saml-<username>``; the attributes are ``mail``, ``displayName`` and ``groups``. Nothing is logged
unless ``--verbose-http``, and then only each request's method and path.
"""

from saml_simulator.idp import FAULTS
from saml_simulator.keys import key_pair
from saml_simulator.server import IdpServer

__all__ = ["FAULTS", "IdpServer", "key_pair"]
