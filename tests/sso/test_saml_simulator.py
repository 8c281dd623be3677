"""The test SAML identity provider itself: its command line, metadata, control API and refusals. The
sign-in through it is in test_saml_sign_in.py."""

import signal
import subprocess
import sys

import pytest
import requests

from tests.sso.conftest import REPOSITORY


@pytest.fixture
def idp_process():
    process = subprocess.Popen(
        [sys.executable, "-m", "saml_simulator", "--port", "0"],
        cwd=REPOSITORY,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    line = process.stdout.readline()
    assert line.startswith("listening on http://127.0.0.1:"), line
    yield process, line.removeprefix("listening on ").strip()
    if process.poll() is None:
        process.kill()
        process.wait()


def test_the_command_line_serves_signed_metadata_logs_nothing_and_stops_on_sigterm(idp_process):
    process, base_url = idp_process

    metadata = requests.get(base_url + "/metadata", timeout=10)
    garbage = requests.get(base_url + "/sso/redirect", params={"SAMLRequest": "not a request"}, timeout=10)
    process.send_signal(signal.SIGTERM)

    assert metadata.status_code == 200 and metadata.headers["Content-Type"] == "application/samlmetadata+xml"
    assert f'entityID="{base_url}/metadata"' in metadata.text
    assert "X509Certificate" in metadata.text and "PRIVATE KEY" not in metadata.text
    assert f"{base_url}/sso/redirect" in metadata.text and f"{base_url}/sso/post" in metadata.text
    # An unreadable request is an error page, never a response posted anywhere.
    assert garbage.status_code == 400 and "SAMLResponse" not in garbage.text
    assert process.wait(timeout=10) == 0
    # Nothing logged of the requests (pysaml2's import may warn about cryptography; nothing else).
    errors = process.stderr.read()
    assert "GET" not in errors and "SAMLRequest" not in errors and "Traceback" not in errors


def test_the_control_api_refuses_what_it_does_not_know(saml_idp):
    def control(action, **payload):
        return requests.post(f"{saml_idp.base_url}/_control/{action}", json=payload, timeout=10)

    assert control("fault", fault="no-such-fault").status_code == 400
    assert control("sp", metadata="<not-metadata/>").status_code == 400
    assert control("groups", username="nobody", groups=[]).status_code == 404
    assert control("no-such-action").status_code == 404
    assert control("fault", fault=None).json() == {"ok": True}


def test_the_login_form_says_which_application_asks_and_refuses_a_wrong_password(client, saml_settings, saml_idp):
    saml_idp.set_user("ann", email="ann@soc.example", groups=["soc-analysts"])
    location = client.get("/accounts/saml/start/")["Location"]
    browser = requests.Session()

    form = browser.get(location, timeout=10)
    request_key = form.text.split('name="request_id" value="')[1].split('"')[0]
    wrong = browser.post(
        saml_idp.base_url + "/sso/login",
        data={"username": "ann", "password": "wrong", "request_id": request_key},
        timeout=10,
    )

    assert "Application: https://portal.tests.example/saml/metadata" in form.text
    assert wrong.status_code == 200 and "Wrong username or password." in wrong.text
    assert "SAMLResponse" not in wrong.text
