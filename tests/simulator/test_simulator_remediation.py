"""Remediation incidents really change the simulator's state, and restores put messages back."""

import time

import pytest
import requests

from tests.simulator.sim_http import post, signed_headers

CREATE = "/api/ttp/remediation/create"
GET = "/api/ttp/remediation/get-incident"
FIND = "/api/ttp/remediation/find-incidents"


def ok(resp):
    assert resp.status_code == 200, resp.text
    assert resp.json()["fail"] == [], resp.json()["fail"]
    return resp.json()


# Counts settle on the second poll of an incident, never on the clock while a test runs.
SIMULATOR_OPTIONS = {"incident_settle_ms": 60_000}


@pytest.fixture(autouse=True)
def _fresh(srv):
    srv.reset()
    srv.configure(incident_settle_ms=60_000)


def find_incidents(srv, item):
    return ok(post(srv, FIND, [item]))["data"][0]["incidents"]


def macro_copies(srv):
    return [(m, r) for m in srv.state.messages if m.story == "macro" and m.status != "held" for r in m.recipients]


def delivered_part(srv, m, mailbox):
    path = "/api/archive/get-message-part"
    return requests.post(
        srv.base_url + path,
        headers=signed_headers(path),
        timeout=10,
        json={"data": [{"id": m.id, "context": "DELIVERED", "type": "RFC822", "mailbox": mailbox}]},
    )


def test_remediating_a_hash_removes_it_from_every_mailbox_and_counts_settle_on_the_second_poll(srv):
    copies = macro_copies(srv)
    unavailable = [r for _, r in copies if srv.state.mailbox_by_email[r].unavailable]
    inc = ok(
        post(
            srv,
            CREATE,
            [
                {
                    "reason": "Macro malware INV-20931",
                    "searchBy": "hash",
                    "hashOrMessageId": srv.state.story["macro_sha256"],
                }
            ],
        )
    )["data"][0]
    assert inc["code"].startswith("TR-") and inc["code"].endswith("-M")
    assert inc["identified"] == len(copies) >= 20
    assert inc["successful"] == 0  # still running
    first = ok(post(srv, GET, [{"id": inc["id"]}]))["data"][0]
    assert first["successful"] < len(copies) - len(unavailable)
    final = ok(post(srv, GET, [{"id": inc["id"]}]))["data"][0]
    assert final["identified"] == len(copies)
    assert final["failed"] == len(unavailable) >= 1
    assert final["successful"] == len(copies) - len(unavailable)
    assert final["restored"] == 0
    m, r = next((m, r) for m, r in copies if r not in unavailable)
    tracked = ok(
        post(srv, "/api/message-finder/search", [{"messageId": m.mime_id, "start": "2026-01-01T00:00:00+0000"}])
    )
    assert tracked["data"][0]["trackedEmails"][0]["status"] == "remediated"
    assert inc["code"] in tracked["data"][0]["trackedEmails"][0]["info"]
    part = delivered_part(srv, m, r)
    assert part.headers["Content-Type"].startswith("application/json")
    assert part.json()["fail"][0]["errors"][0]["code"] == "err_message_remediated"
    info = ok(post(srv, "/api/message-finder/get-message-info", [{"id": m.id}]))["data"][0]
    assert inc["code"] in info["deliveredMessage"][r]["deliveryMetaInfo"]["deliveryEvent"]


def test_a_restore_with_the_restore_code_puts_the_messages_back(srv):
    inc = ok(
        post(srv, CREATE, [{"reason": "macro", "searchBy": "hash", "hashOrMessageId": srv.state.story["macro_sha256"]}])
    )["data"][0]
    post(srv, GET, [{"id": inc["id"]}])  # first poll: still running
    removed = ok(post(srv, GET, [{"id": inc["id"]}]))["data"][0]["successful"]
    restore = ok(
        post(
            srv,
            CREATE,
            [{"reason": "false positive", "type": "restore", "restoreCode": inc["searchCriteria"]["restoreCode"]}],
        )
    )["data"][0]
    assert restore["type"] == "restored" and restore["code"].endswith("-R")
    post(srv, GET, [{"id": restore["id"]}])
    final = ok(post(srv, GET, [{"id": restore["id"]}]))["data"][0]
    assert final["restored"] == removed and final["identified"] == removed
    original = ok(post(srv, GET, [{"id": inc["id"]}]))["data"][0]
    assert original["restored"] == removed
    m, r = next((m, r) for m, r in macro_copies(srv) if not srv.state.mailbox_by_email[r].unavailable)
    assert m.status == "archived"
    part = delivered_part(srv, m, r)
    assert part.status_code == 200 and part.headers["Content-Type"] == "message/rfc822"
    again = post(srv, CREATE, [{"reason": "x", "type": "restore", "restoreCode": "RC-nope"}]).json()
    assert again["fail"][0]["errors"][0]["code"] == "err_remediation_restore_code_not_found"


