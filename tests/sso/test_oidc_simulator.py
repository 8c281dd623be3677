"""The test OpenID Connect provider against the protocol, with a plain HTTP client and PyJWT: what the
portal's sign-in tests rely on it for, and that each fault really produces the bad token it names."""

import base64
import hashlib
import subprocess
import sys
import time
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
import pytest
import requests

from oidc_simulator import FAULTS, ProviderServer

CALLBACK = "http://127.0.0.1:9/callback"  # never contacted: the tests read the redirect's Location


@pytest.fixture
def op(oidc_provider):
    oidc_provider.reset()
    oidc_provider.set_user("ann", email="ann@example.com", groups=["soc-analysts"])
    yield oidc_provider
    oidc_provider.reset()


def authorize_url(op, **params):
    query = {
        "client_id": op.client_id,
        "redirect_uri": CALLBACK,
        "response_type": "code",
        "scope": "openid email profile groups",
        "state": "state-1",
        "nonce": "nonce-1",
        **params,
    }
    return f"{op.issuer}/authorize?{urlencode({k: v for k, v in query.items() if v is not None})}"


def answer(location: str) -> dict:
    """The query the provider sent the browser back with."""
    assert location.startswith(CALLBACK + "?"), location
    return {name: values[0] for name, values in parse_qs(urlsplit(location).query).items()}


def exchange(op, code, *, basic=True, **form):
    """The token endpoint, authenticated with client_secret_basic (or client_secret_post)."""
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK, **form}
    if basic:
        return requests.post(f"{op.issuer}/token", data=data, auth=(op.client_id, op.client_secret), timeout=10)
    data |= {"client_id": op.client_id, "client_secret": op.client_secret}
    return requests.post(f"{op.issuer}/token", data=data, timeout=10)


def tokens(op, browser=None, **params) -> dict:
    code = answer(op.sign_in(authorize_url(op, **params), "ann", browser=browser))["code"]
    response = exchange(op, code)
    assert response.status_code == 200, response.text
    return response.json()


def signing_key(op):
    return jwt.PyJWKClient(f"{op.issuer}/jwks").get_signing_keys()[0]


def verify(op, id_token, **options):
    return jwt.decode(
        id_token, signing_key(op).key, algorithms=["RS256"], audience=op.client_id, issuer=op.issuer, **options
    )


def header_and_claims(id_token):
    return jwt.get_unverified_header(id_token), jwt.decode(id_token, options={"verify_signature": False})


def test_discovery_document_lists_the_endpoints_under_the_issuer(op):
    document = requests.get(f"{op.issuer}/.well-known/openid-configuration", timeout=10).json()
    assert document["issuer"] == op.issuer
    for name, path in [
        ("authorization_endpoint", "/authorize"),
        ("token_endpoint", "/token"),
        ("userinfo_endpoint", "/userinfo"),
        ("jwks_uri", "/jwks"),
    ]:
        assert document[name] == op.issuer + path
    assert document["response_types_supported"] == ["code"]
    assert document["id_token_signing_alg_values_supported"] == ["RS256"]
    assert {"openid", "email", "groups"} <= set(document["scopes_supported"])
    assert {"sub", "email", "groups", "auth_time", "nonce"} <= set(document["claims_supported"])
    assert set(document["token_endpoint_auth_methods_supported"]) == {"client_secret_basic", "client_secret_post"}


def test_jwks_publishes_the_rs256_key_the_id_tokens_are_signed_with(op):
    keys = requests.get(f"{op.issuer}/jwks", timeout=10).json()["keys"]
    assert len(keys) == 1
    assert keys[0]["kty"] == "RSA" and keys[0]["use"] == "sig" and keys[0]["alg"] == "RS256"
    assert "d" not in keys[0]  # the public half only
    id_token = tokens(op)["id_token"]
    assert jwt.get_unverified_header(id_token)["kid"] == keys[0]["kid"]
    assert verify(op, id_token)["sub"]


