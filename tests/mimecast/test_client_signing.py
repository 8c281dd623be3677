import base64
import hashlib
import hmac
from datetime import UTC, datetime

from investigations.mimecast import MimecastClient, MimecastConfig
from investigations.mimecast.auth import format_mc_date

from .client_fakes import ScriptedSession, envelope, make_response

SECRET = base64.b64encode(b"a-very-secret-key-of-32-bytes!!!").decode()
FIXED_DATE = datetime(2015, 11, 24, 12, 50, 11, tzinfo=UTC)
FIXED_REQ_ID = "8578FCFC-A305-4D9A-99CB-F4D5ECEFE297"


def _client(session):
    config = MimecastConfig(
        api_version=1,
        base_url="https://eu-api.mimecast.com",
        app_id="app-id-123",
        app_key="app-key-456",
        access_key="access-key-789",
        secret_key=SECRET,
    )
    return MimecastClient(config, session, now=lambda: FIXED_DATE, request_id_factory=lambda: FIXED_REQ_ID)


def test_the_date_header_uses_the_contract_format():
    assert format_mc_date(FIXED_DATE) == "Tue, 24 Nov 2015 12:50:11 UTC"


def test_api1_requests_carry_the_hmac_signature_from_the_contract_recipe():
    session = ScriptedSession(make_response(200, envelope([{"url": "https://example.com", "success": True}])))
    _client(session).decode_url("https://protect-eu.mimecast.com/s/abc")

    sent = session.requests[0]
    headers = sent["headers"]
    date = "Tue, 24 Nov 2015 12:50:11 UTC"
    data_to_sign = f"{date}:{FIXED_REQ_ID}:/api/ttp/url/decode-url:app-key-456"
    expected = base64.b64encode(
        hmac.new(base64.b64decode(SECRET), data_to_sign.encode(), hashlib.sha1).digest()
    ).decode()
    assert headers["Authorization"] == f"MC access-key-789:{expected}"
    assert headers["x-mc-date"] == date
    assert headers["x-mc-req-id"] == FIXED_REQ_ID
    assert headers["x-mc-app-id"] == "app-id-123"
    assert headers["Content-Type"] == "application/json"
    assert headers["Accept"] == "application/json"
    assert sent["url"] == "https://eu-api.mimecast.com/api/ttp/url/decode-url"
    assert sent["method"] == "POST"
    assert session.body() == {"data": [{"url": "https://protect-eu.mimecast.com/s/abc"}]}


def test_every_request_sets_timeouts_verification_and_never_follows_redirects():
    session = ScriptedSession(make_response(200, envelope([{"url": "https://example.com", "success": True}])))
    _client(session).decode_url("https://protect-eu.mimecast.com/s/abc")
    sent = session.requests[0]
    assert sent["timeout"] == (5.0, 60.0)
    assert sent["verify"] is True
    assert sent["allow_redirects"] is False


def test_each_request_gets_a_fresh_request_id_and_date_by_default():
    session = ScriptedSession(
        make_response(200, envelope([{"url": "https://a.example", "success": True}])),
        make_response(200, envelope([{"url": "https://b.example", "success": True}])),
    )
    config = MimecastConfig(
        base_url="https://eu-api.mimecast.com", app_id="a", app_key="k", access_key="ak", secret_key=SECRET
    )
    client = MimecastClient(config, session)
    client.decode_url("https://x")
    client.decode_url("https://y")
    ids = [r["headers"]["x-mc-req-id"] for r in session.requests]
    assert ids[0] != ids[1]
    assert all(len(i) == 36 for i in ids)
