"""The simulator's fault kinds and knobs added for client tests: redirect, raw, repeat_token, empty_page,
skip, fail with an HTTP status and field, token lifetime, discovery region, form recording and TLS.
Each is checked with plain HTTP requests, through the in-process API and the control API alike.
Signatures are computed here from the contract (not with the simulator's or the client's code)."""

import base64
import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import requests

from mimecast_simulator import SIM_CREDENTIALS as C
from mimecast_simulator import SimulatorServer
from tests.mimecast.client_sim import self_signed_cert, serve_download
from tests.simulator.sim_http import post, token_response

MEMBERS = "/api/directory/get-group-members"
FIND_GROUPS = "/api/directory/find-groups"
DECODE = "/api/ttp/url/decode-url"
DISCOVER = "/api/login/discover-authentication"
SIEM_BATCH = "/siem/v1/batch/events/cg"


def add_fault(srv, via, **fields):
    """Add a fault in-process or over the control API (same fields either way)."""
    if via == "api":
        return srv.faults.add(**fields).to_dict()
    r = requests.post(srv.base_url + "/_sim/faults", json=fields, timeout=10)
    assert r.status_code == 201, r.text
    return r.json()["fault"]


@pytest.fixture(autouse=True)
def clean(srv):
    srv.faults.clear()
    srv.configure(token_lifetime_s=1799, discovery_region_api=None)
    yield
    srv.faults.clear()
    srv.configure(token_lifetime_s=1799, discovery_region_api=None)


def group(srv, minimum=5):
    return next(g for g in srv.state.groups if len(g["members"]) >= minimum)


# --- redirect -----------------------------------------------------------------------------------


@pytest.mark.parametrize("via", ["api", "control"])
def test_redirect_answers_a_3xx_with_the_location_and_does_not_run_the_function(srv, via):
    fault = add_fault(srv, via, path=DECODE, kind="redirect", location="https://evil.example/x", count=1)
    assert (fault["kind"], fault["status"], fault["location"]) == ("redirect", 302, "https://evil.example/x")
    r = post(srv, DECODE, [{"url": "https://protect-eu.mimecast.com/s/abc"}])
    assert r.status_code == 302
    assert r.headers["Location"] == "https://evil.example/x"
    assert r.content == b""
    assert post(srv, DECODE, [{"url": "x"}]).status_code == 200  # count=1: used up


def test_redirect_takes_any_3xx_status_and_refuses_nonsense(srv):
    srv.faults.add(path=DECODE, kind="redirect", status=307, location="http://127.0.0.1:1/", count=1)
    assert post(srv, DECODE, [{"url": "x"}]).status_code == 307
    with pytest.raises(ValueError):
        srv.faults.add(path=DECODE, kind="redirect")
    with pytest.raises(ValueError):
        srv.faults.add(path=DECODE, kind="redirect", status=200, location="https://x/")
    with pytest.raises(ValueError):
        srv.faults.add(path=DECODE, kind="redirect", location="https://x/\r\nSet-Cookie: a=b")
    r = requests.post(srv.base_url + "/_sim/faults", json={"kind": "redirect", "status": 302}, timeout=10)
    assert r.status_code == 400
    assert srv.faults.list() == []


# --- raw ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "content_type", "status"),
    [
        ('{"meta": {"status": 200}, "data": [', "application/json", 200),
        ("[]", "application/json", 200),
        ("", "application/json", 200),
        ("<html><body>502 Bad Gateway</body></html>", "text/html", 502),
        ('{"data": []}', "text/plain", 200),
    ],
)
@pytest.mark.parametrize("via", ["api", "control"])
def test_raw_answers_exactly_the_given_body_status_and_content_type(srv, via, content, content_type, status):
    before = srv.incidents_created
    add_fault(srv, via, path=DECODE, kind="raw", content=content, content_type=content_type, status=status, count=1)
    r = post(srv, DECODE, [{"url": "x"}])
    assert r.status_code == status
    assert r.content == content.encode()
    assert r.headers["Content-Type"] == content_type
    assert r.headers["Content-Length"] == str(len(content.encode()))
    assert srv.incidents_created == before


def test_raw_takes_bytes_in_process_base64_over_the_control_api_and_extra_headers(srv):
    blob = b"\x89PNG\r\n\x1a\n\x00\xff"
    serve_download(srv, DECODE, blob, "../../x.png")
    listed = requests.get(srv.base_url + "/_sim/faults", timeout=10).json()["faults"][0]
    assert base64.b64decode(listed["content_b64"]) == blob
    r = post(srv, DECODE, [{"url": "x"}])
    assert r.content == blob
    assert r.headers["Content-Disposition"] == 'attachment; filename="../../x.png"'

    add_fault(srv, "control", path=DECODE, kind="raw", content_b64=base64.b64encode(blob).decode(), count=1)
    assert post(srv, DECODE, [{"url": "x"}]).content == blob
    bad = requests.post(srv.base_url + "/_sim/faults", json={"kind": "raw", "content_b64": "not base64!"}, timeout=10)
    assert bad.status_code == 400


