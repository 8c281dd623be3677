"""Who may open which workspace URL: every URL (pages and partials) for every persona, plain and htmx."""

import pytest
from django.urls import reverse

from investigations.workspace import urls as workspace_urls

REASON = "Checking access for the permission matrix"
INVESTIGATORS = {"analyst", "approver"}
PERSONAS = ["anonymous", "analyst", "approver", "auditor", "admin", "outsider"]


def _args(name, story):
    message_id = story["phishing_message_ids"][0]
    macro_id = story["macro_message_ids"][0]
    return {
        "message-detail": [message_id],
        "message-detail-section": [message_id],
        "message-activity": [message_id],
        "message-related": [message_id],
        "message-body": [message_id],
        "message-body-frame": [message_id],
        "message-download": [message_id],
        "attachment-download": [macro_id, "eNpAttachmentIdThatIsLongEnough0001"],
    }.get(name, [])


_QUERY = {
    "quick-search": "?q=example.com&reason=" + REASON.replace(" ", "+"),
    "track-trace": "?sender=example.com&window=1h&reason=" + REASON.replace(" ", "+"),
    "archive-search": "?text=invoice&period=today&reason=" + REASON.replace(" ", "+"),
    "mailbox-view": "?mailbox=dana.whitfield%40acme-corp.com&reason=" + REASON.replace(" ", "+"),
}

# Every workspace URL. A GET by an investigator gets 200 but where INVESTIGATOR_STATUS says otherwise;
# everyone else without the capability gets 403, and anonymous users are sent to sign in. Home is
# the dashboards' (tests/dashboards).
URL_NAMES = [
    "quick-search",
    "track-trace",
    "archive-search",
    "archive-details",
    "mailbox-view",
    "message-detail",
    "message-detail-section",
    "message-activity",
    "message-related",
    "message-body",
    "message-body-frame",
    "message-download",
    "attachment-download",
    "selection",
]
INVESTIGATOR_STATUS = {
    "quick-search": 302,
    # The body frame refuses until a reason was given (see test_workspace_content.py), even to investigators.
    "message-body-frame": 428,
    # The selection on a result list is posted; a GET is refused once the capability is checked.
    "selection": 405,
}
EVERYONE = set()
POSTS = {"message-body", "message-download", "attachment-download"}


def test_every_workspace_url_is_in_the_permission_matrix():
    names = {p.name for p in workspace_urls.urlpatterns}
    assert names == set(URL_NAMES), f"add {names - set(URL_NAMES)} to URL_NAMES"


@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize("name", sorted(URL_NAMES))
@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
def test_workspace_permissions(client, persona_clients, db, sim_env, persona, name, htmx):
    url = reverse(name, args=_args(name, sim_env.state.story)) + _QUERY.get(name, "")
    headers = {"HX-Request": "true"} if htmx else {}
    if persona != "anonymous":
        client = persona_clients[persona]
    response = client.get(url, headers=headers)
    if persona == "anonymous":
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))
    elif persona in INVESTIGATORS or name in EVERYONE:
        assert response.status_code == INVESTIGATOR_STATUS.get(name, 200)
    else:
        assert response.status_code == 403
    if name in POSTS and persona not in INVESTIGATORS:
        # A POST (with a valid reason) is refused the same way, before anything reaches Mimecast.
        before = len(sim_env.calls)
        response = client.post(url, {"reason": REASON}, headers=headers)
        assert response.status_code == (302 if persona == "anonymous" else 403)
        assert len(sim_env.calls) == before
