"""The API's own errors are problem documents: unknown routes and its schema validation alike."""

from investigations.api.problems import PROBLEM_CONTENT_TYPE


def test_an_unknown_path_under_the_api_is_a_problem_not_an_html_page(client, db):
    response = client.get("/api/v1/no-such-route/", HTTP_AUTHORIZATION="Bearer mip_nothing")

    assert response.status_code == 404
    assert response["Content-Type"] == PROBLEM_CONTENT_TYPE
    assert response.json()["type"].endswith("#problem-not-found")


def test_validation_errors_name_the_field_as_the_client_sent_it(api, make_token):
    _token, secret = make_token(["read"])

    response = api.get("/api/v1/requests", token=secret, limit="many")

    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["limit"]
