"""The API's own errors are problem documents: unknown routes and its schema validation alike."""

import pytest

from investigations.api.problems import PROBLEM_CONTENT_TYPE


def test_an_unknown_path_under_the_api_is_a_problem_not_an_html_page(client, db):
    response = client.get("/api/v1/no-such-route/", HTTP_AUTHORIZATION="Bearer mip_nothing")

    assert response.status_code == 404
    assert response["Content-Type"] == PROBLEM_CONTENT_TYPE
    assert response.json()["type"].endswith("#problem-not-found")


def test_a_method_the_route_does_not_take_is_a_problem_with_its_allow_header(api, make_token):
    _token, secret = make_token(["read"])

    response = api.client.delete("/api/v1/requests", HTTP_AUTHORIZATION=f"Bearer {secret}")

    assert response.status_code == 405
    assert response["Content-Type"] == PROBLEM_CONTENT_TYPE
    assert response.json()["type"].endswith("#problem-method-not-allowed")
    assert "GET" in response["Allow"] and "GET" in response.json()["detail"]


def test_validation_errors_name_the_field_as_the_client_sent_it(api, make_token):
    _token, secret = make_token(["read"])

    response = api.get("/api/v1/requests", token=secret, limit="many")

    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["limit"]


@pytest.mark.slow  # waits out Mimecast's reset for real
def test_a_post_mimecast_rate_limited_is_run_again_when_retried_with_its_key(api, make_token, sim, settings):
    settings.MIMECAST_ENV = {**settings.MIMECAST_ENV, "MIMECAST_MAX_RETRIES": "0"}
    _token, secret = make_token(["read"])
    body = {"hashes": ["ab" * 32], "reason": "SOAR playbook: user reported phishing, INC-4242"}
    sim.faults.add(path="/api/ttp/remediation/search-hash", kind="rate_limit", reset_ms=2000, count=1)

    first = api.post("hash-search", body, token=secret, key="retry-me")
    retried = api.post("hash-search", body, token=secret, key="retry-me")

    assert first.status_code == 429 and first["Retry-After"] == "2"
    # Not the stored 429 replayed: the retry ran, and Mimecast answered it this time.
    assert retried.status_code == 200, retried.content
    assert "Idempotent-Replayed" not in retried
