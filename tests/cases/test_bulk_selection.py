"""Bulk selection on the result lists: a checkbox per row, select-all, "Add to investigation",
"Remediate selected / all N" and "Block selected URLs", against the simulator."""

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from django.urls import reverse

from investigations.core.context import CURRENT_CASE_SESSION_KEY
from investigations.models import Evidence
from tests.factories import InvestigationFactory

# Outside an investigation a search still asks why.
REASON = "User reported phishing, checking who else got it"
ROW_BOX = re.compile(r'<input type="checkbox" name="value" value="([^"]*)" data-select-row')


@pytest.fixture
def story(sim):
    return sim.state.story


@pytest.fixture
def phishing(sim, story):
    return [m for m in sim.state.messages if m.story == "phishing"]


def _case_for(user):
    case = InvestigationFactory(owner=user)
    case.members.add(user)
    return case


@pytest.fixture
def in_case(client, analyst):
    case = _case_for(analyst)
    client.force_login(analyst)
    session = client.session
    session[CURRENT_CASE_SESSION_KEY] = case.pk
    session.save()
    return case


def _related_url(message):
    return (
        reverse("message-related", args=[message.id])
        + "?"
        + _q(
            mid=message.mime_id, subject=message.subject, t=message.received.isoformat(), **{"from": message.from_addr}
        )
    )


def _q(**params):
    from urllib.parse import urlencode

    return urlencode(params)


def _pages(story, phishing):
    first = phishing[0]
    domain = story["phishing_domain"]
    return {
        "track-trace": reverse("track-trace") + "?" + _q(sender=domain, window="7d"),
        "archive": reverse("archive-search") + "?" + _q(from_address=domain, period="last_month"),
        "mailbox": reverse("mailbox-view") + "?" + _q(mailbox=first.to[0][1], view="INBOX", window="7d"),
        "who-else": _related_url(first),
        "url-logs": reverse("tools-url-logs") + "?" + _q(window="7d", q=domain),
        "attachment-logs": reverse("tools-attachment-logs") + "?" + _q(window="30d"),
    }


PAGES = ["track-trace", "archive", "mailbox", "who-else", "url-logs", "attachment-logs"]


@pytest.mark.parametrize("page", PAGES)
def test_each_list_has_row_checkboxes_select_all_and_the_buttons_for_an_analyst_in_a_case(
    client, in_case, story, phishing, page
):
    response = client.get(_pages(story, phishing)[page])
    assert response.status_code == 200
    html = response.content.decode()
    boxes = ROW_BOX.findall(html)
    assert boxes, f"{page}: no row checkbox"
    assert "data-select-all" in html
    assert "Add to investigation" in html
    assert "js/select_all.js" in html
    if page == "url-logs":
        assert "Block selected URLs" in html
        assert all(v.startswith("http") for v in boxes)
    else:
        assert "Remediate selected" in html
        assert f"Remediate all {len(boxes)}<" in html
        assert all(re.fullmatch(r"[^|@\s]+@[^|\s]+\|\S+", v) for v in boxes), boxes[:3]


def test_the_hash_search_offers_hashes_to_the_case_and_remediation_by_hash(client, in_case, story):
    sha = story["macro_sha256"]
    html = client.get(reverse("tools-hash-search"), {"hashes": f"{sha}\nnot-a-hash"}).content.decode()
    assert ROW_BOX.findall(html) == [sha]
    assert "data-select-all" in html and "Add to investigation" in html
    assert "Remediate by hash" in html


def test_outside_a_case_the_analyst_is_offered_to_start_one(client, analyst, story, phishing):
    client.force_login(analyst)
    html = client.get(_pages(story, phishing)["track-trace"] + "&" + _q(reason=REASON)).content.decode()
    assert ROW_BOX.findall(html)
    assert "Add to investigation" not in html
    assert "Start an investigation" in html and reverse("case-new") in html


def test_an_approver_may_remediate_a_selection_but_not_add_it_to_a_case(client, approver, story, phishing):
    client.force_login(approver)
    html = client.get(_pages(story, phishing)["track-trace"] + "&" + _q(reason=REASON)).content.decode()
    assert ROW_BOX.findall(html) and "Remediate selected" in html
    assert "Add to investigation" not in html and "Start an investigation" not in html


@pytest.mark.parametrize("page", PAGES)
def test_an_auditor_gets_no_list_and_no_selection(client, auditor, story, phishing, page):
    client.force_login(auditor)
    response = client.get(_pages(story, phishing)[page])
    assert response.status_code == 403
    assert b"data-select-row" not in response.content


