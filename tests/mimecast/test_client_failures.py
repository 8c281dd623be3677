"""Failure paths against the simulator over loopback HTTP: rate limits, 5xx, hangs, refusals,
credential expiry, malformed answers, and no secrets in any log line."""

import base64
import logging

import pytest

from investigations.mimecast import (
    MimecastApiError,
    MimecastAuthError,
    MimecastBadResponse,
    MimecastServerError,
    MimecastTimeout,
)
from tests.mimecast.client_sim import call_value, calls_to, creds, sim_client

SUMMARY = "/api/awareness-training/company/get-safe-score-summary"


pytestmark = pytest.mark.usefixtures("_no_faults")


@pytest.mark.slow  # waits the 2 s reset for real
def test_429_with_a_2000_ms_reset_is_retried_no_sooner_than_2_seconds_later(srv):
    client = sim_client(srv, "keys")
    srv.faults.add(path=SUMMARY, kind="rate_limit", reset_ms=2000, count=1)
    client.get_safe_score_summary()
    calls = calls_to(srv, SUMMARY)[-2:]
    assert [call_value(c, "status") for c in calls] == [429, 200]
    assert call_value(calls[1], "time") - call_value(calls[0], "time") >= 2.0


def test_three_503s_then_200_succeeds(srv):
    client = sim_client(srv, "keys")
    before = len(calls_to(srv, SUMMARY))
    srv.faults.add(path=SUMMARY, kind="status", status=503, count=3)
    assert client.get_safe_score_summary().counts
    statuses = [call_value(c, "status") for c in calls_to(srv, SUMMARY)[before:]]
    assert statuses == [503, 503, 503, 200]


def test_endless_5xx_stops_at_the_retry_bound_with_a_server_error(srv):
    client = sim_client(srv, "keys", max_retries=2)
    before = len(calls_to(srv, SUMMARY))
    srv.faults.add(path=SUMMARY, kind="status", status=500, count=10)
    with pytest.raises(MimecastServerError) as excinfo:
        client.get_safe_score_summary()
    assert excinfo.value.status == 500
    assert "try again later" in str(excinfo.value)
    assert len(calls_to(srv, SUMMARY)) - before == 3


def test_a_hang_times_out_and_is_retried(srv):
    client = sim_client(srv, "keys", read_timeout=0.5)
    srv.faults.add(path=SUMMARY, kind="hang", seconds=1.5, count=1)
    before = len(calls_to(srv, SUMMARY))
    assert client.get_safe_score_summary().counts
    assert len(calls_to(srv, SUMMARY)) - before >= 1  # the hung call may be recorded after it finishes


def test_a_hang_on_every_attempt_ends_in_a_timeout_error(srv):
    client = sim_client(srv, "keys", read_timeout=0.3, max_retries=1)
    srv.faults.add(path=SUMMARY, kind="hang", seconds=0.8, count=2)
    with pytest.raises(MimecastTimeout) as excinfo:
        client.get_safe_score_summary()
    assert excinfo.value.retryable is True


def test_a_400_is_not_retried(srv):
    client = sim_client(srv, "keys")
    before = len(calls_to(srv, SUMMARY))
    srv.faults.add(path=SUMMARY, kind="status", status=400, count=5)
    with pytest.raises(MimecastApiError) as excinfo:
        client.get_safe_score_summary()
    assert excinfo.value.status == 400
    assert len(calls_to(srv, SUMMARY)) - before == 1


def test_an_expired_binding_gives_exactly_one_relogin(srv):
    client = sim_client(srv, "login")
    client.get_safe_score_summary()
    logins = len(calls_to(srv, "/api/login/login"))
    assert srv.expire_binding(client._keys.access_key)
    assert client.get_safe_score_summary().counts
    assert len(calls_to(srv, "/api/login/login")) == logins + 1
    last_two = [call_value(c, "status") for c in calls_to(srv, SUMMARY)[-2:]]
    assert last_two == [418, 200]


def test_an_expired_token_gives_exactly_one_refresh(srv):
    client = sim_client(srv, "oauth")
    client.get_safe_score_summary()
    tokens = len(calls_to(srv, "/oauth/token"))
    assert srv.expire_tokens() >= 1
    assert client.get_safe_score_summary().counts
    assert len(calls_to(srv, "/oauth/token")) == tokens + 1


@pytest.mark.parametrize(
    ("mode", "refusal", "renewal"),
    [("login", 418, "/api/login/login"), ("oauth", 401, "/oauth/token")],
    ids=["binding-stays-expired-relogs-in-once", "token-refused-twice-refreshed-once"],
)
def test_credentials_refused_after_one_renewal_give_an_auth_error(srv, mode, refusal, renewal):
    client = sim_client(srv, mode)
    client.get_safe_score_summary()
    renewals = len(calls_to(srv, renewal))
    srv.faults.add(path=SUMMARY, kind="status", status=refusal, count=5)
    with pytest.raises(MimecastAuthError):
        client.get_safe_score_summary()
    assert len(calls_to(srv, renewal)) == renewals + 1


