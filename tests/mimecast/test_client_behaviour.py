"""Client behaviour against a scripted session: retries, error mapping, paging, parsing."""

import base64
import gzip
import json

import pytest
import requests

from investigations.mimecast import (
    MimecastApiError,
    MimecastAuthError,
    MimecastBadResponse,
    MimecastClient,
    MimecastConfig,
    MimecastConfigError,
    MimecastInvalidRequest,
    MimecastRateLimited,
    MimecastServerError,
    MimecastTimeout,
)

from .client_fakes import ScriptedSession, envelope, make_response

SECRET = base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()


class Sleeps(list):
    def __call__(self, seconds):
        self.append(seconds)


def _client(session, api_version=1, **overrides):
    if api_version == 1:
        base = dict(
            base_url="https://eu-api.mimecast.com", app_id="app", app_key="appkey", access_key="ak", secret_key=SECRET
        )
    else:
        base = dict(
            api_version=2, base_url="https://api.services.mimecast.com", client_id="cid", client_secret="csecret"
        )
    base.update(backoff_base=0.01, backoff_max=0.05)
    base.update(overrides)
    sleeps = Sleeps()
    client = MimecastClient(MimecastConfig(**base), session, sleep=sleeps)
    return client, sleeps


def _ok_decode():
    return make_response(200, envelope([{"url": "https://decoded.example/", "success": True}]))


def test_three_503s_then_success_returns_the_result_after_backing_off():
    session = ScriptedSession(*(make_response(503, None) for _ in range(3)), _ok_decode())
    client, sleeps = _client(session)
    assert client.decode_url("https://protect").url == "https://decoded.example/"
    assert len(session.requests) == 4
    assert len(sleeps) == 3


def test_persistent_5xx_gives_a_server_error_after_the_retry_bound():
    session = ScriptedSession(*(make_response(502, None) for _ in range(3)))
    client, _sleeps = _client(session, max_retries=2)
    with pytest.raises(MimecastServerError) as excinfo:
        client.decode_url("https://protect")
    assert excinfo.value.status == 502
    assert excinfo.value.retryable is True
    assert len(session.requests) == 3


def test_429_waits_at_least_the_reset_header():
    session = ScriptedSession(make_response(429, None, headers={"X-RateLimit-Reset": "2500"}), _ok_decode())
    client, sleeps = _client(session)
    client.decode_url("https://protect")
    assert sleeps[0] >= 2.5


def test_429_asking_for_a_very_long_wait_gives_up_with_rate_limited():
    session = ScriptedSession(make_response(429, None, headers={"X-RateLimit-Reset": "3600000"}))
    client, sleeps = _client(session)
    with pytest.raises(MimecastRateLimited) as excinfo:
        client.decode_url("https://protect")
    assert excinfo.value.retry_after == 3600
    assert sleeps == []


def test_a_400_is_not_retried_and_carries_mimecast_code_message_and_field():
    body = envelope(
        [],
        fail=[{"key": {}, "errors": [{"code": "err_validation_null", "message": "must not be null", "field": "url"}]}],
        status=400,
    )
    session = ScriptedSession(make_response(400, body))
    client, sleeps = _client(session)
    with pytest.raises(MimecastApiError) as excinfo:
        client.decode_url("https://protect")
    err = excinfo.value
    assert (err.code, err.field, err.status) == ("err_validation_null", "url", 400)
    assert "missing" in err.message and "url" in err.message
    assert len(session.requests) == 1
    assert sleeps == []


def test_a_fail_entry_inside_a_200_becomes_a_typed_error():
    body = envelope(
        [],
        fail=[
            {"key": {}, "errors": [{"code": "err_managed_url_exists_code", "message": "exists", "retryable": False}]}
        ],
    )
    session = ScriptedSession(make_response(200, body))
    client, _ = _client(session)
    with pytest.raises(MimecastApiError) as excinfo:
        client.decode_url("https://protect")
    assert excinfo.value.code == "err_managed_url_exists_code"
    assert excinfo.value.errors[0]["message"] == "exists"
    assert excinfo.value.retryable is False


