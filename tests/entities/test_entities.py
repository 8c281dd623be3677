"""Entity pages against the simulator: each kind, bad values, permissions, audit, and the link tag."""

import pytest
from django.template import engines

from investigations.models import AuditEvent
from investigations.templatetags.portal import entity_url

REASON = {"reason": "Checking the phishing wave INC-1"}


@pytest.fixture
def signed_in(client, analyst):
    client.force_login(analyst)
    return client


def _get(client, kind, value, **query):
    url = entity_url(kind, value)
    assert url, (kind, value)
    return client.get(url, query)


def test_the_page_asks_a_reason_before_reading_mimecast(signed_in, sim):
    response = _get(signed_in, "domain", sim.state.story["phishing_domain"])
    assert response.status_code == 200
    assert response.context["page"] is None
    assert 'id="entity-reason"' in response.content.decode()
    assert not AuditEvent.objects.filter(action="entity.viewed").exists()


def test_a_sender_page_shows_its_mail_and_is_audited_with_the_reason(signed_in, sim):
    sender = f"no-reply@{sim.state.story['phishing_domain']}"
    response = _get(signed_in, "sender", sender, **REASON)
    page = response.context["page"]
    assert response.status_code == 200
    assert page.sections["mail"].ok and len(page.sections["mail"].value) == 45
    assert page.sections["policies"].ok
    event = AuditEvent.objects.get(action="entity.viewed")
    assert (event.target_type, event.target_id, event.reason) == ("sender", sender, REASON["reason"])


def test_a_domain_page_lists_mail_policies_and_managed_urls(signed_in, sim):
    response = _get(signed_in, "domain", "acme-corp-secure.example", **REASON)
    page = response.context["page"]
    assert page.sections["policies"].ok and len(page.sections["policies"].value) == 1
    assert page.sections["managed_urls"].ok and page.sections["mail"].ok


def test_an_ip_page_lists_mail_from_it(signed_in, sim):
    response = _get(signed_in, "ip", "192.0.2.150", **REASON)
    rows = response.context["page"].sections["mail"].value
    assert rows and all(r.sender_ip == "192.0.2.150" for r in rows)


def test_a_url_page_lists_its_clicks(signed_in, sim):
    url = sim.state.story["phishing_url"]
    response = _get(signed_in, "url", url, **REASON)
    assert response.status_code == 200
    assert response.context["value"] == url
    clicks = response.context["page"].sections["clicks"].value
    assert len(clicks) == 9 and {c.scan_result for c in clicks} == {"clean", "malicious"}


def test_a_hash_page_joins_hash_search_and_attachment_logs(signed_in, sim):
    sha = sim.state.story["macro_sha256"]
    response = _get(signed_in, "hash", sha.upper(), **REASON)
    page = response.context["page"]
    assert page.value == sha
    assert page.sections["hash_search"].ok and page.sections["hash_search"].value.detected == [sha]
    assert page.sections["attachment_logs"].ok and page.sections["attachment_logs"].value


def test_a_failed_part_shows_its_problem_not_a_500(signed_in, sim):
    sim.faults.add(path="/api/ttp/url/get-logs", kind="meta_status", status=403)
    response = _get(signed_in, "url", sim.state.story["phishing_url"], **REASON)
    assert response.status_code == 200
    assert not response.context["page"].sections["clicks"].ok
    assert 'role="alert"' in response.content.decode()


def test_the_history_lists_earlier_reads(signed_in, sim):
    sender = f"no-reply@{sim.state.story['phishing_domain']}"
    _get(signed_in, "sender", sender, **REASON)
    response = _get(signed_in, "sender", sender, **REASON)
    assert [e.action for e in response.context["page"].history] == ["entity.viewed"]


@pytest.mark.parametrize(
    "path",
    [
        "/entities/planet/earth/",
        "/entities/sender/not-an-address/",
        "/entities/hash/xyz/",
        "/entities/ip/999.1.1.1/",
        "/entities/url/javascript:alert(1)/",
        "/entities/domain/%3Cscript%3E/",
    ],
)
def test_bad_kinds_and_values_are_404(signed_in, path):
    assert signed_in.get(path).status_code == 404


@pytest.mark.parametrize("role,status", [("analyst", 200), ("approver", 200), ("auditor", 403), ("outsider", 403)])
def test_permissions(client, personas, role, status):
    client.force_login(personas[role])
    assert client.get("/entities/domain/example.com/").status_code == status


def test_anonymous_users_are_sent_to_sign_in(client, db):
    response = client.get("/entities/domain/example.com/")
    assert response.status_code == 302 and "login" in response["Location"]


@pytest.mark.parametrize(
    "value",
    ['"><script>alert(1)</script>', "<img src=x onerror=alert(1)>@evil.example", "javascript:alert(1)", ""],
)
def test_the_tag_escapes_what_it_cannot_link(value):
    html = engines["django"].from_string("{% load portal %}{% entity_link 'sender' v %}").render({"v": value})
    assert "<script" not in html and "<img" not in html and "<a " not in html


def test_the_tag_quotes_a_url_into_one_path_segment_and_escapes_its_label():
    url = 'https://evil.example/a?b=1&c="<x>"#frag'
    html = engines["django"].from_string("{% load portal %}{% entity_link 'url' v %}").render({"v": url})
    assert html.startswith('<a class="entity" href="/entities/url/https%3A%2F%2Fevil.example%2Fa%3Fb%3D1%26c%3D')
    assert "&lt;x&gt;" in html and "<x>" not in html


def test_a_linked_url_opens_its_own_page(signed_in, sim):
    url = "https://evil.example/a/b?c=1&d=2#f"
    response = signed_in.get(entity_url("url", url))
    assert response.status_code == 200 and response.context["value"] == url