def test_wrong_client_secret_is_a_plain_auth_error(srv):
    client = sim_client(srv, "oauth", client_secret="wrong")
    with pytest.raises(MimecastAuthError) as excinfo:
        client.get_safe_score_summary()
    assert excinfo.value.code == "InvalidClientIdentifier"


def test_wrong_password_is_a_plain_auth_error(srv):
    client = sim_client(srv, "login", password="wrong-password")
    with pytest.raises(MimecastAuthError) as excinfo:
        client.get_safe_score_summary()
    assert "wrong-password" not in str(excinfo.value)


def test_wrong_app_key_is_reported_as_such(srv):
    client = sim_client(srv, "keys", app_id="not-the-app")
    with pytest.raises(MimecastAuthError) as excinfo:
        client.get_safe_score_summary()
    assert excinfo.value.code == "err_developer_key"
    assert "application ID" in str(excinfo.value)


def test_a_fail_entry_gives_a_typed_error_with_its_code_and_message(srv):
    client = sim_client(srv, "keys")
    srv.faults.add(path=SUMMARY, kind="fail", code="err_validation_blank", message="id must not be blank", count=1)
    with pytest.raises(MimecastApiError) as excinfo:
        client.get_safe_score_summary()
    assert excinfo.value.code == "err_validation_blank"
    assert excinfo.value.errors[0]["message"] == "id must not be blank"
    assert str(excinfo.value)


def test_a_non_2xx_meta_status_gives_a_typed_error(srv):
    client = sim_client(srv, "keys")
    srv.faults.add(path=SUMMARY, kind="meta_status", status=403, count=1)
    with pytest.raises(MimecastAuthError) as excinfo:
        client.get_safe_score_summary()
    assert excinfo.value.status == 403


def test_truncated_json_gives_a_typed_error(srv):
    client = sim_client(srv, "keys")
    srv.faults.add(path=SUMMARY, kind="truncate", count=1)
    with pytest.raises(MimecastBadResponse) as excinfo:
        client.get_safe_score_summary()
    assert "cut off" in str(excinfo.value)


def test_the_fault_on_every_endpoint_applies_to_the_login_too(srv):
    client = sim_client(srv, "login")
    srv.faults.add(path="*", kind="status", status=503, count=2)
    assert client.get_safe_score_summary().counts


class _Capture(logging.Handler):
    def __init__(self):
        super().__init__(level=logging.DEBUG)
        self.texts = []
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record):
        self.texts.append(self.format(record))
        self.texts.append(repr(record.__dict__))


def test_no_secret_ever_appears_in_any_log_line(srv):
    capture = _Capture()
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(capture)
    root.setLevel(logging.DEBUG)
    for name in ("urllib3", "urllib3.connectionpool", "requests", "investigations.mimecast"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    try:
        login_client = sim_client(srv, "login")
        login_client.get_safe_score_summary()
        srv.expire_binding(login_client._keys.access_key)
        login_client.get_safe_score_summary()
        ad_client = sim_client(srv, "ad")
        ad_client.get_safe_score_summary()
        keys_client = sim_client(srv, "keys")
        keys_client.get_safe_score_summary()
        oauth_client = sim_client(srv, "oauth")
        oauth_client.get_safe_score_summary()
        first_token = oauth_client._tokens.get()
        srv.expire_tokens()
        oauth_client.get_safe_score_summary()
        srv.faults.add(path=SUMMARY, kind="fail", count=1)
        with pytest.raises(MimecastApiError):
            oauth_client.get_safe_score_summary()
        with pytest.raises(MimecastAuthError):
            sim_client(srv, "login", password="Another-Secret-Pw1").get_safe_score_summary()
    finally:
        root.removeHandler(capture)
        root.setLevel(old_level)

    c = creds()
    secrets = [
        c.app_key,
        c.access_key,
        c.secret_key,
        c.password,
        c.ad_password,
        c.client_secret,
        login_client._keys.access_key,
        login_client._keys.secret_key,
        ad_client._keys.secret_key,
        first_token,
        oauth_client._tokens.get(),
        base64.b64encode(f"{c.username}:{c.password}".encode()).decode(),
        "Another-Secret-Pw1",
    ]
    logged = "\n".join(capture.texts)
    assert "mimecast POST /api/login/login" in logged
    assert "urllib3" in logged
    for secret in secrets:
        assert secret
        assert secret not in logged


def test_concurrent_calls_on_one_client_share_a_single_login(srv):
    from concurrent.futures import ThreadPoolExecutor

    client = sim_client(srv, "login")
    logins = len(calls_to(srv, "/api/login/login"))
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda _: client.get_safe_score_summary(), range(16)))
    assert all(r.counts for r in results)
    assert len(calls_to(srv, "/api/login/login")) == logins + 1