def test_an_unknown_fail_code_keeps_mimecasts_message_in_plain_words():
    body = envelope([], fail=[{"key": {}, "errors": [{"code": "err_weird", "message": "Something odd happened"}]}])
    client, _ = _client(ScriptedSession(make_response(200, body)))
    with pytest.raises(MimecastApiError) as excinfo:
        client.decode_url("https://protect")
    assert str(excinfo.value) == "Mimecast refused the request: Something odd happened."


def test_a_non_2xx_meta_status_inside_a_200_becomes_a_typed_error():
    session = ScriptedSession(make_response(200, envelope([{"url": "x"}], status=403)))
    client, _ = _client(session)
    with pytest.raises(MimecastAuthError) as excinfo:
        client.decode_url("https://protect")
    assert excinfo.value.status == 403


def test_truncated_json_gives_a_bad_response_error():
    text = json.dumps(envelope([{"url": "https://decoded.example/", "success": True}]))
    session = ScriptedSession(make_response(200, content=text[: len(text) // 2].encode()))
    client, _ = _client(session)
    with pytest.raises(MimecastBadResponse) as excinfo:
        client.decode_url("https://protect")
    assert "cut off" in str(excinfo.value)


@pytest.mark.parametrize(
    "content",
    [b"", b"[]", b"null", b'{"data": "x"}', b'{"data": [5]}', b"<html>oops</html>"],
)
def test_malformed_answers_never_crash(content):
    client, _ = _client(ScriptedSession(make_response(200, content=content)))
    with pytest.raises((MimecastBadResponse, MimecastApiError)):
        client.decode_url("https://protect")


def test_a_redirect_is_never_followed():
    session = ScriptedSession(make_response(302, None, headers={"Location": "https://evil.example/"}))
    client, _ = _client(session)
    with pytest.raises(MimecastBadResponse) as excinfo:
        client.decode_url("https://protect")
    assert "redirect" in str(excinfo.value)
    assert len(session.requests) == 1


def test_a_read_timeout_is_retried_then_reported():
    session = ScriptedSession(*(requests.exceptions.ReadTimeout("slow") for _ in range(3)))
    client, sleeps = _client(session, max_retries=2)
    with pytest.raises(MimecastTimeout):
        client.decode_url("https://protect")
    assert len(session.requests) == 3
    assert len(sleeps) == 2


def test_creating_an_incident_is_not_retried_after_an_ambiguous_failure():
    session = ScriptedSession(requests.exceptions.ReadTimeout("slow"))
    client, _ = _client(session)
    with pytest.raises(MimecastTimeout):
        client.create_remediation_incident(reason="phish", message_id="abc@example.com")
    assert len(session.requests) == 1

    session = ScriptedSession(make_response(500, None))
    client, _ = _client(session)
    with pytest.raises(MimecastServerError):
        client.create_remediation_incident(reason="phish", message_id="abc@example.com")
    assert len(session.requests) == 1


def test_creating_an_incident_is_retried_after_429_because_mimecast_did_not_run_it():
    incident = {"id": "inc1", "code": "TR-1", "type": "manual", "identified": 2}
    session = ScriptedSession(
        make_response(429, None, headers={"X-RateLimit-Reset": "10"}), make_response(200, envelope([incident]))
    )
    client, _ = _client(session)
    result = client.create_remediation_incident(reason="phish", message_id="abc@example.com")
    assert result.code == "TR-1"
    assert session.body()["data"][0] == {
        "reason": "phish",
        "searchBy": "messageId",
        "hashOrMessageId": "<abc@example.com>",
    }


def test_configured_keys_that_expire_give_an_auth_error_without_a_login():
    body = envelope([], fail=[{"errors": [{"code": "err_xdk_binding_expired", "message": "AccessKey has expired"}]}])
    client, _ = _client(ScriptedSession(make_response(418, body)))
    with pytest.raises(MimecastAuthError) as excinfo:
        client.decode_url("https://protect")
    assert excinfo.value.code == "err_xdk_binding_expired"


def test_group_members_page_size_is_capped_at_500_and_default_at_100():
    session = ScriptedSession(
        make_response(200, envelope([{"groupMembers": []}])), make_response(200, envelope([{"folders": []}]))
    )
    client, _ = _client(session)
    client.get_group_members("g1", page_size=5000)
    client.find_groups(page_size=5000)
    assert session.body(0)["meta"]["pagination"]["pageSize"] == 500
    assert session.body(1)["meta"]["pagination"]["pageSize"] == 100


def test_paging_follows_next_and_stops_on_a_missing_next():
    pages = [
        envelope([{"groupMembers": [{"emailAddress": "a@x"}]}], pagination={"pageSize": 1, "next": "t2"}),
        envelope([{"groupMembers": [{"emailAddress": "b@x"}]}], pagination={"pageSize": 1, "next": ""}),
    ]
    session = ScriptedSession(*(make_response(200, p) for p in pages))
    client, _ = _client(session)
    members = list(client.iter_items(client.get_group_members, "g1"))
    assert [m.email_address for m in members] == ["a@x", "b@x"]
    assert "pageToken" not in session.body(0)["meta"]["pagination"]
    assert session.body(1)["meta"]["pagination"]["pageToken"] == "t2"


def test_paging_stops_on_an_empty_page_even_if_it_carries_a_next_token():
    pages = [
        envelope([{"folders": [{"id": "f1"}]}], pagination={"next": "t2"}),
        envelope([{"folders": []}], pagination={"next": "t3"}),
    ]
    session = ScriptedSession(*(make_response(200, p) for p in pages))
    client, _ = _client(session)
    assert [g.id for g in client.iter_items(client.find_groups)] == ["f1"]
    assert len(session.requests) == 2


def test_paging_stops_when_mimecast_repeats_a_token():
    page = envelope([{"id": "m1"}], pagination={"next": "same"})
    session = ScriptedSession(*(make_response(200, page) for _ in range(3)))
    client, _ = _client(session)
    assert len(list(client.iter_pages(client.get_managed_urls))) == 2


def test_search_hash_splits_long_lists_into_calls_of_at_most_100_and_merges():
    hashes = [f"{i:064x}" for i in range(250)]

    def answer(chunk):
        return make_response(
            200,
            envelope([{"hashStatus": [{"hash": h, "detected": h.endswith("7")} for h in chunk], "failedHashes": []}]),
        )

    session = ScriptedSession(answer(hashes[:100]), answer(hashes[100:200]), answer(hashes[200:]))
    client, _ = _client(session)
    result = client.search_hashes(hashes + hashes[:3])
    assert [len(session.body(i)["data"][0]["hashes"]) for i in range(3)] == [100, 100, 50]
    assert len(result.hash_status) == 250
    assert result.detected == [h for h in hashes if h.endswith("7")]


def test_search_hash_refuses_something_that_is_not_a_hash_before_calling():
    client, _ = _client(ScriptedSession())
    with pytest.raises(MimecastInvalidRequest):
        client.search_hashes(["not-a-hash"])


def test_get_message_part_returns_the_file_bytes():
    eml = b"From: a@x\r\nSubject: hi\r\n\r\nbody"
    session = ScriptedSession(
        make_response(
            200,
            content=eml,
            content_type="application/octet-stream",
            headers={"Content-Disposition": 'attachment; filename="../../msg.eml"'},
        )
    )
    client, _ = _client(session)
    part = client.get_message_part("mid", context="DELIVERED", part_type="RFC822", mailbox="a@x")
    assert part.content == eml
    assert part.filename == "msg.eml"
    assert session.body()["data"][0] == {"id": "mid", "context": "DELIVERED", "type": "RFC822", "mailbox": "a@x"}


def test_get_message_part_reports_a_json_fail_envelope_as_an_error():
    body = envelope([], fail=[{"key": {}, "errors": [{"code": "err_message_not_found", "message": "Not found"}]}])
    client, _ = _client(ScriptedSession(make_response(200, body)))
    with pytest.raises(MimecastApiError) as excinfo:
        client.get_message_part("mid")
    assert excinfo.value.code == "err_message_not_found"


def test_api2_token_is_fetched_once_cached_and_sent_as_bearer():
    token = make_response(200, {"access_token": "tok-1", "token_type": "Bearer", "expires_in": 1799})
    session = ScriptedSession(token, _ok_decode(), _ok_decode())
    client, _ = _client(session, api_version=2)
    client.decode_url("https://a")
    client.decode_url("https://b")
    assert session.requests[0]["url"] == "https://api.services.mimecast.com/oauth/token"
    assert session.requests[0]["data"] == {
        "client_id": "cid",
        "client_secret": "csecret",
        "grant_type": "client_credentials",
    }
    assert [r["headers"].get("Authorization") for r in session.requests[1:]] == ["Bearer tok-1", "Bearer tok-1"]


def test_api2_refreshes_the_token_shortly_before_it_expires():
    now = [1000.0]
    session = ScriptedSession(
        make_response(200, {"access_token": "tok-1", "expires_in": 1800}),
        _ok_decode(),
        make_response(200, {"access_token": "tok-2", "expires_in": 1800}),
        _ok_decode(),
    )
    config = MimecastConfig(api_version=2, client_id="cid", client_secret="csecret")
    client = MimecastClient(config, session, clock=lambda: now[0])
    client.decode_url("https://a")
    now[0] += 1800 - 59
    client.decode_url("https://b")
    assert session.requests[3]["headers"]["Authorization"] == "Bearer tok-2"


def test_api2_bad_client_credentials_give_an_auth_error():
    body = {"fail": [{"code": "InvalidClientIdentifier", "message": "Client credentials are invalid"}]}
    client, _ = _client(ScriptedSession(make_response(401, body)), api_version=2)
    with pytest.raises(MimecastAuthError) as excinfo:
        client.decode_url("https://a")
    assert excinfo.value.code == "InvalidClientIdentifier"
    assert "client ID or client secret" in str(excinfo.value)


def test_siem_batch_downloads_and_parses_gzip_json_lines():
    lines = b'{"type":"receipt","id":1}\n{"type":"receipt","id":2}\n'
    batch = {
        "value": [
            {"url": "https://files.example.com/1.gz?sig=secret", "size": 40, "expiry": "2024-06-05T11:50:06.389Z"}
        ],
        "@nextPage": "np2",
        "isCaughtUp": False,
    }
    last = {"value": [], "@nextPage": "np3", "isCaughtUp": True}
    session = ScriptedSession(
        make_response(200, {"access_token": "tok", "expires_in": 1800}),
        make_response(200, batch),
        make_response(200, content=gzip.compress(lines), content_type="application/octet-stream"),
        make_response(200, last),
    )
    client, _ = _client(session, api_version=2)
    pages = list(client.iter_siem_batches(event_types=["receipt"], start_date="2024-06-01"))
    assert [e["id"] for e in pages[0].events] == [1, 2]
    assert pages[0].files[0].size == 40
    assert pages[1].is_caught_up is True
    assert session.requests[1]["method"] == "GET"
    assert session.requests[1]["params"] == {"type": "receipt", "pageSize": 100, "dateRangeStartsAt": "2024-06-01"}
    assert "Authorization" not in session.requests[2]["headers"]
    assert session.requests[3]["params"]["nextPage"] == "np2"


def test_config_from_env_reads_every_setting():
    config = MimecastConfig.from_env(
        {
            "MIMECAST_API_VERSION": "2",
            "MIMECAST_BASE_URL": "https://uk-api.services.mimecast.com",
            "MIMECAST_CLIENT_ID": "cid",
            "MIMECAST_CLIENT_SECRET": "cs",
            "MIMECAST_APP_ID": "aid",
            "MIMECAST_APP_KEY": "akey",
            "MIMECAST_ACCESS_KEY": "acc",
            "MIMECAST_SECRET_KEY": "sec",
            "MIMECAST_AUTH_TYPE": "Basic-AD",
            "MIMECAST_USERNAME": "u@x",
            "MIMECAST_PASSWORD": "pw",
            "MIMECAST_VERIFY_SSL": "false",
            "MIMECAST_ALLOWED_HOSTS": "127.0.0.1:8025, localhost",
        }
    )
    assert config.api_version == 2
    assert config.base_url == "https://uk-api.services.mimecast.com"
    assert (config.client_id, config.client_secret, config.app_id, config.app_key) == ("cid", "cs", "aid", "akey")
    assert (config.access_key, config.secret_key, config.auth_type) == ("acc", "sec", "Basic-AD")
    assert (config.username, config.password) == ("u@x", "pw")
    assert config.verify_ssl is False
    assert config.allowed_hosts == ("127.0.0.1:8025", "localhost")


@pytest.mark.parametrize(
    "env",
    [{"MIMECAST_API_VERSION": "3"}, {"MIMECAST_VERIFY_SSL": "maybe"}, {"MIMECAST_AUTH_TYPE": "Basic-Foo"}],
)
def test_config_from_env_refuses_nonsense_with_a_plain_message(env):
    with pytest.raises(MimecastConfigError):
        MimecastConfig.from_env(env)


def test_config_repr_never_shows_secrets():
    config = MimecastConfig(
        app_key="APPKEY-SECRET",
        secret_key="SECRETKEY-SECRET",
        access_key="ACCESS-SECRET",
        password="PASSWORD-SECRET",
        client_secret="CLIENT-SECRET",
    )
    text = repr(config)
    assert "SECRET" not in text


def test_the_client_refuses_incomplete_credentials():
    with pytest.raises(MimecastConfigError):
        MimecastClient(MimecastConfig(api_version=1, base_url="https://eu-api.mimecast.com", app_id="a", app_key="k"))
    with pytest.raises(MimecastConfigError):
        MimecastClient(MimecastConfig(api_version=2, client_id="only-id"))
    with pytest.raises(MimecastConfigError):
        MimecastClient(
            MimecastConfig(
                base_url="https://eu-api.mimecast.com", app_id="a", app_key="k", access_key="x", secret_key="!!notb64"
            )
        )


def _login_config(**overrides):
    settings = dict(
        app_id="app",
        app_key="appkey",
        username="analyst@example.com",
        password="pw-123",
        auth_type="Basic-Cloud",
        backoff_base=0.01,
    )
    settings.update(overrides)
    return MimecastConfig(**settings)


def _discovery(region_api):
    return make_response(
        200,
        envelope(
            [
                {
                    "authenticate": ["cloud"],
                    "emailAddress": "analyst@example.com",
                    "region": {"code": "eu", "api": region_api},
                }
            ]
        ),
    )


def test_login_discovers_at_the_global_host_then_logs_in_at_the_region():
    session = ScriptedSession(
        _discovery("https://eu-api.mimecast.com"),
        make_response(200, envelope([{"accessKey": "AK", "secretKey": SECRET, "username": "analyst@example.com"}])),
        _ok_decode(),
    )
    client = MimecastClient(_login_config(), session)
    client.decode_url("https://protect")
    urls = [r["url"] for r in session.requests]
    assert urls == [
        "https://api.mimecast.com/api/login/discover-authentication",
        "https://eu-api.mimecast.com/api/login/login",
        "https://eu-api.mimecast.com/api/ttp/url/decode-url",
    ]
    assert "Authorization" not in session.requests[0]["headers"]
    assert (
        session.requests[1]["headers"]["Authorization"]
        == "Basic-Cloud " + base64.b64encode(b"analyst@example.com:pw-123").decode()
    )
    assert session.requests[2]["headers"]["Authorization"].startswith("MC AK:")


@pytest.mark.parametrize(
    "region_api",
    [
        "https://evil.example.com",
        "http://eu-api.mimecast.com",
        "https://eu-api.mimecast.com@evil.com",
        "https://10.0.0.1",
    ],
)
def test_a_discovery_answer_pointing_outside_mimecast_is_refused_before_any_login(region_api):
    session = ScriptedSession(_discovery(region_api))
    client = MimecastClient(_login_config(), session)
    with pytest.raises(MimecastConfigError) as excinfo:
        client.decode_url("https://protect")
    assert "not allowed" in str(excinfo.value)
    assert len(session.requests) == 1


def test_no_call_is_ever_made_with_netrc_credentials():
    session = ScriptedSession(_ok_decode())
    client, _ = _client(session)
    client.decode_url("https://protect")
    auth = session.requests[0]["auth"]
    assert callable(auth)
    assert auth("request") == "request"
