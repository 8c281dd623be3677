"""A receiver URL passes the same kind of checks as the Mimecast base URL, at save time and again
before every attempt."""

import pytest

from investigations.webhooks.services import WebhookUrlRefused, webhook_url_check

PUBLIC = "93.184.216.34"


def _resolver(table):
    return lambda host: table.get(host, [])


@pytest.mark.parametrize(
    ("url", "resolves", "says"),
    [
        ("http://10.0.0.1/hook", {}, "must use https"),
        ("https://10.0.0.1/hook", {}, "private, loopback or link-local"),
        ("http://169.254.169.254/latest/meta-data", {}, "must use https"),
        ("https://169.254.169.254/latest/meta-data", {}, "private, loopback or link-local"),
        ("https://[::1]/hook", {}, "private, loopback or link-local"),
        ("https://[::ffff:127.0.0.1]/hook", {}, "private, loopback or link-local"),
        ("https://user@receiver.example.com/hook", {"receiver.example.com": [PUBLIC]}, "user name or password"),
        ("https://user:pw@receiver.example.com/", {"receiver.example.com": [PUBLIC]}, "user name or password"),
        ("https://receiver.example.com\\@evil.example/", {}, "user name or password"),
        ("https://receiver.example.com/", {"receiver.example.com": ["127.0.0.1"]}, "private, loopback"),
        ("https://receiver.example.com/", {"receiver.example.com": [PUBLIC, "10.1.2.3"]}, "private, loopback"),
        ("https://receiver.example.com/", {"receiver.example.com": ["fe80::1"]}, "private, loopback"),
        ("https://receiver.example.com/", {}, "does not resolve"),
        ("https://rec\u0435iver.example.com/", {}, "non-ASCII"),
        ("https://2130706433/", {}, "usual form"),
        ("https://0x7f.1/", {}, "usual form"),
        ("https://localhost/hook", {"localhost": ["127.0.0.1"]}, "not a valid public host name"),
        ("https://receiver.example.com./", {"receiver.example.com.": [PUBLIC]}, "ends with a dot"),
        ("ftp://receiver.example.com/", {}, "must look like https://"),
        ("https://receiver.example.com/#top", {}, "fragment"),
        ("https://receiver.example.com/a b", {}, "spaces"),
        ("https://receiver.example.com:99999/", {}, "port is malformed"),
        ("https://receiver.example.com/<script>", {"receiver.example.com": [PUBLIC]}, "path contains"),
        ("https://receiver.example.com/%zz", {"receiver.example.com": [PUBLIC]}, "path contains"),
        ("http://127.0.0.1:8080/hook", {}, "must use https"),
        ("", {}, "Give the receiver's URL"),
    ],
)
def test_refused_receiver_urls_say_why_in_plain_words(url, resolves, says):
    with pytest.raises(WebhookUrlRefused) as refusal:
        webhook_url_check(url, resolve=_resolver(resolves), allowed_hosts=[])
    assert says in str(refusal.value)


def test_a_public_https_receiver_is_accepted_and_pinned_to_the_address_checked():
    target = webhook_url_check(
        "https://Receiver.example.com:8443/hooks/mimecast?source=portal",
        resolve=_resolver({"receiver.example.com": [PUBLIC]}),
        allowed_hosts=[],
    )
    assert (target.scheme, target.host, target.port) == ("https", "receiver.example.com", 8443)
    assert target.path == "/hooks/mimecast?source=portal"
    assert target.addresses == (PUBLIC,)


def test_plain_http_only_to_an_allowed_loopback_host():
    target = webhook_url_check("http://127.0.0.1:8099/hook", allowed_hosts=["127.0.0.1:8099"])
    assert (target.scheme, target.addresses, target.path) == ("http", ("127.0.0.1",), "/hook")
    # Allowing a host opens only the port listed.
    with pytest.raises(WebhookUrlRefused, match="must use https"):
        webhook_url_check("http://127.0.0.1:8100/hook", allowed_hosts=["127.0.0.1:8099"])
    with pytest.raises(WebhookUrlRefused, match="only allowed for a loopback receiver"):
        webhook_url_check("http://10.0.0.1:80/hook", allowed_hosts=["10.0.0.1:80"])


def test_an_allowed_name_that_resolves_to_loopback_passes_only_when_listed():
    resolve = _resolver({"receiver.internal.example": ["127.0.0.1"]})
    url = "https://receiver.internal.example/hook"
    with pytest.raises(WebhookUrlRefused, match="private, loopback"):
        webhook_url_check(url, resolve=resolve, allowed_hosts=[])
    assert webhook_url_check(url, resolve=resolve, allowed_hosts=["receiver.internal.example"]).addresses == (
        "127.0.0.1",
    )


def test_the_real_resolver_is_used_by_default(settings):
    settings.WEBHOOK_ALLOWED_HOSTS = []
    # localhost resolves to loopback through the system resolver: refused as a host name of its own.
    with pytest.raises(WebhookUrlRefused):
        webhook_url_check("https://localhost:8443/hook")
