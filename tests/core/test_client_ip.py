"""The client IP the audit records: never a value the client wrote into X-Forwarded-For."""

import pytest
from django.test import RequestFactory
from django.urls import reverse

from investigations.core.middleware import client_ip
from investigations.models import AuditAction, AuditEvent
from tests.factories import PASSWORD


def _ip(forwarded=None, remote="10.0.0.2"):
    meta = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        meta["HTTP_X_FORWARDED_FOR"] = forwarded
    return client_ip(RequestFactory().get("/", **meta))


@pytest.fixture
def behind_one_proxy(settings):
    settings.TRUST_X_FORWARDED_FOR = True
    settings.TRUSTED_PROXY_COUNT = 1


def test_a_spoofed_leftmost_hop_is_not_taken_behind_one_appending_proxy(behind_one_proxy):
    # The client sent "X-Forwarded-For: 6.6.6.6"; our proxy appended the address it saw.
    assert _ip("6.6.6.6, 203.0.113.7") == "203.0.113.7"
    assert _ip("203.0.113.7") == "203.0.113.7"
    assert _ip("1.1.1.1, 2.2.2.2,  203.0.113.7 ") == "203.0.113.7"


def test_with_two_trusted_proxies_the_hop_second_from_the_right_is_the_client(settings):
    settings.TRUST_X_FORWARDED_FOR = True
    settings.TRUSTED_PROXY_COUNT = 2
    # client-written, the client as the edge proxy saw it, the edge proxy as the inner one saw it
    assert _ip("6.6.6.6, 203.0.113.7, 10.0.0.5") == "203.0.113.7"
    assert _ip("2001:db8::7, 10.0.0.5") == "2001:db8::7"


@pytest.mark.parametrize(
    ("forwarded", "expected"),
    [
        ("", "10.0.0.2"),  # no header: the proxy itself
        ("not-an-address", "10.0.0.2"),
        ("6.6.6.6, <script>", "10.0.0.2"),
        ("6.6.6.6,", "10.0.0.2"),  # an empty rightmost hop
        ("\x00", "10.0.0.2"),
    ],
)
def test_a_rightmost_hop_that_is_not_an_address_falls_back_to_the_peer(behind_one_proxy, forwarded, expected):
    assert _ip(forwarded) == expected


def test_a_header_shorter_than_the_proxy_chain_falls_back_to_the_peer(settings):
    settings.TRUST_X_FORWARDED_FOR = True
    settings.TRUSTED_PROXY_COUNT = 3
    assert _ip("6.6.6.6, 203.0.113.7") == "10.0.0.2"


def test_without_the_setting_the_header_is_ignored(settings):
    settings.TRUST_X_FORWARDED_FOR = False
    assert _ip("6.6.6.6, 203.0.113.7") == "10.0.0.2"


def test_the_audit_records_the_proxys_hop_not_the_one_the_client_wrote(client, analyst, behind_one_proxy):
    client.post(
        reverse("login"),
        {"username": analyst.username, "password": PASSWORD},
        headers={"X-Forwarded-For": "6.6.6.6, 203.0.113.7"},
    )
    event = AuditEvent.objects.get(action=AuditAction.LOGIN)
    assert event.client_ip == "203.0.113.7"