def test_who_else_received_it_lists_every_recipient_of_the_phishing_message(client, in_case, phishing):
    html = client.get(_related_url(phishing[0]), headers={"HX-Request": "true"}).content.decode()
    boxes = ROW_BOX.findall(html)
    mailboxes = {v.split("|")[0] for v in boxes}
    assert mailboxes == {m.to[0][1].lower() for m in phishing}
    assert len(phishing) == 45 and len(boxes) == 45


def _who_else_boxes(client, message):
    return ROW_BOX.findall(client.get(_related_url(message), headers={"HX-Request": "true"}).content.decode())


def test_adding_ticked_messages_adds_exactly_those_to_the_current_case(client, in_case, phishing):
    chosen = _who_else_boxes(client, phishing[0])[:3]
    next_url = reverse("message-detail", args=[phishing[0].id])
    response = client.post(reverse("selection"), {"act": "evidence", "value": chosen, "next": next_url})
    assert response.status_code == 302 and response["Location"] == next_url
    items = Evidence.objects.filter(investigation=in_case)
    assert sorted(items.values_list("kind", flat=True)) == ["message"] * 3
    assert sorted(items.values_list("value", flat=True)) == sorted(v.split("|", 1)[1] for v in chosen)
    assert sorted(e.label for e in items) == sorted(f"copy in {v.split('|')[0]}" for v in chosen)


def test_ticked_urls_go_to_the_case_through_the_evidence_form(client, in_case, story, phishing):
    html = client.get(_pages(story, phishing)["url-logs"]).content.decode()
    urls = list(dict.fromkeys(ROW_BOX.findall(html)))
    assert urls
    client.post(reverse("case-evidence-add"), {"kind": "url", "value": urls[:1], "next": "/tools/"})
    assert list(Evidence.objects.filter(investigation=in_case).values_list("kind", "value")) == [("url", urls[0])]


def _targets(response):
    assert response.status_code == 302, response.status_code
    location = urlsplit(response["Location"])
    assert location.path == reverse("remediation-new")
    query = parse_qs(location.query)
    return query["kind"], query.get("target", [])


def test_remediate_selected_names_exactly_the_ticked_copies_by_mailbox_and_message_id(client, in_case, phishing):
    boxes = _who_else_boxes(client, phishing[0])
    chosen = boxes[5:15]
    kind, targets = _targets(client.post(reverse("selection"), {"act": "remediate", "value": chosen, "every": boxes}))
    by_mailbox = {m.to[0][1].lower(): m.mime_id for m in phishing}
    expected = [f"{v.split('|')[0]}|{by_mailbox[v.split('|')[0]]}" for v in chosen]
    assert kind == ["remediate_messages"]
    assert targets == expected and len(targets) == 10
    form = client.get(reverse("remediation-new"), {"kind": "remediate_messages", "target": targets})
    assert form.status_code == 200
    page = form.content.decode()
    assert all(t.split("|")[1].replace("<", "&lt;").replace(">", "&gt;") in page for t in targets)


def test_remediate_all_takes_every_row_of_the_result(client, in_case, phishing):
    boxes = _who_else_boxes(client, phishing[0])
    _, targets = _targets(client.post(reverse("selection"), {"act": "remediate_all", "every": boxes}))
    assert len(targets) == 45 == len(set(targets))


def test_a_selection_that_names_nothing_goes_back_with_a_message(client, in_case):
    back = reverse("track-trace")
    response = client.post(reverse("selection"), {"act": "remediate", "value": ["<script>|x", ""], "next": back})
    assert response.status_code == 302 and response["Location"] == back
    assert "Tick at least one message" in client.get(back).content.decode()


def test_a_foreign_next_address_is_not_followed(client, in_case):
    response = client.post(reverse("selection"), {"act": "remediate", "next": "https://evil.example/"})
    assert response["Location"] == reverse("home")


def test_block_selected_urls_opens_a_managed_url_block_with_those_urls(client, in_case):
    urls = ["https://bad.example/login", "https://worse.example/x"]
    response = client.post(reverse("selection"), {"act": "block_urls", "value": urls})
    location = urlsplit(response["Location"])
    assert location.path == reverse("remediation-new")
    assert parse_qs(location.query) == {"kind": ["manage_url"], "action": ["block"], "url": urls}


def test_an_approver_may_not_add_a_selection_to_a_case(client, approver, phishing):
    client.force_login(approver)
    response = client.post(reverse("selection"), {"act": "evidence", "value": ["a@example.com|<a@b>"]})
    assert response.status_code == 403
    assert not Evidence.objects.exists()
