"""The response actions change what the simulated organisation does next: a blocked sender's next
message is rejected, a blocked URL's next click is blocked, a released or rejected held message leaves
the hold queue. Driven through the portal's client over loopback HTTP; effects are counted per id."""

from datetime import timedelta

import pytest
import requests

from investigations.mimecast import MimecastAlreadyExists, MimecastApiError, MimecastBadResponse, MimecastNotFound
from tests.mimecast.client_sim import sim_client
from tests.simulator.sim_http import post

CREATE_POLICY = "/api/policy/blockedsenders/create-policy"
CREATE_URL = "/api/ttp/url/create-managed-url"

pytestmark = pytest.mark.usefixtures("fresh_srv")


@pytest.fixture
def client(srv):
    return sim_client(srv, "keys")


def analyst_mailbox(srv):
    return srv.state.mailboxes[3].email


def rejections_from(client, sender):
    return [r for r in client.iter_items(client.get_rejections, admin=True) if r.from_address == sender]


def tracked_status(client, srv, message_id):
    m = srv.state.message_by_id[message_id]
    found = client.search_messages(message_id=m.mime_id, start=m.received - timedelta(minutes=1))
    return [t.status for t in found]


def held_ids(client):
    return {h.id for h in client.iter_items(client.get_held_messages, page_size=100)}


# ------------------------------------------------------------------------------ blocked senders


def test_a_blocked_address_has_its_next_message_rejected_until_the_policy_is_deleted(srv, client):
    rcpt = analyst_mailbox(srv)
    policy = client.create_blocked_sender_policy(
        description="Phish sender", from_type="email_address", from_value="Payroll@Evil-Payroll.example"
    )
    assert policy.id.startswith("eNo1jr") and policy.option == "block_sender"
    assert policy.id in {p.id for p in client.get_blocked_sender_policies()}

    blocked = srv.inject_message(**{"from": "payroll@evil-payroll.example", "to": rcpt, "subject": "Pay slip"})
    assert (blocked["status"], blocked["policy_id"]) == ("rejected", policy.id)
    assert [r.id for r in rejections_from(client, "payroll@evil-payroll.example")] == [blocked["rejection_id"]]
    assert rejections_from(client, "payroll@evil-payroll.example")[0].description == "Blocked sender policy"
    assert tracked_status(client, srv, blocked["id"]) == ["rejected"]
    other = srv.inject_message(**{"from": "hr@evil-payroll.example", "to": rcpt})
    assert other["status"] == "delivered" and tracked_status(client, srv, other["id"]) == ["delivered"]

    client.delete_blocked_sender_policy(policy.id)
    assert policy.id not in {p.id for p in client.get_blocked_sender_policies()}
    after = srv.inject_message(**{"from": "payroll@evil-payroll.example", "to": rcpt})
    assert after["status"] == "delivered"
    assert len(rejections_from(client, "payroll@evil-payroll.example")) == 1


def test_a_blocked_domain_covers_its_subdomains_and_the_envelope_sender_only_by_default(srv, client):
    rcpt = analyst_mailbox(srv)
    client.create_blocked_sender_policy(description="Bad domain", from_type="email_domain", from_value="spam.example")
    assert srv.inject_message(**{"from": "a@mx.spam.example", "to": rcpt})["status"] == "rejected"
    # The header says spam.example but the envelope does not: an envelope_from policy lets it through.
    spoof = srv.inject_message(**{"from": "a@spam.example", "env_from": "bounce@relay.example", "to": rcpt})
    assert spoof["status"] == "delivered"
    client.create_blocked_sender_policy(
        description="Header too", from_type="email_domain", from_value="spam.example", from_part="header_from"
    )
    again = srv.inject_message(**{"from": "a@spam.example", "env_from": "bounce@relay.example", "to": rcpt})
    assert again["status"] == "rejected"


def test_a_policy_for_one_recipient_or_in_the_future_blocks_nothing_else(srv, client):
    rcpt, other = analyst_mailbox(srv), srv.state.mailboxes[4].email
    client.create_blocked_sender_policy(
        description="Only for one",
        from_type="email_address",
        from_value="x@bad.example",
        to_type="email_address",
        to_value=rcpt,
    )
    client.create_blocked_sender_policy(
        description="Not yet",
        from_type="email_address",
        from_value="y@bad.example",
        from_date="2099-01-01T00:00:00+0000",
    )
    assert srv.inject_message(**{"from": "x@bad.example", "to": rcpt})["status"] == "rejected"
    assert srv.inject_message(**{"from": "x@bad.example", "to": other})["status"] == "delivered"
    assert srv.inject_message(**{"from": "y@bad.example", "to": rcpt})["status"] == "delivered"


