"""Web security's event stream: the event types it is asked for (a setting), a refusal and the last
ingest error shown on the page with their time, and "test connection" trying the stream."""

from datetime import UTC

from django.apps import apps
from django.urls import reverse

from investigations.connection.services import mimecast_connection_test
from investigations.models import WebSecurityEvent
from investigations.tools.tasks import web_security_ingest as ingest_task
from investigations.tools.web_security import web_security_ingest

BATCH_PATH = "/siem/v1/batch/events/cg"


def _status():
    """How the last run went, as the ingestion recorded it."""
    return apps.get_model("investigations", "WebSecurityIngestStatus").objects.get()


def test_the_event_types_are_a_setting_with_a_documented_default(sim_v2, settings):
    from mimecast_portal import settings as defaults

    assert defaults.WEB_SECURITY_EVENT_TYPES == ["web security"]
    settings.WEB_SECURITY_EVENT_TYPES = ["web security", "url protect"]
    assert web_security_ingest().error == ""
    assert {c.query.get("type") for c in sim_v2.calls_to(BATCH_PATH)} == {"web security,url protect"}
    # Events of every configured type are kept.
    assert WebSecurityEvent.objects.filter(raw__type="web security").count() == len(sim_v2.state.web_events)
    assert WebSecurityEvent.objects.filter(raw__type="url protect").exists()


def _page(client, analyst):
    client.force_login(analyst)
    response = client.get(reverse("tools-web-security"))
    assert response.status_code == 200
    return response.content.decode()


def test_a_refused_event_type_shows_on_the_page_with_its_time(client, analyst, sim_v2, settings):
    settings.WEB_SECURITY_EVENT_TYPES = ["swg"]
    result = ingest_task.apply().get()
    assert "swg" in result["error"]
    status = _status()
    assert status.refused and status.error_at and status.event_types == ["swg"]
    body = _page(client, analyst)
    alert = body.split('id="web-security-ingest-error"', 1)[1].split("</div>", 1)[0]
    assert "Mimecast refused the event stream at" in alert and "unknown type(s): swg" in alert
    assert status.error_at.astimezone(UTC).isoformat(timespec="seconds") in alert
    assert "<code>swg</code>" in alert and "WEB_SECURITY_EVENT_TYPES" in alert
    assert "needs API 2.0 credentials" not in body


def test_a_failed_ingest_on_api_2_shows_the_error_not_a_credentials_guess(client, analyst, sim_v2):
    sim_v2.faults.add(path=BATCH_PATH, kind="status", status=503, count=None)
    assert ingest_task.apply().get()["error"]
    body = _page(client, analyst)
    assert "needs API 2.0 credentials" not in body
    alert = body.split('id="web-security-ingest-error"', 1)[1].split("</div>", 1)[0]
    assert "The last copy failed at" in alert and "Mimecast had an internal problem" in alert
    assert not _status().refused


def test_a_run_that_works_again_clears_the_error(client, analyst, sim_v2):
    sim_v2.faults.add(path=BATCH_PATH, kind="status", status=503, count=None)
    assert web_security_ingest().error
    sim_v2.faults.clear()
    assert web_security_ingest().error == ""
    status = _status()
    assert status.error == "" and status.last_success_at == status.last_run_at
    body = _page(client, analyst)
    assert 'id="web-security-ingest-error"' not in body and "Last run" in body


def test_ingestion_on_api_1_credentials_shows_that_on_the_page(client, analyst, mimecast_env, db):
    assert "API 2.0" in web_security_ingest().error
    assert "need API 2.0 credentials" in _page(client, analyst)


def test_test_connection_tries_the_event_stream_on_api_2(sim_v2, admin_user, settings):
    summary, results = mimecast_connection_test(actor=admin_user)
    stream = next(r for r in results if r.name.startswith("Web security event stream"))
    assert stream.ok and "every area answered" in summary
    assert [c.query.get("type") for c in sim_v2.calls_to(BATCH_PATH)] == ["web security"]
    assert WebSecurityEvent.objects.count() == 0  # a probe, not an ingestion

    settings.WEB_SECURITY_EVENT_TYPES = ["swg"]
    summary, results = mimecast_connection_test(actor=admin_user)
    assert "every area answered" not in summary
    assert "Web security event stream (type swg)" in summary
    stream = next(r for r in results if r.name.startswith("Web security event stream"))
    assert not stream.ok and "unknown type(s): swg" in stream.detail
    assert all(r.ok for r in results if r is not stream)
