"""What each role's home shows besides the quick search: cases, health, and the empty states."""

from django.urls import reverse

from investigations.audit.chain import audit_checkpoint_write
from investigations.audit.services import audit_record
from investigations.dashboards import selectors, services
from investigations.models import AuditAction, Investigation
from tests.factories import InvestigationFactory


def test_an_analysts_home_lists_their_open_cases_only(client, analyst, second_analyst, db):
    mine = InvestigationFactory(owner=analyst, title="Finance invoice lure")
    InvestigationFactory(owner=analyst, title="Old closed one", status=Investigation.Status.CLOSED)
    joined = InvestigationFactory(owner=second_analyst, title="Joined wave")
    joined.members.add(analyst)
    InvestigationFactory(owner=second_analyst, title="Someone else's case")
    client.force_login(analyst)
    page = client.get(reverse("home")).content.decode()
    assert reverse("case-detail", args=[mine.pk]) in page and "Joined wave" in page
    assert "Old closed one" not in page and "Someone else&#x27;s case" not in page


def test_no_searches_is_an_empty_state_not_a_numbered_item(client, analyst, db):
    client.force_login(analyst)
    page = client.get(reverse("home")).content.decode()
    assert '<div class="empty-state" id="recent-searches"><p>No searches yet.</p></div>' in page
    assert '<li class="muted">No searches yet.' not in page
    assert '<ol class="recent-searches"' not in page


def test_an_admins_home_shows_connection_rate_budget_and_checkpoint(client, admin_user, sim):
    client.force_login(admin_user)
    page = client.get(reverse("home")).content.decode()
    assert "no signed checkpoint written yet" in page
    assert "never tested" in page
    # A call to Mimecast teaches the pacer the budget; a test of the connection is audited.
    services.threat_counts()
    audit_record(
        actor=admin_user,
        action=AuditAction.SETTINGS_CONNECTION_TESTED,
        target=("settings", "mimecast"),
        data={"summary": "Connected; every area answered."},
    )
    audit_checkpoint_write()
    checkpoint = services.audit_checkpoint_age()
    assert checkpoint.seq is not None and checkpoint.age is not None
    page = client.get(reverse("home")).content.decode()
    assert f"event {checkpoint.seq}," in page
    assert "Connected; every area answered." in page
    headroom = services.rate_headroom()
    assert headroom.remaining is not None
    assert "by the newest answer" in page


def test_an_unconfigured_connection_is_a_problem_on_the_admins_home_not_a_500(client, admin_user, settings, db):
    settings.MIMECAST_ENV = {}
    client.force_login(admin_user)
    response = client.get(reverse("home"))
    assert response.status_code == 200
    assert 'class="error" role="alert"' in response.content.decode()


def test_home_links_the_remediation_dashboard_for_those_who_may_read_it(client, auditor, outsider, db):
    client.force_login(auditor)
    assert reverse("remediation-dashboard") in client.get(reverse("home")).content.decode()
    client.force_login(outsider)
    assert reverse("remediation-dashboard") not in client.get(reverse("home")).content.decode()


def test_the_checkpoint_shown_is_the_newest_well_signed_one(settings, analyst, db):
    audit_record(actor=analyst, action=AuditAction.SETTINGS_CONNECTION_TESTED, target=("settings", "mimecast"))
    good = audit_checkpoint_write()
    # A newer file someone tampered with: not shown, but counted.
    forged = good.path.with_name(f"checkpoint-{good.seq + 1:012d}.json")
    forged.write_text(good.path.read_text().replace(good.hash, "0" * 64))
    checkpoint = services.audit_checkpoint_age()
    assert (checkpoint.seq, checkpoint.problems) == (good.seq, 1)


def test_a_bad_quick_search_shows_home_without_a_wrong_empty_case_list(client, analyst, db):
    InvestigationFactory(owner=analyst, title="Finance invoice lure")
    client.force_login(analyst)
    page = client.get(reverse("quick-search") + "?q=").content.decode()
    assert "data-quick-search" in page
    assert "No open investigations" not in page


def test_the_last_mimecast_call_is_the_newest_search_of_any_kind(analyst, db):
    assert selectors.newest_mimecast_call() is None
    audit_record(actor=analyst, action=AuditAction.SEARCH_ARCHIVE, target=("mimecast", "archive"))
    newest = audit_record(actor=analyst, action=AuditAction.SEARCH_URL_LOGS, target=("mimecast", "url-logs"))
    audit_record(actor=analyst, action=AuditAction.SETTINGS_CONNECTION_TESTED, target=("settings", "mimecast"))
    assert selectors.newest_mimecast_call().pk == newest.pk
    assert services.connection_health().last_call_label == "URL protect logs searched"