@pytest.mark.parametrize(
    ("item", "code", "field"),
    [
        (
            {"policy": {"description": "d", "from": {"type": "everyone"}, "to": {"type": "everyone"}}},
            "err_validation_null",
            "option",
        ),
        (
            {
                "option": "block_sender",
                "policy": {
                    "description": "d",
                    "from": {"type": "email_address", "emailAddress": "not-an-address"},
                    "to": {"type": "everyone"},
                },
            },
            "err_validation_invalid_email_address",
            "from.emailAddress",
        ),
        (
            {
                "option": "block_sender",
                "policy": {"description": "d", "from": {"type": "email_domain"}, "to": {"type": "everyone"}},
            },
            "err_validation_blank",
            "from.emailDomain",
        ),
        (
            {
                "option": "block_sender",
                "policy": {"description": "d", "from": {"type": "planet"}, "to": {"type": "everyone"}},
            },
            "err_validation_invalid_value",
            "from.type",
        ),
        (
            {"option": "block_sender", "policy": {"description": "d", "from": {"type": "everyone"}}},
            "err_validation_null",
            "to",
        ),
        ({"option": "maybe", "policy": {}}, "err_validation_invalid_value", "option"),
    ],
)
def test_create_policy_refuses_bad_items_in_fail_like_mimecast(srv, item, code, field):
    before = len(srv.state.policies)
    body = post(srv, CREATE_POLICY, [item]).json()
    assert body["data"] == [] and body["fail"][0]["key"] == item
    assert (body["fail"][0]["errors"][0]["code"], body["fail"][0]["errors"][0]["field"]) == (code, field)
    assert len(srv.state.policies) == before and srv.effects("create-policy") == []


def test_deleting_a_policy_that_is_gone_is_a_typed_not_found(srv, client):
    policy = client.create_blocked_sender_policy(description="d", from_type="email_domain", from_value="gone.example")
    client.delete_blocked_sender_policy(policy.id)
    with pytest.raises(MimecastNotFound) as excinfo:
        client.delete_blocked_sender_policy(policy.id)
    assert excinfo.value.code == "err_policy_not_found"
    assert len(srv.effects("delete-policy", id=policy.id)) == 1


# ---------------------------------------------------------------------------------- managed URLs


def test_an_explicit_block_blocks_that_url_only_and_stops_after_delete(srv, client):
    user = analyst_mailbox(srv)
    url = "https://files.evil-share.example/doc/7?id=1"
    entry = client.create_managed_url(url=url, action="block", comment="phish kit")
    assert (entry.domain, entry.path, entry.query_string, entry.match_type) == (
        "files.evil-share.example",
        "/doc/7",
        "id=1",
        "explicit",
    )
    click = srv.inject_click(url=url, user=user)
    assert (click["action"], click["managed_url_id"]) == ("block", entry.id)
    assert srv.inject_click(url="https://files.evil-share.example/doc/8", user=user)["action"] == "allow"
    logged = [c for c in client.iter_items(client.get_url_logs) if c.url == url]
    assert [c.action for c in logged] == ["block"] and logged[0].user_email_address == user

    client.delete_managed_url(entry.id)
    assert srv.inject_click(url=url, user=user)["action"] == "allow"
    assert sorted(c.action for c in client.iter_items(client.get_url_logs) if c.url == url) == ["allow", "block"]


def test_a_domain_block_covers_every_path_and_subdomain(srv, client):
    user = analyst_mailbox(srv)
    client.create_managed_url(url="https://evil-share.example", action="block", match_type="domain")
    assert srv.inject_click(url="https://cdn.evil-share.example/a/b", user=user)["action"] == "block"
    assert srv.inject_click(url="https://not-evil-share.example/", user=user)["action"] == "allow"


def test_a_duplicate_managed_url_is_refused_as_mimecast_does_and_raises_already_exists(srv, client):
    item = {"url": "https://dup.example/x", "action": "block"}
    client.create_managed_url(**item)
    raw = post(srv, CREATE_URL, [item]).json()
    assert raw["data"] == [] and raw["fail"][0]["key"] == {**item, "overrideUrl": False}
    assert raw["fail"][0]["errors"][0]["code"] == "err_managed_url_exists_code"
    with pytest.raises(MimecastAlreadyExists) as excinfo:
        client.create_managed_url(**item)
    assert excinfo.value.code == "err_managed_url_exists_code"
    assert isinstance(excinfo.value, MimecastApiError)
    assert len(srv.effects("create-managed-url", target=item["url"])) == 1


