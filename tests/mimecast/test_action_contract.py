"""The exact request bodies the client sends for the response actions, read from the simulator's call
journal (what really went over the wire), and the transport's refusal to resend them blindly."""

import pytest

from investigations.mimecast import MimecastInvalidRequest, MimecastServerError
from tests.mimecast.client_sim import call_value, calls_to, sim_client

CREATE_POLICY = "/api/policy/blockedsenders/create-policy"
DELETE_POLICY = "/api/policy/blockedsenders/delete-policy"
CREATE_URL = "/api/ttp/url/create-managed-url"
DELETE_URL = "/api/ttp/url/delete-managed-url"
RELEASE = "/api/gateway/hold-release"
REJECT = "/api/gateway/hold-reject"

pytestmark = pytest.mark.usefixtures("fresh_srv")


@pytest.fixture
def client(srv):
    return sim_client(srv, "keys", max_retries=2)


def sent(srv, path):
    return [call_value(c, "json") for c in calls_to(srv, path)]


def held(srv, n):
    return [m.id for m in srv.state.messages if m.status == "held"][:n]


def test_create_blocked_sender_policy_sends_option_and_policy_with_eternal_dates(srv, client):
    created = client.create_blocked_sender_policy(
        description="Block the phish sender", from_type="email_address", from_value="bad@evil.example"
    )
    assert sent(srv, CREATE_POLICY) == [
        {
            "data": [
                {
                    "option": "block_sender",
                    "policy": {
                        "description": "Block the phish sender",
                        "fromPart": "envelope_from",
                        "from": {"type": "email_address", "emailAddress": "bad@evil.example"},
                        "to": {"type": "everyone"},
                        "fromType": "email_address",
                        "fromValue": "bad@evil.example",
                        "toType": "everyone",
                        "toValue": "",
                        "override": False,
                        "bidirectional": False,
                        "fromEternal": True,
                        "toEternal": True,
                    },
                }
            ]
        }
    ]
    assert (created.from_.type, created.from_.value, created.to.type) == (
        "email_address",
        "bad@evil.example",
        "everyone",
    )
    assert (created.from_eternal, created.to_eternal, created.from_part) == (True, True, "envelope_from")


def test_create_blocked_sender_policy_for_a_domain_with_dates_and_a_recipient_group(srv, client):
    group = next(g for g in srv.state.groups if g["description"] == "Finance")
    client.create_blocked_sender_policy(
        description="Domain to Finance",
        from_type="email_domain",
        from_value="evil.example",
        to_type="profile_group",
        to_value=group["id"],
        from_part="both",
        from_date="2026-01-01T00:00:00+0000",
        to_date="2026-02-01T00:00:00+0000",
        override=True,
        bidirectional=True,
    )
    policy = sent(srv, CREATE_POLICY)[0]["data"][0]["policy"]
    assert policy["from"] == {"type": "email_domain", "emailDomain": "evil.example"}
    assert policy["to"] == {"type": "profile_group", "groupId": group["id"]}
    assert (policy["fromEternal"], policy["fromDate"]) == (False, "2026-01-01T00:00:00+0000")
    assert (policy["toEternal"], policy["toDate"]) == (False, "2026-02-01T00:00:00+0000")
    assert (policy["fromPart"], policy["override"], policy["bidirectional"]) == ("both", True, True)


def test_delete_blocked_sender_policy_sends_the_id(srv, client):
    policy_id = srv.state.policies[0]["id"]
    assert client.delete_blocked_sender_policy(policy_id) is None
    assert sent(srv, DELETE_POLICY) == [{"data": [{"id": policy_id}]}]


def test_create_managed_url_sends_every_documented_field(srv, client):
    created = client.create_managed_url(
        url="https://evil.example/login?x=1", action="permit", match_type="domain", comment="why", disable_rewrite=True
    )
    assert sent(srv, CREATE_URL) == [
        {
            "data": [
                {
                    "url": "https://evil.example/login?x=1",
                    "action": "permit",
                    "matchType": "domain",
                    "disableRewrite": True,
                    "disableUserAwareness": False,
                    "disableLogClick": False,
                    "comment": "why",
                }
            ]
        }
    ]
    assert created.id.startswith("wOi3MC") and (created.action, created.match_type) == ("permit", "domain")


def test_delete_managed_url_sends_the_id(srv, client):
    url_id = srv.state.managed_urls[0]["id"]
    client.delete_managed_url(url_id)
    assert sent(srv, DELETE_URL) == [{"data": [{"id": url_id}]}]


def test_hold_release_sends_one_id_and_hold_reject_the_ids_reason_message_and_notify(srv, client):
    a, b, c = held(srv, 3)
    client.release_held_message(a)
    client.reject_held_messages([b, c], message="Phishing", reason_type="MESSAGE_CONTAINS_SPAM", notify=True)
    assert sent(srv, RELEASE) == [{"data": [{"id": a}]}]
    assert sent(srv, REJECT) == [
        {"data": [{"ids": [b, c], "notify": True, "message": "Phishing", "reasonType": "MESSAGE_CONTAINS_SPAM"}]}
    ]


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.create_managed_url(url="https://evil.example/page#frag", action="block"),
        lambda c: c.create_managed_url(url="https://evil.example/", action="quarantine"),
        lambda c: c.create_managed_url(url="https://evil.example/", action="block", match_type="regex"),
        lambda c: c.create_managed_url(url="  ", action="block"),
        lambda c: c.delete_managed_url(""),
        lambda c: c.create_blocked_sender_policy(description=" ", from_type="email_domain", from_value="x.example"),
        lambda c: c.create_blocked_sender_policy(description="d", from_type="planet", from_value="x"),
        lambda c: c.create_blocked_sender_policy(description="d", from_type="email_address", from_value="no-at"),
        lambda c: c.create_blocked_sender_policy(description="d", from_type="email_domain", from_value=""),
        lambda c: c.create_blocked_sender_policy(
            description="d", from_type="email_domain", from_value="x.example", from_part="body"
        ),
        lambda c: c.delete_blocked_sender_policy(" "),
        lambda c: c.reject_held_messages([]),
    ],
)
def test_invalid_arguments_are_refused_before_anything_is_sent(srv, client, call):
    srv.calls.clear()
    with pytest.raises(MimecastInvalidRequest):
        call(client)
    assert list(srv.calls) == []


@pytest.mark.parametrize(
    ("path", "call"),
    [
        (
            CREATE_POLICY,
            lambda c, s: c.create_blocked_sender_policy(description="d", from_type="everyone", from_value=None),
        ),
        (DELETE_POLICY, lambda c, s: c.delete_blocked_sender_policy(s.state.policies[0]["id"])),
        (CREATE_URL, lambda c, s: c.create_managed_url(url="https://once.example/", action="block")),
        (DELETE_URL, lambda c, s: c.delete_managed_url(s.state.managed_urls[0]["id"])),
        (RELEASE, lambda c, s: c.release_held_message(held(s, 1)[0])),
        (REJECT, lambda c, s: c.reject_held_messages(held(s, 1))),
    ],
)
def test_an_action_is_never_resent_after_a_500_but_is_after_a_503_that_did_not_run_it(srv, client, path, call):
    srv.faults.add(path=path, kind="status", status=500, count=1)
    with pytest.raises(MimecastServerError):
        call(client, srv)
    assert len(calls_to(srv, path)) == 1
    srv.faults.add(path=path, kind="status", status=503, count=1)
    call(client, srv)
    assert [call_value(c, "status") for c in calls_to(srv, path)] == [500, 503, 200]