# --- fail with an HTTP status and a field --------------------------------------------------------


@pytest.mark.parametrize("via", ["api", "control"])
def test_fail_can_carry_an_http_status_and_a_field(srv, via):
    add_fault(
        srv, via, path=DECODE, kind="fail", status=400, code="err_validation_null", message="url is null", field="url"
    )
    r = post(srv, DECODE, [{"url": "x"}])
    assert r.status_code == 400
    body = r.json()
    assert body["meta"]["status"] == 400
    assert body["fail"] == [
        {
            "key": {"url": "x"},
            "errors": [{"code": "err_validation_null", "message": "url is null", "retryable": False, "field": "url"}],
        }
    ]


def test_fail_defaults_to_http_200_without_a_field(srv):
    srv.faults.add(path=DECODE, kind="fail", count=1)
    r = post(srv, DECODE, [{"url": "x"}])
    assert r.status_code == 200
    assert r.json()["meta"]["status"] == 200
    assert "field" not in r.json()["fail"][0]["errors"][0]


# --- repeat_token and empty_page -----------------------------------------------------------------


@pytest.mark.parametrize("via", ["api", "control"])
def test_repeat_token_hands_back_the_token_that_was_sent(srv, via):
    g = group(srv)
    add_fault(srv, via, path=MEMBERS, kind="repeat_token")
    first = post(srv, MEMBERS, [{"id": g["id"]}], meta={"pagination": {"pageSize": 2}}).json()
    token = first["meta"]["pagination"]["next"]  # no token sent: the answer is unchanged
    assert [m["emailAddress"] for m in first["data"][0]["groupMembers"]] == [
        m["emailAddress"] for m in g["members"][:2]
    ]
    second = post(srv, MEMBERS, [{"id": g["id"]}], meta={"pagination": {"pageSize": 2, "pageToken": token}}).json()
    assert second["meta"]["pagination"]["next"] == token
    # The function did run: the records are the real second page.
    assert [m["emailAddress"] for m in second["data"][0]["groupMembers"]] == [
        m["emailAddress"] for m in g["members"][2:4]
    ]


def test_repeat_token_on_the_siem_batch_repeats_next_page(srv):
    bearer = token_response(srv).json()["access_token"]
    start = (srv.state.now.date() - timedelta(days=2)).isoformat()
    params = {"type": "receipt", "pageSize": 1, "dateRangeStartsAt": start}
    headers = {"Authorization": f"Bearer {bearer}"}
    srv.faults.add(path=SIEM_BATCH, kind="repeat_token")
    first = requests.get(srv.base_url + SIEM_BATCH, params=params, headers=headers, timeout=10).json()
    second = requests.get(
        srv.base_url + SIEM_BATCH, params={**params, "nextPage": first["@nextPage"]}, headers=headers, timeout=10
    ).json()
    assert second["@nextPage"] == first["@nextPage"]
    assert second["isCaughtUp"] is False
    assert second["value"] and second["value"][0]["url"] != first["value"][0]["url"]


@pytest.mark.parametrize("via", ["api", "control"])
def test_empty_page_has_no_records_but_still_carries_a_next_token(srv, via):
    add_fault(srv, via, path=FIND_GROUPS, kind="empty_page", token="t-next", count=1)
    body = post(srv, FIND_GROUPS, [{}]).json()
    assert body == {
        "meta": {"status": 200, "pagination": {"pageSize": 0, "totalCount": 0, "next": "t-next"}},
        "data": [],
        "fail": [],
    }
    assert post(srv, FIND_GROUPS, [{}]).json()["data"][0]["folders"]


def test_empty_page_on_the_siem_batch(srv):
    bearer = token_response(srv).json()["access_token"]
    srv.faults.add(path=SIEM_BATCH, kind="empty_page", token="np-x", count=1)
    body = requests.get(
        srv.base_url + SIEM_BATCH, params={"type": "receipt"}, headers={"Authorization": f"Bearer {bearer}"}, timeout=10
    ).json()
    assert body == {"value": [], "@nextPage": "np-x", "isCaughtUp": False}