def test_counts_also_settle_after_the_configured_delay(srv):
    srv.configure(incident_settle_ms=200)
    inc = ok(
        post(
            srv,
            CREATE,
            [
                {
                    "reason": "r",
                    "searchBy": "url",
                    "url": srv.state.messages[0].urls[0][0]
                    if srv.state.messages[0].urls
                    else next(m for m in srv.state.messages if m.story == "phishing").urls[0][0],
                }
            ],
        )
    )
    time.sleep(0.3)
    final = ok(post(srv, GET, [{"id": inc["data"][0]["id"]}]))["data"][0]
    assert final["successful"] + final["failed"] == final["identified"] >= 1


def test_remediation_by_message_id_needs_angle_brackets(srv):
    m = next(m for m in srv.state.messages if m.story == "phishing")
    bad = post(srv, CREATE, [{"reason": "r", "searchBy": "messageId", "hashOrMessageId": m.mime_id.strip("<>")}])
    assert bad.json()["fail"][0]["errors"][0]["code"] == "err_validation_invalid_message_id"
    inc = ok(post(srv, CREATE, [{"reason": "r", "searchBy": "messageId", "hashOrMessageId": m.mime_id}]))["data"][0]
    assert inc["identified"] == 1 and inc["searchCriteria"]["messageId"] == m.mime_id


def test_v2_create_takes_a_list_of_message_ids(srv):
    phish = [m for m in srv.state.messages if m.story == "phishing"]
    ids = [m.mime_id for m in phish[:5]]
    inc = ok(
        post(
            srv,
            "/api/ttp/remediation/v2/create",
            [{"reason": "phish wave", "searchBy": "message_ids", "messageIds": ids}],
        )
    )["data"][0]
    assert inc["identified"] == 5
    assert all(m.status == "remediated" for m in phish[:5])
    assert phish[5].status == "archived"


def test_find_incidents_filters_by_reason_text_and_type(srv):
    ok(
        post(
            srv,
            CREATE,
            [
                {
                    "reason": "Credential phishing wave",
                    "searchBy": "url",
                    "url": next(m for m in srv.state.messages if m.story == "phishing").urls[0][0],
                }
            ],
        )
    )
    found = find_incidents(srv, {"searchBy": [{"fieldName": "reason", "value": "phishing wave"}]})
    assert [i["reason"] for i in found] == ["Credential phishing wave"]
    auto = find_incidents(srv, {"filterBy": [{"fieldName": "type", "value": "automatic,restored"}]})
    assert auto and all(i["type"] in ("automatic", "restored") for i in auto)
    assert len(find_incidents(srv, {"start": "2020-01-01T00:00:00+0000"})) == 2
    empty = post(srv, FIND, [{}]).json()
    assert empty["fail"][0]["errors"][0]["code"] == "err_validation_blank"


def test_the_simulator_counts_incidents_created(srv):
    assert srv.incidents_created == 0
    ok(post(srv, CREATE, [{"reason": "r", "searchBy": "hash", "hashOrMessageId": "a" * 64}]))
    assert srv.incidents_created == 1
    assert requests.get(srv.base_url + "/_sim/calls", timeout=10).json()["incidents_created"] == 1


def test_a_notify_only_incident_removes_nothing(srv):
    inc = ok(
        post(
            srv,
            CREATE,
            [
                {
                    "reason": "r",
                    "type": "notify_only",
                    "searchBy": "hash",
                    "hashOrMessageId": srv.state.story["macro_sha256"],
                }
            ],
        )
    )["data"][0]
    post(srv, GET, [{"id": inc["id"]}])
    final = ok(post(srv, GET, [{"id": inc["id"]}]))["data"][0]
    assert final["type"] == "notify_only" and final["identified"] >= 20 and final["successful"] == 0
    assert all(m.status != "remediated" for m in srv.state.messages if m.story == "macro")


def test_remediating_the_phishing_url_hits_every_delivered_copy(srv):
    url = srv.state.story["phishing_url"]
    inc = ok(post(srv, CREATE, [{"reason": "Credential phishing", "searchBy": "url", "url": url}]))["data"][0]
    assert inc["identified"] == 45
    assert inc["searchCriteria"]["url"] == url
    assert all(
        m.status == "remediated"
        for m in srv.state.messages
        if m.story == "phishing" and not srv.state.mailbox_by_email[m.to[0][1]].unavailable
    )
