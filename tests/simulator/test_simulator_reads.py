"""The routes the simulator counts as reads (handlers.READ_ONLY) change nothing in its state: a reset
after them keeps the state as it is instead of loading the seeded copy again, so a route in that set
that did change something would leak the change into the next test."""

import pickle
from datetime import UTC, datetime, timedelta

import pytest

from mimecast_simulator import SIM_CREDENTIALS as C
from mimecast_simulator import handlers
from tests.simulator.sim_http import post

NOW = datetime(2026, 11, 20, 12, 0, 0, tzinfo=UTC)
SIMULATOR_OPTIONS = {"now": NOW}
WEEK = {
    "from": (NOW - timedelta(days=7)).strftime("%Y-%m-%dT%H:%M:%S+0000"),
    "to": NOW.strftime("%Y-%m-%dT%H:%M:%S+0000"),
}
MONTH = {"start": (NOW - timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%S+0000"), "end": WEEK["to"]}


def _items(state):
    """For each read route, the items of a call that finds something (a known message, group,
    campaign or policy), as the portal would send them."""
    phishing = next(m for m in state.messages if m.story == "phishing")
    held = next(m for m in state.messages if m.status == "held")
    macro = next(m for m in state.messages if m.story == "macro")
    group = state.groups[0]
    some_hash = state.attachments[macro.attachments[0]].sha256
    campaign = state.phishing_campaigns[0]
    mailbox = phishing.to[0][1]
    return {
        "/api/login/discover-authentication": {"emailAddress": mailbox},
        "/api/message-finder/search": {**MONTH, "advancedTrackAndTraceOptions": {"subject": phishing.subject}},
        "/api/tracking/search": {**MONTH, "advancedTrackAndTraceOptions": {"from": phishing.env_from}},
        "/api/message-finder/get-message-info": {"id": phishing.id},
        "/api/archive/get-message-list": {"view": "INBOX", "mailbox": mailbox, **MONTH},
        "/api/archive/get-message-detail": {"id": macro.id},
        "/api/archive/get-message-part": {"id": phishing.id, "context": "DELIVERED", "type": "HTML"},
        "/api/archive/get-file": {"id": handlers.attachment_id(state.seed, macro, 0)},
        "/api/gateway/message/get-message-detail": {"id": held.id, "context": "RECEIVED"},
        "/api/gateway/message/get-file": {"id": handlers.attachment_id(state.seed, macro, 0)},
        "/api/ttp/remediation/search-hash": {"hashes": [some_hash, "a" * 64]},
        "/api/ttp/url/decode-url": {"url": phishing.urls[0][1]},
        "/api/ttp/url/get-logs": {**WEEK, "scanResult": "all"},
        "/api/ttp/url/get-all-managed-urls": {},
        "/api/ttp/impersonation/get-logs": {**WEEK, "taggedMalicious": True},
        "/api/ttp/attachment/get-logs": {**WEEK, "result": "all"},
        "/api/gateway/get-hold-message-list": {"admin": True},
        "/api/gateway/get-hold-summary-list": {},
        "/api/gateway/get-held-release-logs": {},
        "/api/gateway/get-rejections": {"admin": True, "start": MONTH["start"], "end": MONTH["end"]},
        "/api/awareness-training/company/get-performance-details": {"includeUserDetails": True},
        "/api/awareness-training/company/get-safe-score-details": {},
        "/api/awareness-training/company/get-safe-score-summary": {},
        "/api/awareness-training/user/get-training-details": {},
        "/api/awareness-training/phishing/campaign/get-campaign": {"id": campaign["id"]},
        "/api/awareness-training/phishing/campaign/get-user-data": {"id": campaign["id"]},
        "/api/policy/blockedsenders/get-policy": {},
        "/api/directory/find-groups": {"query": group["description"]},
        "/api/directory/get-group-members": {"id": group["id"]},
        "/api/awareness-training/campaign/get-campaigns": {},
        "/api/awareness-training/campaign/get-user-data": {
            "id": next(iter(state.training.values()))["training"][0]["titleId"]
        },
        "/api/awareness-training/company/get-watchlist-details": {},
        "/api/archive/get-archive-search-logs": {"query": C.username},
    }


def test_every_read_route_has_a_call_here_and_writers_stay_out_of_the_set(srv):
    assert set(_items(srv.state)) == handlers.READ_ONLY
    # Each of these changes the state, whatever it is given.
    assert not handlers.READ_ONLY & {
        "/api/archive/search",  # logs the search
        "/api/ttp/remediation/get-incident",  # counts the poll
        "/api/ttp/remediation/find-incidents",  # settles the incidents it lists
        "/api/ttp/remediation/create",
        "/api/gateway/hold-release",
    }


def _read_all(srv, paths):
    """Each route called as the portal calls it (which must find something), paged, and with
    nothing or an empty item (which may be refused)."""
    items = _items(srv.read_state())
    for path in paths:
        for data, meta in (
            ([items[path]], None),
            ([items[path]], {"pagination": {"pageSize": 2}}),
            ([], None),
            ([{}], None),
        ):
            response = post(srv, path, data, meta)
            assert response.status_code in (200, 400), (path, response.status_code, response.text[:200])
            if data and data[0]:
                assert response.status_code == 200, (path, response.text[:200])
                if response.headers["Content-Type"].startswith("application/json"):  # not a file or a part
                    assert response.json()["fail"] == [], (path, response.json()["fail"])


def test_the_read_routes_leave_the_state_as_it_was(fresh_srv):
    state = fresh_srv.read_state()
    before = pickle.dumps(state)
    _read_all(fresh_srv, sorted(handlers.READ_ONLY))
    if pickle.dumps(state) != before:
        changed = []  # which route it was, one route at a time
        for path in sorted(handlers.READ_ONLY):
            fresh_srv.reset()
            first = pickle.dumps(fresh_srv.read_state())
            _read_all(fresh_srv, [path])
            if pickle.dumps(fresh_srv.read_state()) != first:
                changed.append(path)
        pytest.fail(f"read routes changed the simulator's state: {changed}")
    assert fresh_srv.read_state() is state  # and nothing loaded it again in between


def test_a_reset_after_reads_only_keeps_the_state_and_after_a_write_loads_it_again(fresh_srv):
    state = fresh_srv.read_state()
    post(fresh_srv, "/api/gateway/get-hold-message-list", [{"admin": True}])
    fresh_srv.reset()
    assert fresh_srv.read_state() is state
    post(fresh_srv, "/api/ttp/url/create-managed-url", [{"url": "https://evil.example/x", "action": "block"}])
    assert fresh_srv.effects("create-managed-url")
    fresh_srv.reset()
    assert fresh_srv.read_state() is not state
    assert fresh_srv.effects("create-managed-url") == []
