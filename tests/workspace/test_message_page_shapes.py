"""The message page against answers shaped as real tenants send them, and what it asks Mimecast for."""

from investigations.connection.services import mimecast_client
from investigations.workspace import services as investigate
from mimecast_simulator.handlers import message_info_record
from tests.conftest import simulator_settings
from tests.workspace.message_page import load_message_page

SAFE_PATH = "/api/awareness-training/company/get-safe-score-details"


def _route_only_in_delivery(sim):
    """A delivered message whose received copy names no route, as real tenants often answer."""
    for m in sim.state.messages:
        record = message_info_record(sim.state, m)
        if record["deliveredMessage"] and "route" not in record["recipientInfo"]["messageInfo"]:
            return m
    raise AssertionError("the simulator answers no message with the route only in its delivered copies")


def test_the_route_shows_when_only_the_delivered_copies_name_it(signed_in, sim):
    m = _route_only_in_delivery(sim)
    response = load_message_page(signed_in, m.id)
    assert response.status_code == 200
    assert response.context["detail"].route == m.route
    assert f'<dd id="route">{m.route}</dd>' in response.content.decode()


def _related(client, message_id):
    detail = load_message_page(client, message_id)
    response = detail.sections["related"]
    assert response.status_code == 200
    return response


def test_the_safe_scores_are_asked_for_once_then_reused(signed_in, sim, phishing_id):
    first = _related(signed_in, phishing_id)
    calls = len(sim.calls_to(SAFE_PATH))
    assert calls >= 1
    second = _related(signed_in, phishing_id)
    other = _related(signed_in, sim.state.story["macro_message_ids"][0])
    assert len(sim.calls_to(SAFE_PATH)) == calls  # neither page asked again
    assert first.context["safe_rows"] and second.context["safe_rows"] == first.context["safe_rows"]
    assert other.context["safe_rows"]


def test_a_zero_lifetime_asks_on_every_page(signed_in, sim, phishing_id, settings):
    settings.SAFE_SCORE_CACHE_SECONDS = 0
    _related(signed_in, phishing_id)
    calls = len(sim.calls_to(SAFE_PATH))
    _related(signed_in, phishing_id)
    assert len(sim.calls_to(SAFE_PATH)) == 2 * calls


def test_a_failed_call_is_not_kept(signed_in, sim, phishing_id, settings):
    settings.MIMECAST_ENV = {**settings.MIMECAST_ENV, "MIMECAST_MAX_RETRIES": "0"}
    sim.faults.add(path=SAFE_PATH, kind="status", status=403, count=1)
    failed = _related(signed_in, phishing_id)
    assert failed.context["safe_problem"] is not None
    answered = _related(signed_in, phishing_id)
    assert answered.context["safe_problem"] is None and answered.context["safe_rows"]


def test_the_kept_scores_belong_to_one_connection(db, sim, settings):
    """Another connection (another tenant or credential) never reads the scores kept for the first."""
    first = investigate._all_safe_scores(mimecast_client())
    assert first
    calls = len(sim.calls_to(SAFE_PATH))
    assert investigate._all_safe_scores(mimecast_client()) == first
    assert len(sim.calls_to(SAFE_PATH)) == calls
    settings.MIMECAST_ENV = simulator_settings(sim, "keys")
    assert investigate._all_safe_scores(mimecast_client()) == first
    assert len(sim.calls_to(SAFE_PATH)) > calls  # asked again, for this connection
    settings.MIMECAST_ENV = simulator_settings(sim, "oauth")
    calls = len(sim.calls_to(SAFE_PATH))
    investigate._all_safe_scores(mimecast_client())
    assert len(sim.calls_to(SAFE_PATH)) > calls


def test_the_route_of_an_answer_that_names_it_only_per_delivered_copy():
    from investigations.core.problems import Section
    from investigations.mimecast.types import MessageInfo, parse

    answer = {
        "id": "eNpRealMessageId_0123",
        "status": "delivered",
        "recipientInfo": {"messageInfo": {"subject": "Hello", "to": ["dana@acme-corp.com"]}},
        "deliveredMessage": {"dana@acme-corp.com": {"messageInfo": {"subject": "Hello", "route": "inbound"}}},
    }
    detail = investigate.MessageDetail(
        message_id=answer["id"], info=Section(value=parse(MessageInfo, answer)), archive=Section(value=None)
    )
    assert detail.route == "inbound"