# --- skip -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("via", ["api", "control"])
def test_skip_lets_the_first_matching_calls_through_without_using_up_count(srv, via):
    fault = add_fault(srv, via, path=DECODE, kind="status", status=503, skip=2, count=1)
    assert fault["skip"] == 2
    assert [post(srv, DECODE, [{"url": "x"}]).status_code for _ in range(4)] == [200, 200, 503, 200]
    assert srv.faults.list() == []
    with pytest.raises(ValueError):
        srv.faults.add(path=DECODE, kind="status", skip=-1)


# --- token lifetime -------------------------------------------------------------------------------


def test_token_lifetime_sets_expires_in_and_the_server_side_expiry(srv, monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(srv.auth, "clock", lambda: now[0])
    assert token_response(srv).json()["expires_in"] == 1799
    r = requests.post(srv.base_url + "/_sim/config", json={"token_lifetime_s": 1}, timeout=10)
    assert r.json()["config"]["token_lifetime_s"] == 1
    answer = token_response(srv).json()
    assert answer["expires_in"] == 1
    headers = {"Authorization": "Bearer " + answer["access_token"], "Accept": "application/json"}
    assert requests.post(srv.base_url + DECODE, json={"data": [{"url": "x"}]}, headers=headers, timeout=10).ok
    now[0] += 1.2
    late = requests.post(srv.base_url + DECODE, json={"data": [{"url": "x"}]}, headers=headers, timeout=10)
    assert late.status_code == 401
    assert late.json()["fail"][0]["code"] == "token_expired"
    for bad in (0, -5, "soon"):
        assert (
            requests.post(srv.base_url + "/_sim/config", json={"token_lifetime_s": bad}, timeout=10).status_code == 400
        )
    with pytest.raises(ValueError):
        srv.configure(token_lifetime_s=0)


# --- discovery region -----------------------------------------------------------------------------


def discover(srv):
    headers = {
        "x-mc-app-id": C.app_id,
        "x-mc-date": datetime.now(UTC).strftime("%a, %d %b %Y %H:%M:%S UTC"),
        "x-mc-req-id": str(uuid.uuid4()),
    }
    r = requests.post(
        srv.base_url + DISCOVER, json={"data": [{"emailAddress": C.username}]}, headers=headers, timeout=10
    )
    assert r.status_code == 200
    return r.json()["data"][0]["region"]["api"]


def test_discovery_names_this_server_unless_the_region_is_configured(srv):
    assert discover(srv) == srv.base_url
    srv.configure(discovery_region_api="https://eu-api.mimecast.com")
    assert discover(srv) == "https://eu-api.mimecast.com"
    r = requests.post(srv.base_url + "/_sim/config", json={"discovery_region_api": "https://evil.example"}, timeout=10)
    assert r.json()["config"]["discovery_region_api"] == "https://evil.example"
    assert discover(srv) == "https://evil.example"
    requests.post(srv.base_url + "/_sim/config", json={"discovery_region_api": None}, timeout=10)
    assert discover(srv) == srv.base_url
    assert requests.post(srv.base_url + "/_sim/config", json={"discovery_region_api": 5}, timeout=10).status_code == 400


# --- form bodies are recorded, and redacted over the control API -----------------------------------


def test_form_bodies_are_recorded_and_secrets_redacted_over_the_control_api(srv):
    srv.calls.clear()
    token_response(srv)
    call = srv.calls_to("/oauth/token")[-1]
    assert call.form == {"client_id": C.client_id, "client_secret": C.client_secret, "grant_type": "client_credentials"}
    listed = requests.get(srv.base_url + "/_sim/calls", params={"path": "/oauth/token"}, timeout=10).json()
    form = listed["calls"][-1]["form"]
    assert form == {"client_id": C.client_id, "client_secret": "<redacted>", "grant_type": "client_credentials"}
    assert C.client_secret not in json.dumps(listed)


# --- TLS --------------------------------------------------------------------------------------------


def test_the_simulator_can_serve_https_with_a_given_certificate(tmp_path):
    certfile, keyfile = self_signed_cert(tmp_path)
    server = SimulatorServer(host="127.0.0.1", port=0, seed=1, tls_certfile=certfile, tls_keyfile=keyfile).start()
    try:
        assert server.base_url.startswith("https://127.0.0.1:")
        assert requests.get(server.base_url + "/_sim/health", verify=certfile, timeout=10).json()["status"] == "ok"
        with pytest.raises(requests.exceptions.SSLError):
            requests.get(server.base_url + "/_sim/health", timeout=10)  # not trusted by default
        with pytest.raises(requests.exceptions.ConnectionError):
            requests.get(server.base_url.replace("https", "http") + "/_sim/health", timeout=5)
        # The server keeps serving after refused handshakes.
        assert requests.get(server.base_url + "/_sim/health", verify=certfile, timeout=10).ok
    finally:
        server.stop()