def test_managed_url_ids_are_never_reused_after_a_delete(srv, client):
    first = client.create_managed_url(url="https://one.example/", action="block")
    client.delete_managed_url(first.id)
    second = client.create_managed_url(url="https://two.example/", action="block")
    assert second.id != first.id


# ------------------------------------------------------------------------------ held messages


def test_a_released_message_leaves_the_queue_is_logged_released_and_delivered(srv, client):
    target = sorted(held_ids(client))[0]
    result = client.release_held_message(target)
    assert (result.id, result.ok) == (target, True)
    assert target not in held_ids(client)
    log = client.find_held_release_log(target)
    assert log is not None and log.reject_reason == ""
    assert client.held_message_state(target) == "released"
    assert tracked_status(client, srv, target) == ["delivered"]
    with pytest.raises(MimecastNotFound) as excinfo:
        client.release_held_message(target)
    assert excinfo.value.code == "err_hold_message_not_found"
    assert len(srv.effects("hold-release", id=target)) == 1


def test_a_rejected_message_leaves_the_queue_and_shows_rejected(srv, client):
    a, b = sorted(held_ids(client))[:2]
    results = client.reject_held_messages([a, b], message="Phishing", reason_type="MESSAGE_CONTAINS_SPAM", notify=True)
    assert [(r.id, r.ok) for r in results] == [(a, True), (b, True)]
    assert not {a, b} & held_ids(client)
    assert client.held_message_state(a) == "rejected"
    assert client.find_held_release_log(b).reject_reason == "MESSAGE_CONTAINS_SPAM"
    assert tracked_status(client, srv, a) == ["rejected"]
    again = client.reject_held_messages([a])
    assert [(r.id, r.ok) for r in again] == [(a, False)]
    effect = srv.effects("hold-reject", id=a)
    assert len(effect) == 1 and (effect[0]["message"], effect[0]["notify"]) == ("Phishing", True)


def test_a_held_message_still_held_and_an_unknown_id_read_as_such(srv, client):
    target = sorted(held_ids(client))[0]
    assert client.held_message_state(target) == "held"
    assert client.held_message_state("eNpNoSuchHeldMessage") == "unknown"


# ------------------------------------------------------------------- exactly once, and the hooks


def test_a_create_whose_answer_is_lost_ran_once_and_is_not_resent(srv, client):
    srv.faults.add(path=CREATE_POLICY, kind="truncate", count=1)
    with pytest.raises(MimecastBadResponse):
        client.create_blocked_sender_policy(description="d", from_type="email_address", from_value="lost@x.example")
    assert len(srv.calls_to(CREATE_POLICY)) == 1
    assert [e["target"] for e in srv.effects("create-policy")] == ["lost@x.example"]


def test_the_control_api_counts_effects_per_id_and_injects_traffic(srv, client):
    policy = client.create_blocked_sender_policy(description="d", from_type="email_address", from_value="c@x.example")
    counted = requests.get(srv.base_url + "/_sim/effects", params={"action": "create-policy"}, timeout=10).json()
    assert (counted["count"], counted["by_id"]) == (1, {policy.id: 1})
    assert counted["effects"][0]["target"] == "c@x.example"
    sent = requests.post(
        srv.base_url + "/_sim/inject-message", json={"from": "c@x.example", "to": analyst_mailbox(srv)}, timeout=10
    )
    assert sent.status_code == 201 and sent.json()["status"] == "rejected"
    click = requests.post(
        srv.base_url + "/_sim/inject-click",
        json={"url": "https://a.example/", "user": analyst_mailbox(srv)},
        timeout=10,
    )
    assert click.status_code == 201 and click.json()["action"] == "allow"


@pytest.mark.parametrize(
    ("path", "payload"),
    [
        ("/_sim/inject-message", {"from": "nobody", "to": "a@b.example"}),
        ("/_sim/inject-message", {"from": "a@b.example"}),
        ("/_sim/inject-message", {"from": "a@b.example", "to": "x@y.example", "unknown": 1}),
        ("/_sim/inject-click", {"url": "no-scheme.example", "user": "a@b.example"}),
        ("/_sim/inject-click", {"url": "https://a.example/"}),
    ],
)
def test_the_injection_hooks_refuse_bad_input_with_400(srv, path, payload):
    r = requests.post(srv.base_url + path, json=payload, timeout=10)
    assert r.status_code == 400 and r.json()["error"]