def test_code_flow_signs_in_at_the_form_and_issues_a_verified_id_token(op):
    browser = requests.Session()
    form = browser.get(authorize_url(op), allow_redirects=False, timeout=10)
    assert form.status_code == 200 and 'name="password"' in form.text
    stale = {"username": "ann", "password": "pw", "request_id": "not-a-pending-request"}
    refused = browser.post(op.url("/authorize"), data=stale, timeout=10)
    assert refused.status_code == 400 and "Start again" in refused.text  # an unknown login request
    with pytest.raises(AssertionError, match="Wrong username or password"):
        op.sign_in(authorize_url(op), "ann", "not-the-password")

    back = answer(op.sign_in(authorize_url(op), "ann", browser=browser))
    assert back["state"] == "state-1" and back["code"]
    response = exchange(op, back["code"])
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    body = response.json()
    assert body["token_type"] == "Bearer" and body["access_token"] and body["refresh_token"]
    claims = verify(op, body["id_token"])
    assert claims["nonce"] == "nonce-1"
    assert claims["email"] == "ann@example.com" and claims["groups"] == ["soc-analysts"]
    assert claims["exp"] > claims["iat"] and claims["auth_time"] <= claims["iat"]


def test_client_secret_post_and_pkce_are_supported(op):
    verifier = "v" * 50
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    params = {"code_challenge": challenge, "code_challenge_method": "S256"}
    code = answer(op.sign_in(authorize_url(op, **params), "ann"))["code"]
    assert exchange(op, code, basic=False, code_verifier="w" * 50).json()["error"] == "invalid_grant"

    code = answer(op.sign_in(authorize_url(op, **params), "ann"))["code"]
    response = exchange(op, code, basic=False, code_verifier=verifier)
    assert response.status_code == 200
    assert verify(op, response.json()["id_token"])["preferred_username"] == "ann"


def test_a_provider_session_is_reused_unless_prompt_login_or_max_age_asks_for_a_fresh_sign_in(op):
    browser = requests.Session()
    first = verify(op, tokens(op, browser)["id_token"])["auth_time"]
    op.age_sessions(120)  # the browser signed in two minutes ago

    # No username: the provider must not show its form to a signed-in browser.
    again = verify(op, tokens(op, browser)["id_token"])["auth_time"]
    assert again == first - 120
    assert verify(op, tokens(op, browser, max_age="300")["id_token"])["auth_time"] == first - 120

    for params in ({"max_age": "60"}, {"max_age": "0"}, {"prompt": "login"}):
        with pytest.raises(AssertionError, match="login form"):
            op.sign_in(authorize_url(op, **params), browser=browser)
    fresh = verify(op, tokens(op, browser, prompt="login")["id_token"])["auth_time"]
    assert fresh > first - 120  # a new sign-in, a new auth_time

    seen = op.authorize_requests()
    assert [r.get("prompt") for r in seen].count("login") == 2
    assert {r.get("max_age") for r in seen} >= {"300", "60", "0"}

    op.end_sessions()
    with pytest.raises(AssertionError, match="login form"):
        op.sign_in(authorize_url(op), browser=browser)
    assert answer(op.sign_in(authorize_url(op, prompt="none"), browser=browser)) == {
        "error": "login_required",
        "error_description": "The user must sign in.",
        "state": "state-1",
    }


def test_refresh_and_userinfo_answer_the_current_groups_until_the_user_is_gone(op):
    issued = tokens(op)
    original = verify(op, issued["id_token"])
    op.set_groups("ann", ["soc-approvers", "soc-auditors"])

    refresh = {"grant_type": "refresh_token", "refresh_token": issued["refresh_token"]}
    response = requests.post(op.url("/token"), data=refresh, auth=(op.client_id, op.client_secret), timeout=10)
    assert response.status_code == 200
    claims = verify(op, response.json()["id_token"])
    assert claims["groups"] == ["soc-approvers", "soc-auditors"]
    assert claims["sub"] == original["sub"] and claims["auth_time"] == original["auth_time"]
    assert "nonce" not in claims

    bearer = {"Authorization": f"Bearer {issued['access_token']}"}
    info = requests.get(op.url("/userinfo"), headers=bearer, timeout=10).json()
    assert info["sub"] == original["sub"] and info["groups"] == ["soc-approvers", "soc-auditors"]

    op.remove_user("ann")
    response = requests.post(op.url("/token"), data=refresh, auth=(op.client_id, op.client_secret), timeout=10)
    assert (response.status_code, response.json()["error"]) == (400, "invalid_grant")
    gone = requests.get(op.url("/userinfo"), headers=bearer, timeout=10)
    assert gone.status_code == 401 and 'error="invalid_token"' in gone.headers["WWW-Authenticate"]


