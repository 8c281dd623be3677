"""The simulator authenticates, rate-limits, injects faults and records calls like Mimecast does.

Signatures are computed here from the contract (not with the simulator's or the client's code).
"""

import base64
import gzip
import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
import requests

from mimecast_simulator import SIM_CREDENTIALS as C
from tests.simulator.sim_http import mc_date, post, signed_headers, token_response

FINDER = "/api/message-finder/search"
WEEK_AGO = (datetime.now(UTC) - timedelta(days=7)).strftime("%Y-%m-%dT%H:%M:%S+0000")
FINDER_BODY = [{"advancedTrackAndTraceOptions": {"from": "m365-secure-login.com"}, "start": WEEK_AGO}]


def error_code(resp):
    return resp.json()["fail"][0]["errors"][0]["code"]


def bearer_token(srv):
    r = token_response(srv)
    assert r.status_code == 200
    return r.json()["access_token"]


@pytest.fixture(autouse=True)
def clean(srv):
    srv.faults.clear()
    srv.configure(rate_limit_per_minute=None, rate_limit_burst=None, latency_ms=0)
    yield
    srv.faults.clear()


# --- API 1.0 ----------------------------------------------------------------------------------


def test_it_accepts_a_correctly_signed_request(srv):
    r = post(srv, FINDER, FINDER_BODY)
    assert r.status_code == 200
    assert r.json()["meta"]["status"] == 200
    assert r.json()["fail"] == []


def test_it_refuses_a_signature_off_by_one_character(srv):
    headers = signed_headers(FINDER)
    scheme_key, sig = headers["Authorization"].rsplit(":", 1)
    flipped = ("B" if sig[0] != "B" else "C") + sig[1:]
    headers["Authorization"] = f"{scheme_key}:{flipped}"
    r = requests.post(srv.base_url + FINDER, json={"data": FINDER_BODY}, headers=headers, timeout=10)
    assert r.status_code == 401
    assert error_code(r) == "err_xdk_client_unauthorized"
    assert r.json()["meta"]["status"] == 401


def test_it_refuses_a_signature_for_another_path(srv):
    headers = signed_headers("/api/archive/search")
    r = requests.post(srv.base_url + FINDER, json={"data": FINDER_BODY}, headers=headers, timeout=10)
    assert r.status_code == 401


def test_it_refuses_a_signature_made_with_the_wrong_app_key(srv):
    r = post(srv, FINDER, FINDER_BODY, app_key="00000000-0000-0000-0000-000000000000")
    assert r.status_code == 401
    assert error_code(r) == "err_xdk_client_unauthorized"


def test_it_refuses_an_unknown_access_key(srv):
    r = post(srv, FINDER, FINDER_BODY, access_key="not-a-real-access-key")
    assert r.status_code == 401
    assert error_code(r) == "err_xdk_client_unauthorized"


def test_it_refuses_an_unknown_app_id_with_err_developer_key(srv):
    r = post(srv, FINDER, FINDER_BODY, app_id="11111111-2222-3333-4444-555555555555")
    assert r.status_code == 401
    assert error_code(r) == "err_developer_key"


def test_it_refuses_a_request_without_date_or_request_id(srv):
    headers = signed_headers(FINDER)
    del headers["x-mc-req-id"]
    r = requests.post(srv.base_url + FINDER, json={"data": FINDER_BODY}, headers=headers, timeout=10)
    assert r.status_code == 401
    assert "x-mc-req-id" in r.json()["fail"][0]["errors"][0]["message"]


def test_it_refuses_a_date_far_from_server_time(srv):
    r = post(srv, FINDER, FINDER_BODY, date=mc_date(datetime.now(UTC) - timedelta(hours=2)))
    assert r.status_code == 401


def test_discover_authentication_is_unsigned_and_points_at_the_regional_api(srv):
    headers = {"x-mc-app-id": C.app_id, "x-mc-date": mc_date(), "x-mc-req-id": str(uuid.uuid4())}
    r = requests.post(
        srv.base_url + "/api/login/discover-authentication",
        json={"data": [{"emailAddress": C.username}]},
        headers=headers,
        timeout=10,
    )
    assert r.status_code == 200
    item = r.json()["data"][0]
    assert item["region"]["api"] == srv.base_url
    assert "cloud" in item["authenticate"]


