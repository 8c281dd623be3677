"""Body preview and downloads: a reason first, audited, sandboxed, always a file."""

import hashlib

import pytest
from django.urls import reverse

from investigations.models import AuditAction, AuditEvent
from investigations.workspace.services import safe_filename
from tests.workspace.message_page import load_message_page

REASON = "Checking the lure text for INC-4242"


@pytest.fixture
def story(mimecast_env):
    return mimecast_env.state.story


def test_the_body_needs_a_reason_before_it_is_shown(client, analyst, story):
    message_id = story["phishing_message_ids"][0]
    client.force_login(analyst)
    assert client.get(reverse("message-body-frame", args=[message_id])).status_code == 428
    response = client.post(reverse("message-body", args=[message_id]), {"reason": "too short"})
    assert "at least 10 characters" in response.content.decode()
    assert client.get(reverse("message-body-frame", args=[message_id])).status_code == 428
    assert not AuditEvent.objects.filter(action=AuditAction.MESSAGE_BODY_VIEWED).exists()


def test_the_body_is_shown_in_a_sandboxed_frame_after_an_audited_reason(client, analyst, story):
    message_id = story["phishing_message_ids"][0]
    client.force_login(analyst)
    response = client.post(reverse("message-body", args=[message_id]), {"reason": REASON})
    page = response.content.decode()
    assert "<iframe sandbox src=" in page
    event = AuditEvent.objects.get(action=AuditAction.MESSAGE_BODY_VIEWED)
    assert (event.target_id, event.reason) == (message_id, REASON)
    frame = client.get(reverse("message-body-frame", args=[message_id]))
    assert frame.status_code == 200
    assert frame["Content-Security-Policy"].startswith("sandbox;")
    assert "default-src 'none'" in frame["Content-Security-Policy"]
    assert "img-src data:" in frame["Content-Security-Policy"]
    assert frame["X-Content-Type-Options"] == "nosniff"
    assert frame.get("X-Frame-Options", "SAMEORIGIN") == "SAMEORIGIN"
    assert "mailbox password expires today" in frame.content.decode()


def test_an_htmx_reason_returns_only_the_body_partial(client, analyst, story):
    message_id = story["phishing_message_ids"][0]
    client.force_login(analyst)
    response = client.post(
        reverse("message-body", args=[message_id]), {"reason": REASON}, headers={"HX-Request": "true"}
    )
    page = response.content.decode()
    assert "<html" not in page and "<iframe sandbox" in page


def test_the_eml_downloads_as_an_attachment_after_an_audited_reason(client, analyst, story):
    message_id = story["phishing_message_ids"][0]
    client.force_login(analyst)
    assert "reason" in client.get(reverse("message-download", args=[message_id])).content.decode()
    response = client.post(reverse("message-download", args=[message_id]), {"reason": REASON, "context": "RECEIVED"})
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith('attachment; filename="message-')
    assert response["Content-Disposition"].endswith('-received.eml"')
    assert response["Content-Type"] == "application/octet-stream"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert b"Subject: Action required" in response.content
    event = AuditEvent.objects.get(action=AuditAction.MESSAGE_DOWNLOADED)
    assert event.reason == REASON and event.data["context"] == "RECEIVED"


def test_a_download_mimecast_refuses_is_explained_and_audited_as_a_failure(client, analyst, story):
    held_id = story["macro_message_ids"][-1]  # held: there is no delivered copy
    client.force_login(analyst)
    response = client.post(reverse("message-download", args=[held_id]), {"reason": REASON, "context": "DELIVERED"})
    # Shown on the form, not as a server error: the portal worked, Mimecast said no.
    assert response.status_code in (200, 404)
    assert "not been delivered" in response.content.decode()
    assert AuditEvent.objects.get(action=AuditAction.MESSAGE_DOWNLOADED).outcome == "failure"


def test_the_macro_attachment_downloads_with_its_hash_audited(client, analyst, story):
    message_id = story["macro_message_ids"][0]
    client.force_login(analyst)
    detail = load_message_page(client, message_id)
    attachment = next(a for a in detail.context["detail"].attachments if a.sha256 == story["macro_sha256"])
    url = reverse("attachment-download", args=[message_id, attachment.download_id])
    response = client.post(url, {"reason": REASON})
    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="INV-20931.docm"'
    assert response["X-Content-Type-Options"] == "nosniff"
    assert hashlib.sha256(response.content).hexdigest() == story["macro_sha256"]
    event = AuditEvent.objects.get(action=AuditAction.ATTACHMENT_DOWNLOADED)
    assert event.data["sha256"] == story["macro_sha256"]


@pytest.mark.parametrize(
    "name",
    [
        'evil"; filename="x.exe',
        "../../etc/passwd",
        "a\r\nSet-Cookie: x=1.txt",
        "рахунок.pdf",
        "",
        "...",
        "x" * 300 + ".docm",
        "C:\\Windows\\evil.bat",
        "\x00nul.txt",
    ],
)
def test_download_file_names_are_sanitised(name):
    cleaned = safe_filename(name, "attachment.bin")
    assert cleaned and len(cleaned) <= 120
    assert cleaned.isascii()
    assert not set(cleaned) & set('"\\/\r\n;:\x00')
    assert not cleaned.startswith(".")


def test_a_long_file_name_keeps_its_extension():
    assert safe_filename("x" * 300 + ".docm", "attachment.bin") == "x" * 115 + ".docm"
    assert safe_filename("../../etc/passwd", "attachment.bin") == "passwd"
    assert safe_filename("", "attachment.bin") == "attachment.bin"


def test_the_body_is_cleaned_and_remote_images_are_dropped(client, analyst, mimecast_env, monkeypatch):
    from mimecast_simulator import render

    message_id = mimecast_env.state.story["phishing_message_ids"][0]
    body = (
        '<p onclick="alert(1)">hello</p><script>alert(2)</script><img src="https://tracker.example/p.gif">'
        '<img src="data:image/png;base64,iVBORw0KGgo="><a href="javascript:alert(3)">x</a>'
        '<a href="https://example.org/">ok</a><iframe src="https://example.org"></iframe>'
    )
    monkeypatch.setattr(render, "html_body", lambda m, delivered=True: body)
    client.force_login(analyst)
    client.post(reverse("message-body", args=[message_id]), {"reason": REASON})
    cleaned = client.get(reverse("message-body-frame", args=[message_id])).content.decode()
    assert "hello" in cleaned
    for bad in ("onclick", "<script", "alert(2)", "tracker.example", "javascript:", "<iframe"):
        assert bad not in cleaned
    assert 'src="data:image/png;base64,iVBORw0KGgo="' in cleaned
    assert 'href="https://example.org/"' in cleaned and "noopener" in cleaned


def test_the_plain_text_body_is_escaped(client, analyst, mimecast_env):
    message_id = mimecast_env.state.story["phishing_message_ids"][0]
    client.force_login(analyst)
    client.post(reverse("message-body", args=[message_id]), {"reason": REASON})
    text = client.get(reverse("message-body-frame", args=[message_id]), {"format": "text"}).content.decode()
    assert text.count("<pre>") == 1 and "mailbox password expires today" in text