def test_revoked_tokens_are_refused_and_the_same_username_keeps_its_subject(op):
    issued = tokens(op)
    op.revoke("ann")
    refresh = {"grant_type": "refresh_token", "refresh_token": issued["refresh_token"]}
    response = requests.post(op.url("/token"), data=refresh, auth=(op.client_id, op.client_secret), timeout=10)
    assert response.json()["error"] == "invalid_grant"
    bearer = {"Authorization": f"Bearer {issued['access_token']}"}
    assert requests.get(op.url("/userinfo"), headers=bearer, timeout=10).status_code == 401

    op.reset()
    op.set_user("ann", email="ann@example.com")
    assert verify(op, tokens(op)["id_token"])["sub"] == verify(op, issued["id_token"])["sub"]


@pytest.mark.parametrize("fault", FAULTS)
def test_each_fault_spoils_only_the_next_id_token_in_the_way_it_names(op, fault):
    op.next_id_token_fault(fault)
    bad = tokens(op)["id_token"]
    header, claims = header_and_claims(bad)
    key = signing_key(op).key
    strict = {"algorithms": ["RS256"], "audience": op.client_id, "issuer": op.issuer, "leeway": 60}

    if fault == "wrong_aud":
        assert claims["aud"] != op.client_id
        with pytest.raises(jwt.InvalidAudienceError):
            jwt.decode(bad, key, **strict)
    elif fault == "wrong_iss":
        assert claims["iss"] != op.issuer
        with pytest.raises(jwt.InvalidIssuerError):
            jwt.decode(bad, key, **strict)
    elif fault == "wrong_nonce":
        assert claims["nonce"] != "nonce-1"
    elif fault == "missing_nonce":
        assert "nonce" not in claims
    elif fault == "missing_auth_time":
        assert "auth_time" not in claims
    elif fault == "bad_signature":
        assert header == {"alg": "RS256", "typ": "JWT", "kid": signing_key(op).key_id}
        with pytest.raises(jwt.InvalidSignatureError):
            jwt.decode(bad, key, **strict)
    elif fault == "alg_none":
        assert header["alg"] == "none" and bad.endswith(".")
        with pytest.raises(jwt.InvalidAlgorithmError):
            jwt.decode(bad, key, **strict)
    elif fault == "expired":
        assert claims["exp"] < time.time() - 600
        with pytest.raises(jwt.ExpiredSignatureError):
            jwt.decode(bad, key, **strict)
    if fault not in ("bad_signature", "alg_none", "expired", "wrong_aud", "wrong_iss"):
        assert jwt.decode(bad, key, **strict)  # only the claim named is wrong: the rest still verifies

    good = verify(op, tokens(op)["id_token"])  # the fault was for one token only
    assert good["nonce"] == "nonce-1" and "auth_time" in good


def test_unknown_fault_is_refused_by_the_control_api(op):
    response = requests.post(op.url("/_control/fault"), json={"fault": "wrong_everything"}, timeout=10)
    assert response.status_code == 400 and "unknown fault" in response.json()["error"]
    response = requests.post(op.url("/_control/groups"), json={"username": "nobody", "groups": []}, timeout=10)
    assert response.status_code == 404


def test_wrong_client_credentials_are_refused_with_invalid_client(op):
    code = answer(op.sign_in(authorize_url(op), "ann"))["code"]
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK}
    basic = requests.post(op.url("/token"), data=form, auth=(op.client_id, "wrong-secret"), timeout=10)
    assert basic.status_code == 401 and basic.json()["error"] == "invalid_client"
    assert basic.headers["WWW-Authenticate"].startswith("Basic")
    post = {**form, "client_id": op.client_id, "client_secret": "wrong-secret"}
    posted = requests.post(op.url("/token"), data=post, timeout=10)
    assert posted.status_code == 401 and posted.json()["error"] == "invalid_client"
    nothing = requests.post(op.url("/token"), data=form, timeout=10)
    assert nothing.status_code == 401 and nothing.json()["error"] == "invalid_client"
    # Refused clients spent nothing: the code still works for the real client.
    assert exchange(op, code).status_code == 200


