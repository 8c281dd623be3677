"""API 1.0 request signing and transport settings, checked against the simulator over loopback HTTP
(and HTTPS): the simulator verifies every signature itself, and the expected values are computed
here from the contract recipe, not with the client's or the simulator's code."""

import base64
import hashlib
import hmac
from datetime import UTC, datetime

import pytest

from investigations.mimecast import MimecastAuthError, MimecastClient, MimecastConfig, MimecastTimeout
from investigations.mimecast.auth import format_mc_date
from investigations.mimecast.errors import MimecastConnectionError
from tests.mimecast.client_sim import call_value, calls_to, creds, self_signed_cert, sim_config, start_simulator

DECODE = "/api/ttp/url/decode-url"
FIXED_DATE = datetime(2015, 11, 24, 12, 50, 11, tzinfo=UTC)
FIXED_REQ_ID = "8578FCFC-A305-4D9A-99CB-F4D5ECEFE297"


pytestmark = pytest.mark.usefixtures("_no_faults")


def _protected_url(srv):
    return next(
        (rewritten, original) for m in srv.state.messages for original, rewritten in m.urls if rewritten != original
    )


def test_the_date_header_uses_the_contract_format():
    assert format_mc_date(FIXED_DATE) == "Tue, 24 Nov 2015 12:50:11 UTC"


def test_api1_requests_carry_the_hmac_signature_from_the_contract_recipe(srv):
    # The simulator refuses dates more than 15 minutes off, so the fixed date is "now".
    now = datetime.now(UTC).replace(microsecond=0)
    client = MimecastClient(sim_config(srv, "keys"), now=lambda: now, request_id_factory=lambda: FIXED_REQ_ID)
    url, original = _protected_url(srv)
    assert client.decode_url(url).url == original

    sent = calls_to(srv, DECODE)[-1]
    headers = call_value(sent, "headers")
    c = creds()
    date = now.strftime("%a, %d %b %Y %H:%M:%S UTC")
    data_to_sign = f"{date}:{FIXED_REQ_ID}:{DECODE}:{c.app_key}"
    expected = base64.b64encode(
        hmac.new(base64.b64decode(c.secret_key), data_to_sign.encode(), hashlib.sha1).digest()
    ).decode()
    assert headers["Authorization"] == f"MC {c.access_key}:{expected}"
    assert headers["x-mc-date"] == date
    assert headers["x-mc-req-id"] == FIXED_REQ_ID
    assert headers["x-mc-app-id"] == c.app_id
    assert headers["Content-Type"] == "application/json"
    assert headers["Accept"] == "application/json"
    assert call_value(sent, "method") == "POST"
    assert call_value(sent, "json") == {"data": [{"url": url}]}
    assert call_value(sent, "status") == 200  # the simulator checked the signature too


def test_a_signature_from_a_wrong_app_key_is_refused_by_the_simulator(srv):
    client = MimecastClient(sim_config(srv, "keys", app_key="not-the-app-key"))
    url, _ = _protected_url(srv)
    with pytest.raises(MimecastAuthError) as excinfo:
        client.decode_url(url)
    assert excinfo.value.status == 401
    assert call_value(calls_to(srv, DECODE)[-1], "status") == 401


def test_each_request_gets_a_fresh_request_id_and_date_by_default(srv):
    client = MimecastClient(sim_config(srv, "keys"))
    url, _ = _protected_url(srv)
    before = len(calls_to(srv, DECODE))
    client.decode_url(url)
    client.decode_url(url)
    calls = calls_to(srv, DECODE)[before:]
    ids = [call_value(c, "headers")["x-mc-req-id"] for c in calls]
    assert ids[0] != ids[1]
    assert all(len(i) == 36 for i in ids)
    dates = [call_value(c, "headers")["x-mc-date"] for c in calls]
    assert all(d.endswith(" UTC") for d in dates)
    assert [call_value(c, "status") for c in calls] == [200, 200]


def test_the_default_timeouts_and_certificate_verification():
    config = MimecastConfig()
    assert (config.connect_timeout, config.read_timeout) == (5.0, 60.0)
    assert config.verify_ssl is True


def test_the_read_timeout_is_applied_to_every_request(srv):
    import time

    client = MimecastClient(sim_config(srv, "keys", read_timeout=0.4, max_retries=0))
    url, _ = _protected_url(srv)
    srv.faults.add(path=DECODE, kind="hang", seconds=2.0, count=1)
    started = time.monotonic()
    with pytest.raises(MimecastTimeout):
        client.decode_url(url)
    assert time.monotonic() - started < 1.5


@pytest.fixture(scope="module")
def tls_srv(tmp_path_factory):
    certfile, keyfile = self_signed_cert(tmp_path_factory.mktemp("tls"))
    server = start_simulator(tls_certfile=certfile, tls_keyfile=keyfile)
    yield server
    server.stop()


def test_certificates_are_verified_by_default(tls_srv):
    assert tls_srv.base_url.startswith("https://")
    client = MimecastClient(sim_config(tls_srv, "keys"))
    url, _ = _protected_url(tls_srv)
    before = len(tls_srv.calls)
    with pytest.raises(MimecastConnectionError) as excinfo:
        client.decode_url(url)
    assert "certificate" in str(excinfo.value)
    assert excinfo.value.retryable is False
    assert len(tls_srv.calls) == before  # the handshake failed: no request reached the server


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_verification_can_be_switched_off_for_a_test_server(tls_srv):
    client = MimecastClient(sim_config(tls_srv, "keys", verify_ssl=False))
    url, original = _protected_url(tls_srv)
    assert client.decode_url(url).url == original
    assert call_value(calls_to(tls_srv, DECODE)[-1], "status") == 200
