"""The identity provider's protocol, on pysaml2's IdP ``Server`` (which signs with xmlsec1): the
single sign-on service for both bindings with its login form and browser sessions, the metadata, and
each kind of bad response a service provider must refuse. HTTP plumbing lives in ``server.py``; this
module sees parsed requests and answers ``Reply`` objects."""

from __future__ import annotations

import html
import secrets
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass

from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT, class_name
from saml2.config import IdPConfig
from saml2.metadata import create_metadata_string
from saml2.saml import AUTHN_PASSWORD_PROTECTED as PASSWORD_PROTECTED
from saml2.saml import NAME_FORMAT_BASIC, NAMEID_FORMAT_PERSISTENT, NameID
from saml2.samlp import response_from_string
from saml2.server import Server
from saml2.sigver import pre_signature_part

from oidc_simulator.loopback import LoginDesk, Reply, User, page
from saml_simulator.keys import key_pair

SESSION_COOKIE = "saml_simulator_session"  # distinct: on loopback, cookies are shared across ports
XMLSEC = shutil.which("xmlsec1") or "/usr/bin/xmlsec1"
ASSERTION_LIFETIME_MINUTES = 5
ELSEWHERE = "https://elsewhere.example/saml"

# The next response's fault (one response, then back to good ones):
FAULTS = (
    "wrong_audience",  # the assertion's audience is another service provider
    "wrong_destination",  # Destination and the subject confirmation's Recipient are another ACS
    "expired",  # NotOnOrAfter (conditions and subject confirmation) in the past
    "unsigned",  # neither the response nor the assertion signed
    "tampered",  # signed, then an attribute changed (the digest no longer matches)
    "wrong_key",  # signed by a key the metadata does not hold
    "unsolicited",  # InResponseTo names a request the service provider never sent
    "ignore_force_authn",  # a browser session answers even a ForceAuthn request, with its old AuthnInstant
)


@dataclass
class Pending:
    """An authentication request waiting at the login form."""

    request_id: str
    sp_entity_id: str
    acs_url: str
    binding: str
    relay_state: str
    force_authn: bool


def _config(base_url: str, key_file: str, cert_file: str, sp_metadata: list[str], lifetime_minutes: int) -> IdPConfig:
    config = IdPConfig()
    config.load(
        {
            "entityid": base_url + "/metadata",
            "xmlsec_binary": XMLSEC,
            "key_file": key_file,
            "cert_file": cert_file,
            "metadata": {"inline": sp_metadata} if sp_metadata else {},
            "service": {
                "idp": {
                    "name": "saml_simulator",
                    "endpoints": {
                        "single_sign_on_service": [
                            (base_url + "/sso/redirect", BINDING_HTTP_REDIRECT),
                            (base_url + "/sso/post", BINDING_HTTP_POST),
                        ],
                    },
                    "name_id_format": [NAMEID_FORMAT_PERSISTENT],
                    "policy": {
                        "default": {
                            "lifetime": {"minutes": lifetime_minutes},
                            "attribute_restrictions": None,
                            "name_form": NAME_FORMAT_BASIC,
                        }
                    },
                }
            },
        }
    )
    return config