def login(srv, scheme, username, password, body_extra=None):
    headers = {
        "Authorization": f"{scheme} " + base64.b64encode(f"{username}:{password}".encode()).decode(),
        "x-mc-app-id": C.app_id,
        "x-mc-date": mc_date(),
        "x-mc-req-id": str(uuid.uuid4()),
        "Content-Type": "application/json",
    }
    body = {"data": [{"userName": username, **(body_extra or {})}]}
    return requests.post(srv.base_url + "/api/login/login", json=body, headers=headers, timeout=10)


def test_basic_cloud_login_returns_a_new_binding_that_signs_requests(srv):
    r = login(srv, "Basic-Cloud", C.username, C.password)
    assert r.status_code == 200
    binding = r.json()["data"][0]
    assert binding["accessKey"] != C.access_key
    assert binding["duration"] == 43200000
    assert binding["bindingType"] == "one_step"
    ok = post(srv, FINDER, FINDER_BODY, access_key=binding["accessKey"], secret_key=binding["secretKey"])
    assert ok.status_code == 200


def test_basic_ad_login_uses_the_domain_password(srv):
    assert login(srv, "Basic-AD", C.ad_username, C.ad_password).status_code == 200
    assert login(srv, "Basic-Cloud", C.ad_username, C.ad_password).status_code == 401


def test_login_refuses_a_wrong_password(srv):
    r = login(srv, "Basic-Cloud", C.username, C.password + "x")
    assert r.status_code == 401
    assert error_code(r) == "err_xdk_client_unauthorized"


def test_an_expired_binding_answers_418_until_login_refreshes_it(srv):
    b = login(srv, "Basic-Cloud", C.username, C.password).json()["data"][0]
    assert srv.expire_binding(b["accessKey"])
    r = post(srv, FINDER, FINDER_BODY, access_key=b["accessKey"], secret_key=b["secretKey"])
    assert r.status_code == 418
    assert error_code(r) == "err_xdk_binding_expired"
    assert "AccessKey has expired" in r.json()["fail"][0]["errors"][0]["message"]
    refreshed = login(srv, "Basic-Cloud", C.username, C.password, {"accessKey": b["accessKey"]}).json()["data"][0]
    assert refreshed["accessKey"] == b["accessKey"]
    assert post(srv, FINDER, FINDER_BODY, access_key=b["accessKey"], secret_key=b["secretKey"]).status_code == 200


# --- API 2.0 ----------------------------------------------------------------------------------


def test_oauth_client_credentials_give_a_bearer_token_valid_for_1799_seconds(srv):
    r = token_response(srv)
    assert r.status_code == 200
    assert r.json()["expires_in"] == 1799
    assert r.json()["token_type"] == "Bearer"
    api = requests.post(
        srv.base_url + FINDER,
        json={"data": FINDER_BODY},
        headers={"Authorization": "Bearer " + r.json()["access_token"]},
        timeout=10,
    )
    assert api.status_code == 200
    assert api.json()["data"][0]["trackedEmails"]


def test_oauth_refuses_a_bad_client_with_invalid_client_identifier(srv):
    r = requests.post(
        srv.base_url + "/oauth/token",
        data={"client_id": C.client_id, "client_secret": "wrong", "grant_type": "client_credentials"},
        timeout=10,
    )
    assert r.status_code == 401
    assert r.json()["fail"][0]["code"] == "InvalidClientIdentifier"


def test_an_unknown_bearer_token_gets_token_expired(srv):
    r = requests.post(
        srv.base_url + FINDER, json={"data": FINDER_BODY}, headers={"Authorization": "Bearer made-up"}, timeout=10
    )
    assert r.status_code == 401
    assert r.json()["fail"][0]["code"] == "token_expired"


