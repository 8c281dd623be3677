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

# Expected status for GET by an investigator; everyone else without the capability gets 403, and
# anonymous users are sent to sign in. The body frame refuses until a reason was given (see
# test_workspace_content.py), even to investigators.
MATRIX = {
    "home": {"investigator": 200, "other": 200},
    "quick-search": {"investigator": 302, "other": 403},
    "track-trace": {"investigator": 200, "other": 403},
    "archive-search": {"investigator": 200, "other": 403},
    "archive-details": {"investigator": 200, "other": 403},
    "mailbox-view": {"investigator": 200, "other": 403},
    "message-detail": {"investigator": 200, "other": 403},
    "message-related": {"investigator": 200, "other": 403},
    "message-body": {"investigator": 200, "other": 403},
    "message-body-frame": {"investigator": 428, "other": 403},
    "message-download": {"investigator": 200, "other": 403},
    "attachment-download": {"investigator": 200, "other": 403},
    # The selection on a result list is posted; a GET is refused once the capability is checked.
    "selection": {"investigator": 405, "other": 403},
}
POSTS = {"message-body", "message-download", "attachment-download"}


def test_every_workspace_url_is_in_the_permission_matrix():
    names = {p.name for p in workspace_urls.urlpatterns}
    assert names == set(MATRIX), f"add {names - set(MATRIX)} to MATRIX"


@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize("name", sorted(MATRIX))
@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
def test_workspace_permissions(client, personas, sim_env, persona, name, htmx):
    url = reverse(name, args=_args(name, sim_env.state.story)) + _QUERY.get(name, "")
    headers = {"HX-Request": "true"} if htmx else {}
    if persona != "anonymous":
        client.force_login(personas[persona])
    response = client.get(url, headers=headers)
    if persona == "anonymous":
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))
    else:
        kind = "investigator" if persona in INVESTIGATORS else "other"
        assert response.status_code == MATRIX[name][kind]
    if name in POSTS and persona not in INVESTIGATORS:
        # A POST (with a valid reason) is refused the same way, before anything reaches Mimecast.
        before = len(sim_env.calls)
        response = client.post(url, {"reason": REASON}, headers=headers)
        assert response.status_code == (302 if persona == "anonymous" else 403)
        assert len(sim_env.calls) == before