class IdentityProvider(LoginDesk):
    session_cookie = SESSION_COOKIE
    login_title = "Sign in at saml_simulator"

    def __init__(self, *, base_url: str):
        self.base_url = base_url.rstrip("/")
        self.entity_id = self.base_url + "/metadata"
        self.lock = threading.RLock()
        # Keys for this run only, in a directory removed at exit: never committed, never reused.
        self._keys = tempfile.TemporaryDirectory(prefix="saml_simulator-")
        self.key_file, self.cert_file = key_pair(self._keys.name, "idp", "saml_simulator")
        self._other_key_file, self._other_cert_file = key_pair(self._keys.name, "other", "not-the-idp")
        self.sp_metadata: list[str] = []
        self._build()
        self.reset()

    def close(self):
        self._keys.cleanup()

    def _build(self):
        self.server = Server(config=_config(self.base_url, self.key_file, self.cert_file, self.sp_metadata, 5))
        # The same provider with another key: what a forger holding some other certificate signs with.
        self.forger = Server(
            config=_config(self.base_url, self._other_key_file, self._other_cert_file, self.sp_metadata, 5)
        )

    def reset(self):
        with self.lock:
            self.users: dict[str, User] = {}
            self.sessions: dict[str, tuple[str, int]] = {}  # cookie -> (username, auth instant)
            self.pending: dict[str, Pending] = {}
            self.fault: str | None = None
            self.requests_seen: list[dict] = []

    # ------------------------------------------------------------------------------- metadata

    def metadata(self) -> Reply:
        xml = create_metadata_string(None, config=self.server.config, valid=1, sign=False)
        return Reply(
            200, xml.decode() if isinstance(xml, bytes) else xml, {"Content-Type": "application/samlmetadata+xml"}
        )

    # ------------------------------------------------------------------------ single sign-on

    def single_sign_on(self, params: dict, binding: str, session_id: str | None) -> Reply:
        saml_request = params.get("SAMLRequest")
        if not saml_request:
            return Reply(400, page("Bad request", "<p>No SAMLRequest.</p>"))
        with self.lock:
            try:
                parsed = self.server.parse_authn_request(saml_request, binding)
                request = parsed.message
                args = self.server.response_args(request, [BINDING_HTTP_POST])
            except Exception as error:
                return Reply(400, page("Request refused", f"<p>{html.escape(type(error).__name__)}</p>"))
            force = str(request.force_authn).lower() in ("true", "1")
            self.requests_seen.append(
                {"id": request.id, "issuer": request.issuer.text, "force_authn": force, "binding": binding}
            )
            pending = Pending(
                request_id=request.id,
                sp_entity_id=args["sp_entity_id"],
                acs_url=args["destination"],
                binding=args["binding"],
                relay_state=params.get("RelayState", ""),
                force_authn=force,
            )
            session = self.sessions.get(session_id or "")
            reuse = not force or self.fault == "ignore_force_authn"
            if session and reuse and session[0] in self.users:
                return self._respond(pending, session[0], session[1])
            key = secrets.token_urlsafe(16)
            self.pending[key] = pending
        return Reply(200, self.login_page(pending, key))

    def application(self, pending: Pending) -> str:
        return pending.sp_entity_id

    def signed_in(self, pending: Pending, user: User, session_id: str) -> Reply:
        auth_instant = int(time.time())
        self.sessions[session_id] = (user.username, auth_instant)
        return self._respond(pending, user.username, auth_instant)

    def _respond(self, pending: Pending, username: str, auth_instant: int) -> Reply:
        """The signed response for ``pending``, as the auto-posting form the HTTP-POST binding is."""
        user = self.users[username]
        fault, self.fault = self.fault, None
        identity = {"mail": [user.email], "displayName": [user.name or user.username], "groups": list(user.groups)}
        server = self.forger if fault == "wrong_key" else self.server
        kwargs = {
            "identity": identity,
            "in_response_to": "id-" + secrets.token_hex(16) if fault == "unsolicited" else pending.request_id,
            "destination": ELSEWHERE + "/acs" if fault == "wrong_destination" else pending.acs_url,
            "sp_entity_id": ELSEWHERE if fault == "wrong_audience" else pending.sp_entity_id,
            "name_id": NameID(format=NAMEID_FORMAT_PERSISTENT, text="saml-" + username),
            "authn": {"class_ref": PASSWORD_PROTECTED, "authn_instant": auth_instant},
            "sign_assertion": fault != "unsigned",
            "sign_response": False,
        }
        if fault == "expired":
            kwargs["sign_assertion"] = False
        response = str(server.create_authn_response(**kwargs))
        if fault == "expired":
            response = _expired(server, response)
        if fault == "tampered":
            # After the signature: the groups claim an administrator's, as a forger would edit them.
            response = response.replace(">" + html.escape(user.email) + "<", ">mallory@attacker.example<")
        http_args = server.apply_binding(
            BINDING_HTTP_POST, response, pending.acs_url, pending.relay_state, response=True
        )
        return Reply(200, http_args["data"])

    # ---------------------------------------------------------------------------------- control

    def control(self, action: str, body: dict):
        with self.lock:
            if action == "sp":
                # The service provider's registration: its metadata (entity id, ACS, certificate).
                metadata = body["metadata"]
                if not isinstance(metadata, str) or "EntityDescriptor" not in metadata:
                    raise ValueError("metadata must be an EntityDescriptor document")
                self.sp_metadata = [metadata]
                self._build()
                return {"ok": True}
            if action == "user":
                username = body["username"]
                self.users[username] = User(
                    username=username,
                    password=body.get("password", "pw"),
                    email=body["email"],
                    groups=[str(group) for group in body.get("groups", [])],
                    name=body.get("name", ""),
                )
                return {"ok": True}
            if action == "groups":
                self.users[body["username"]].groups = [str(group) for group in body["groups"]]
                return {"ok": True}
            if action == "fault":
                fault = body.get("fault")
                if fault is not None and fault not in FAULTS:
                    raise ValueError(f"unknown fault {fault!r}; one of {', '.join(FAULTS)}")
                self.fault = fault
                return {"ok": True}
            if action == "end-sessions":
                self.sessions.clear()
                return {"ok": True}
            if action == "age-sessions":
                seconds = int(body["seconds"])
                self.sessions = {key: (name, at - seconds) for key, (name, at) in self.sessions.items()}
                return {"ok": True}
            if action == "requests":
                return list(self.requests_seen)
            if action == "reset":
                self.reset()
                return {"ok": True}
        raise KeyError(action)


def _expired(server: Server, xml: str) -> str:
    """``xml`` (an unsigned response) with its assertion issued 20 minutes ago and valid for 5, then
    signed: a well-formed, correctly signed answer that has simply expired."""
    response = response_from_string(xml)
    assertion = response.assertion[0]
    issued = time.time() - 20 * 60
    assertion.issue_instant = _instant(issued)
    assertion.conditions.not_before = _instant(issued)
    assertion.conditions.not_on_or_after = _instant(issued + 5 * 60)
    for confirmation in assertion.subject.subject_confirmation:
        confirmation.subject_confirmation_data.not_on_or_after = _instant(issued + 5 * 60)
    assertion.signature = pre_signature_part(assertion.id, server.sec.my_cert, 1)
    return server.sec.sign_statement(str(response), class_name(assertion), node_id=assertion.id)


def _instant(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))