def test_expire_tokens_makes_the_next_call_401_token_expired(srv):
    token = bearer_token(srv)
    srv.expire_tokens()
    r = requests.post(
        srv.base_url + FINDER, json={"data": FINDER_BODY}, headers={"Authorization": "Bearer " + token}, timeout=10
    )
    assert r.status_code == 401
    assert r.json()["fail"][0]["code"] == "token_expired"
    fresh = bearer_token(srv)
    ok = requests.post(
        srv.base_url + FINDER, json={"data": FINDER_BODY}, headers={"Authorization": "Bearer " + fresh}, timeout=10
    )
    assert ok.status_code == 200


# --- rate limits --------------------------------------------------------------------------------


def test_every_response_carries_rate_limit_headers(srv):
    r = post(srv, FINDER, FINDER_BODY)
    for name in ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"):
        assert name in r.headers
    bad = post(srv, FINDER, FINDER_BODY, access_key="unknown")
    assert "X-RateLimit-Remaining" in bad.headers


@pytest.fixture
def rate_clock(srv, monkeypatch):
    """The rate buckets' clock (seconds), standing still until a test moves it."""
    now = [1000.0]
    monkeypatch.setattr(srv.rate, "clock", lambda: now[0])
    return now


def test_it_answers_429_and_does_not_run_the_function_once_the_budget_is_spent(srv, rate_clock):
    srv.configure(rate_limit_per_minute=3)
    statuses = [post(srv, FINDER, FINDER_BODY) for _ in range(3)]
    assert [r.status_code for r in statuses] == [200, 200, 200]
    assert [int(r.headers["X-RateLimit-Remaining"]) for r in statuses] == [2, 1, 0]
    assert all(r.headers["X-RateLimit-Limit"] == "3" for r in statuses)
    before = srv.incidents_created
    r = post(
        srv,
        "/api/ttp/remediation/create",
        [{"reason": "x", "searchBy": "hash", "hashOrMessageId": srv.state.story["macro_sha256"]}],
    )
    assert r.status_code == 429
    assert r.headers["X-RateLimit-Remaining"] == "0"
    assert 0 < int(r.headers["X-RateLimit-Reset"]) <= 20_000  # 3 per minute: one back within 20 s
    assert srv.incidents_created == before


def test_the_bucket_refills_over_time(srv, rate_clock):
    srv.configure(rate_limit_per_minute=60)  # one call back per second
    while srv.rate.take("user:" + C.username)[0]:
        pass
    r = post(srv, FINDER, FINDER_BODY)
    assert r.status_code == 429
    assert 0 < int(r.headers["X-RateLimit-Reset"]) <= 1000
    rate_clock[0] += int(r.headers["X-RateLimit-Reset"]) / 1000 - 0.01
    assert post(srv, FINDER, FINDER_BODY).status_code == 429
    rate_clock[0] += 0.02
    assert post(srv, FINDER, FINDER_BODY).status_code == 200


def test_a_burst_size_limits_the_bucket_to_that_many_calls_at_once(srv, rate_clock):
    # 1,200 a minute is 20 a second; a bucket of 20 means no more than one second's budget at once.
    srv.configure(rate_limit_per_minute=1200, rate_limit_burst=20)
    before = len(srv.calls_to(FINDER))
    answers = [post(srv, FINDER, FINDER_BODY) for _ in range(30)]
    assert [r.status_code for r in answers] == [200] * 20 + [429] * 10
    assert all(r.headers["X-RateLimit-Limit"] == "20" for r in answers)
    assert all(r.headers["X-RateLimit-Reset"] == "50" for r in answers[20:])  # one back every 50 ms
    assert len(srv.calls_to(FINDER)) == before + 30
    rate_clock[0] += 0.051  # one call back after 50 ms
    assert [post(srv, FINDER, FINDER_BODY).status_code for _ in range(2)] == [200, 429]