def test_a_reused_code_is_refused_and_revokes_what_it_was_exchanged_for(op):
    code = answer(op.sign_in(authorize_url(op), "ann"))["code"]
    first = exchange(op, code).json()
    replay = exchange(op, code)
    assert replay.status_code == 400
    assert replay.json() == {"error": "invalid_grant", "error_description": "authorization code already used"}
    bearer = {"Authorization": f"Bearer {first['access_token']}"}
    assert requests.get(op.url("/userinfo"), headers=bearer, timeout=10).status_code == 401


def test_token_endpoint_refuses_a_wrong_redirect_uri_an_unknown_code_and_grant(op):
    code = answer(op.sign_in(authorize_url(op), "ann"))["code"]
    assert exchange(op, code, redirect_uri="http://127.0.0.1:9/other").json()["error"] == "invalid_grant"
    assert exchange(op, "made-up-code").json()["error"] == "invalid_grant"
    response = exchange(op, code, grant_type="password")
    assert (response.status_code, response.json()["error"]) == (400, "unsupported_grant_type")


def test_authorize_refuses_bad_requests_without_redirecting_to_an_unknown_client(op):
    browser = requests.Session()
    unknown = browser.get(authorize_url(op, client_id="someone-else"), allow_redirects=False, timeout=10)
    assert unknown.status_code == 400 and "Location" not in unknown.headers
    evil = authorize_url(op, redirect_uri="https://evil.example/cb")
    elsewhere = browser.get(evil, allow_redirects=False, timeout=10)
    assert elsewhere.status_code == 400 and "Location" not in elsewhere.headers

    implicit = browser.get(authorize_url(op, response_type="token"), allow_redirects=False, timeout=10)
    assert answer(implicit.headers["Location"])["error"] == "unsupported_response_type"
    no_openid = browser.get(authorize_url(op, scope="email"), allow_redirects=False, timeout=10)
    assert answer(no_openid.headers["Location"])["error"] == "invalid_scope"


def test_an_issuer_with_a_path_serves_every_endpoint_under_it():
    issuer = "http://127.0.0.1:1/realms/soc"  # routing follows the issuer's path; its host is not checked
    server = ProviderServer(issuer=issuer, client_id="c", client_secret="s").start()
    try:
        document = requests.get(f"{server.base_url}/realms/soc/.well-known/openid-configuration", timeout=10).json()
        assert document["issuer"] == issuer and document["jwks_uri"] == f"{issuer}/jwks"
        assert requests.get(f"{server.base_url}/realms/soc/jwks", timeout=10).json()["keys"]
        assert requests.get(f"{server.base_url}/jwks", timeout=10).status_code == 404
    finally:
        server.stop()


def test_the_login_form_escapes_what_it_shows():
    server = ProviderServer(client_id='<script>"x"</script>', client_secret="s").start()
    try:
        query = {"client_id": '<script>"x"</script>', "redirect_uri": CALLBACK, "response_type": "code"}
        page = requests.get(f"{server.issuer}/authorize?{urlencode(query | {'scope': 'openid'})}", timeout=10)
        assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
        assert "<script>" not in page.text and "&lt;script&gt;" in page.text
    finally:
        server.stop()


def test_the_command_line_enforces_registered_redirect_uris_logs_no_query_and_stops_on_sigterm():
    registered = "http://127.0.0.1:9/only"
    command = [sys.executable, "-m", "oidc_simulator", "--client-id", "c", "--client-secret", "s", "--verbose-http"]
    process = subprocess.Popen(
        [*command, "--redirect-uri", registered], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        base_url = process.stdout.readline().removeprefix("listening on ").strip()
        assert base_url.startswith("http://127.0.0.1:") and not base_url.endswith(":0")
        query = {"client_id": "c", "response_type": "code", "scope": "openid", "state": "state-not-logged"}
        other = requests.get(f"{base_url}/authorize", params=query | {"redirect_uri": CALLBACK}, timeout=10)
        assert other.status_code == 400 and "not registered" in other.text
        listed = requests.get(f"{base_url}/authorize", params=query | {"redirect_uri": registered}, timeout=10)
        assert listed.status_code == 200 and 'name="password"' in listed.text
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 0
        log = process.stderr.read()
        process.stdout.close()
        process.stderr.close()
    assert log.splitlines() == ["GET /authorize 400", "GET /authorize 200"]
