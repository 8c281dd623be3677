from django.urls import reverse

from tests.remediation.support import pending_request


def test_an_approver_sees_what_waits_for_them_on_home(client, analyst, approver):
    req = pending_request(analyst)
    client.force_login(approver)
    page = client.get(reverse("home")).content.decode()
    assert "Waiting for your approval" in page
    assert reverse("remediation-detail", args=[req.pk]) in page
    assert "alice" in page


def test_the_live_panel_refreshes_alone_for_an_htmx_poll(client, analyst, approver):
    pending_request(analyst)
    client.force_login(analyst)
    response = client.get(reverse("home") + "?panel=requests", headers={"HX-Request": "true"})
    body = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in body
    assert "Recent requests and incidents" in body and "Pending approval" in body
    # An analyst may request but not approve: no approval queue in their panel.
    assert "Waiting for your approval" not in body


def test_an_auditor_gets_no_request_panel(client, analyst, auditor):
    pending_request(analyst)
    client.force_login(auditor)
    page = client.get(reverse("home")).content.decode()
    assert "Recent requests and incidents" not in page
    poll = client.get(reverse("home") + "?panel=requests", headers={"HX-Request": "true"}).content.decode()
    assert "alice" not in poll