def test_the_burst_size_can_be_changed_at_run_time_and_the_default_keeps_a_minute_of_budget(srv):
    srv.configure(rate_limit_per_minute=120)
    assert post(srv, FINDER, FINDER_BODY).headers["X-RateLimit-Limit"] == "120"
    r = requests.post(srv.base_url + "/_sim/config", json={"rate_limit_burst": 2}, timeout=10)
    assert r.json()["config"] == {**r.json()["config"], "rate_limit_per_minute": 120, "rate_limit_burst": 2}
    assert [post(srv, FINDER, FINDER_BODY).status_code for _ in range(3)] == [200, 200, 429]
    bad = requests.post(srv.base_url + "/_sim/config", json={"rate_limit_burst": 0}, timeout=10)
    assert bad.status_code == 400


# --- faults -------------------------------------------------------------------------------------


def test_a_status_fault_answers_that_status_count_times_then_recovers(srv):
    srv.faults.add(path=FINDER, kind="status", status=503, count=3)
    codes = [post(srv, FINDER, FINDER_BODY).status_code for _ in range(4)]
    assert codes == [503, 503, 503, 200]


def test_a_rate_limit_fault_answers_429_with_the_reset_header(srv):
    srv.faults.add(path=FINDER, kind="rate_limit", reset_ms=1234, count=1)
    r = post(srv, FINDER, FINDER_BODY)
    assert r.status_code == 429
    assert r.headers["X-RateLimit-Reset"] == "1234"
    assert r.headers["X-RateLimit-Remaining"] == "0"
    assert post(srv, FINDER, FINDER_BODY).status_code == 200


def test_a_latency_fault_delays_the_answer(srv):
    srv.faults.add(path=FINDER, kind="latency", ms=300, count=1)
    t = time.monotonic()
    assert post(srv, FINDER, FINDER_BODY).status_code == 200
    assert time.monotonic() - t >= 0.3


def test_a_hang_fault_makes_the_client_time_out(srv):
    srv.faults.add(path=FINDER, kind="hang", seconds=1.0, count=1)
    with pytest.raises(requests.exceptions.Timeout):
        post(srv, FINDER, FINDER_BODY, timeout=0.3)
    # The hung answer holds no lock: the next call is served while it still waits.
    assert post(srv, FINDER, FINDER_BODY).status_code == 200


def test_a_truncate_fault_cuts_the_json_body_in_half(srv):
    srv.faults.add(path=FINDER, kind="truncate", count=1)
    r = post(srv, FINDER, FINDER_BODY)
    assert r.status_code == 200
    with pytest.raises(ValueError):
        json.loads(r.content)
    assert post(srv, FINDER, FINDER_BODY).json()["meta"]["status"] == 200


def test_a_fail_fault_answers_200_with_a_fail_entry(srv):
    srv.faults.add(path=FINDER, kind="fail", code="err_simulated", message="nope", count=1)
    r = post(srv, FINDER, FINDER_BODY)
    assert r.status_code == 200
    assert r.json()["fail"][0]["errors"][0]["code"] == "err_simulated"
    assert r.json()["fail"][0]["key"] == FINDER_BODY[0]


def test_a_meta_status_fault_answers_200_with_meta_status_403(srv):
    srv.faults.add(path=FINDER, kind="meta_status", status=403, count=1)
    r = post(srv, FINDER, FINDER_BODY)
    assert r.status_code == 200
    assert r.json()["meta"]["status"] == 403


def test_a_fault_path_ending_in_a_slash_matches_every_path_under_it(srv):
    srv.faults.add(path="/api/directory/", kind="status", status=502, count=2)
    assert post(srv, "/api/directory/find-groups", []).status_code == 502
    assert post(srv, FINDER, FINDER_BODY).status_code == 200
    assert post(srv, "/api/directory/find-groups", []).status_code == 502
    assert post(srv, "/api/directory/find-groups", []).status_code == 200


def test_a_badly_typed_field_is_a_validation_failure_not_a_crash(srv):
    r = post(srv, FINDER, [{"advancedTrackAndTraceOptions": {"from": 42}, "start": WEEK_AGO}])
    assert r.status_code == 200
    assert r.json()["fail"][0]["errors"][0]["code"] == "err_validation_invalid_type"


def test_a_star_fault_hits_every_endpoint_until_cleared(srv):
    srv.faults.add(path="*", kind="status", status=500)
    assert post(srv, FINDER, FINDER_BODY).status_code == 500
    assert post(srv, "/api/directory/find-groups", []).status_code == 500
    srv.faults.clear()
    assert post(srv, "/api/directory/find-groups", []).status_code == 200


# --- calls, control API, concurrency ------------------------------------------------------------


def test_every_call_is_recorded_with_its_details(srv):
    n = len(srv.calls)
    post(srv, FINDER, FINDER_BODY)
    call = srv.calls[n]
    assert call.method == "POST"
    assert call.path == FINDER
    assert call.json == {"data": FINDER_BODY}
    assert call.status == 200
    assert call["headers"]["x-mc-app-id"] == C.app_id
    assert call.headers["X-MC-APP-ID"] == C.app_id  # header names are case-insensitive
    assert call.time > 0


def test_the_control_api_manages_faults_config_and_reset(srv):
    base = srv.base_url
    assert requests.get(base + "/_sim/health", timeout=10).json()["messages"] == 5000
    r = requests.post(
        base + "/_sim/faults", json={"path": FINDER, "kind": "status", "status": 502, "count": 1}, timeout=10
    )
    assert r.status_code == 201
    assert post(srv, FINDER, FINDER_BODY).status_code == 502
    requests.post(base + "/_sim/faults", json={"path": FINDER, "kind": "status", "status": 502}, timeout=10)
    assert requests.delete(base + "/_sim/faults", timeout=10).status_code == 200
    assert post(srv, FINDER, FINDER_BODY).status_code == 200
    assert requests.post(base + "/_sim/faults", json={"kind": "bogus"}, timeout=10).status_code == 400
    cfg = requests.post(base + "/_sim/config", json={"rate_limit_per_minute": 50, "latency_ms": 0}, timeout=10)
    assert cfg.json()["config"]["rate_limit_per_minute"] == 50
    assert post(srv, FINDER, FINDER_BODY).headers["X-RateLimit-Limit"] == "50"
    calls = requests.get(base + "/_sim/calls", timeout=10).json()
    assert calls["count"] >= 1
    assert calls["calls"][-1]["headers"]["Authorization"] == "<redacted>"
    token = bearer_token(srv)
    requests.post(base + "/_sim/expire-tokens", timeout=10)
    assert (
        requests.post(
            base + FINDER, json={"data": FINDER_BODY}, headers={"Authorization": "Bearer " + token}, timeout=10
        ).status_code
        == 401
    )
    assert requests.post(base + "/_sim/reset", timeout=10).json() == {"reset": True}
    assert srv.calls == []


def test_it_serves_concurrent_requests(srv):
    def one(_):
        return post(srv, "/api/directory/find-groups", []).status_code

    with ThreadPoolExecutor(max_workers=16) as pool:
        codes = list(pool.map(one, range(48)))
    assert codes == [200] * 48


def test_siem_batch_needs_a_bearer_token_and_serves_signed_gzip_files(srv):
    r = requests.get(srv.base_url + "/siem/v1/batch/events/cg", timeout=10)
    assert r.status_code == 401
    token = bearer_token(srv)
    start = (srv.state.now - timedelta(days=3)).date().isoformat()
    r = requests.get(
        srv.base_url + "/siem/v1/batch/events/cg",
        params={"type": "web security", "dateRangeStartsAt": start, "pageSize": 100},
        headers={"Authorization": "Bearer " + token},
        timeout=10,
    )
    assert r.status_code == 200
    body = r.json()
    assert body["value"] and "@nextPage" in body and body["isCaughtUp"] is True
    events = []
    for f in body["value"]:
        raw = requests.get(f["url"], timeout=10)
        assert raw.status_code == 200
        assert len(raw.content) == f["size"]
        events += [json.loads(line) for line in gzip.decompress(raw.content).decode().splitlines()]
    c2 = [e for e in events if e["domain"] == srv.state.story["c2_domain"]]
    assert c2 and {"user", "timestamp", "localIp", "policy", "category", "action"} <= set(c2[0])
    tampered = body["value"][0]["url"].replace("Signature=", "Signature=x")
    assert requests.get(tampered, timeout=10).status_code == 403
