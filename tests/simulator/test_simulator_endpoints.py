"""The simulator's seeded organisation and its read endpoints behave like Mimecast's."""

import hashlib
from datetime import UTC, datetime, timedelta

import requests

from mimecast_simulator import SIM_CREDENTIALS as C
from mimecast_simulator import SimulatorServer
from tests.simulator.sim_http import post, signed_headers

NOW = datetime(2026, 11, 20, 12, 0, 0, tzinfo=UTC)


def d(dt):
    return dt.strftime("%Y-%m-%dT%H:%M:%S+0000")


def ok(resp):
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["fail"] == [], body["fail"]
    assert body["meta"]["status"] == 200
    return body


SIMULATOR_OPTIONS = {"now": NOW}  # the module's simulator (the srv fixture) at a fixed time


def last_week(srv, path, **filters):
    """The first 100 entries of a log endpoint over the week before NOW."""
    item = {"from": d(NOW - timedelta(days=7)), "to": d(NOW), **filters}
    return ok(post(srv, path, [item], {"pagination": {"pageSize": 100}}))


def finder(srv, **opts):
    item = {"start": d(NOW - timedelta(days=30)), "end": d(NOW + timedelta(hours=1))}
    item.update(opts.pop("item", {}))
    item["advancedTrackAndTraceOptions"] = opts
    return ok(post(srv, "/api/message-finder/search", [item]))["data"][0]["trackedEmails"]


def archive(srv, muse="", metadata_extra="", admin=True, page_size=25, meta=None):
    q = (
        '<?xml version="1.0"?><xmlquery trace="iql,muse">'
        f'<metadata query-type="emailarchive" archive="true" active="false" page-size="{page_size}" startrow="0">'
        "<smartfolders/><return-fields><return-field>subject</return-field><return-field>id</return-field>"
        "<return-field>displayfromaddress</return-field><return-field>receiveddate</return-field>"
        "<return-field>displaytoaddresslist</return-field><return-field>attachmentcount</return-field>"
        f"</return-fields>{metadata_extra}</metadata><muse>{muse}</muse></xmlquery>"
    )
    return ok(post(srv, "/api/archive/search", [{"admin": admin, "query": q}], meta=meta))


# --- seeded data --------------------------------------------------------------------------------


def test_the_same_seed_gives_the_same_data_and_another_seed_does_not():
    a, b, c = (SimulatorServer(port=0, seed=s, now=NOW) for s in (7, 7, 8))
    assert [m.id for m in a.state.messages] == [m.id for m in b.state.messages]
    assert [m.subject for m in a.state.messages] == [m.subject for m in b.state.messages]
    assert a.state.story["macro_sha256"] == b.state.story["macro_sha256"]
    assert [m.id for m in a.state.messages] != [m.id for m in c.state.messages]


def test_the_organisation_has_the_promised_size(srv):
    st = srv.state
    assert len(st.mailboxes) >= 300
    assert len({m.domain for m in st.mailboxes}) == 3
    assert len(st.messages) == 5000
    assert all(NOW - timedelta(days=31) <= m.received <= NOW for m in st.messages)
    groups = ok(post(srv, "/api/directory/find-groups", [{"source": "cloud"}], {"pagination": {"pageSize": 100}}))
    assert len(groups["data"][0]["folders"]) == 10
    assert groups["meta"]["pagination"]["totalCount"] == 10
    macro_mailboxes = {r for m in st.messages if "macro" in m.attachments and m.status != "held" for r in m.recipients}
    assert len(macro_mailboxes) >= 20


def test_message_ids_look_like_mimecast_ids(srv):
    ids = [m.id for m in srv.state.messages[:50]]
    assert all(i.startswith("eNp") for i in ids)
    assert all(set(i) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") for i in ids)


def test_attachment_hashes_are_the_sha256_of_the_downloaded_bytes(srv):
    m = next(m for m in srv.state.messages if m.story == "macro")
    detail = ok(post(srv, "/api/archive/get-message-detail", [{"id": m.id}]))["data"][0]
    att = detail["attachments"][0]
    assert att["filename"] == "INV-20931.docm"
    raw = requests.post(
        srv.base_url + "/api/archive/get-file",
        json={"data": [{"id": att["id"]}]},
        headers=signed_headers("/api/archive/get-file"),
        timeout=10,
    )
    assert raw.status_code == 200
    assert hashlib.sha256(raw.content).hexdigest() == att["sha256"] == srv.state.story["macro_sha256"]
    assert raw.content[:2] == b"PK"  # a real OOXML zip


# --- message finder ----------------------------------------------------------------------------


def test_message_finder_filters_by_sender_domain_subject_ip_and_route(srv):
    phish = finder(srv, **{"from": "m365-secure-login.com"})
    assert len(phish) == 45
    assert all(t["fromHdr"]["emailAddress"].endswith("@m365-secure-login.com") for t in phish)
    assert len(finder(srv, subject="mailbox password expires")) == 45
    by_ip = finder(srv, senderIP="192.0.2.150")
    assert {t["id"] for t in by_ip} == {t["id"] for t in phish}
    outbound = finder(srv, **{"from": "acme-corp.com", "route": ["outbound"]})
    assert outbound and all(t["route"] == "outbound" for t in outbound)
    t = phish[0]
    assert t["received"].endswith("+0000") and t["id"].startswith("eNp")
    assert {
        "fromEnv",
        "fromHdr",
        "to",
        "sent",
        "senderIP",
        "attachments",
        "spamScore",
        "detectionLevel",
        "info",
    } <= set(t)


def test_message_finder_honours_the_time_window(srv):
    item = {"start": d(NOW - timedelta(days=1)), "end": d(NOW)}
    assert finder(srv, item=item, **{"from": "m365-secure-login.com"}) == []
    item = {"start": "2026-11-01T00:00:00+00:00", "end": "2026-11-20T12:00:00+00:00"}  # colon offsets accepted
    assert len(finder(srv, item=item, **{"from": "m365-secure-login.com"})) == 45


def test_message_finder_requires_search_criteria(srv):
    r = post(srv, "/api/message-finder/search", [{"start": d(NOW - timedelta(days=1))}])
    assert r.status_code == 200
    assert r.json()["fail"][0]["errors"][0]["code"] == "err_validation_null"


def test_message_finder_finds_by_internet_message_id(srv):
    m = srv.state.messages[1234]
    found = finder(srv, item={"messageId": m.mime_id})
    assert [t["id"] for t in found] == [m.id]


def test_get_message_info_has_delivery_per_recipient_headers_and_spam_info(srv):
    m = next(m for m in srv.state.messages if m.story == "macro" and m.status != "held")
    info = ok(post(srv, "/api/message-finder/get-message-info", [{"id": m.id}]))["data"][0]
    assert set(info["deliveredMessage"]) == set(m.recipients)
    assert "Authentication-Results" in info["recipientInfo"]["messageInfo"]["transmissionInfo"]
    comps = info["recipientInfo"]["recipientMetaInfo"]["components"]
    assert any(c["hash"] == srv.state.story["macro_sha256"] for c in comps)
    assert set(info["spamInfo"]["spamProcessingDetail"]) >= {"spf", "dkim", "dmarc", "rbl"}
    assert info["retentionInfo"]["purgeBasedOn"] == "original"


def test_get_message_info_for_an_unknown_id_fails_per_item(srv):
    body = post(srv, "/api/message-finder/get-message-info", [{"id": "eNpnope"}]).json()
    assert body["data"] == [] and body["fail"][0]["key"] == {"id": "eNpnope"}


# --- archive -------------------------------------------------------------------------------------


def test_archive_search_honours_subject_text(srv):
    items = archive(srv, "<text>subject: overdue invoice INV-20931</text>", page_size=100)["data"][0]["items"]
    assert len(items) == 8  # the 2 held copies are not archived yet
    assert all("INV-20931" in i["subject"] for i in items)


def test_archive_search_honours_body_text_sender_and_dates(srv):
    items = archive(srv, "<text>(body: wire transfer)</text>", page_size=100)["data"][0]["items"]
    assert len(items) == 1 and "wire transfer" in items[0]["subject"].lower()
    frm = archive(srv, '<sent select="from">accounts@northwind-supp1ies.co</sent>', page_size=100)["data"][0]["items"]
    assert len(frm) == 8
    window = f'<date select="between" from="{d(NOW - timedelta(days=1))}" to="{d(NOW)}"/>'
    recent = archive(srv, window, page_size=100)["data"][0]["items"]
    assert recent and all(i["receiveddate"] >= d(NOW - timedelta(days=1)) for i in recent)


def test_archive_search_honours_mailbox_and_attachment_type(srv):
    user = srv.state.messages[2000].to[0][1]
    items = archive(srv, "", f'<mailboxes><mailbox include-aliases="true">{user}</mailbox></mailboxes>', page_size=100)[
        "data"
    ][0]["items"]
    msgs = [srv.state.message_by_id[i["id"]] for i in items]
    assert msgs and all(user == m.from_addr or user in m.recipients for m in msgs)
    docs = archive(srv, '<docs select="documents">enable content</docs>', page_size=100)["data"][0]["items"]
    assert len(docs) == 8 and all(i["attachmentcount"] >= 1 for i in docs)


def test_archive_end_user_search_only_sees_own_mail(srv):
    items = archive(srv, "", admin=False, page_size=100)["data"][0]["items"]
    for i in items:
        m = srv.state.message_by_id[i["id"]]
        assert C.username == m.from_addr or C.username in m.recipients


def test_archive_search_pages_with_page_tokens(srv):
    first = archive(srv, "<text>subject: invoice</text>", page_size=10)
    assert first["meta"]["pagination"]["pageSize"] == 10
    assert first["meta"]["pagination"]["recordStart"] == 0
    token = first["meta"]["pagination"]["next"]
    second = archive(srv, "<text>subject: invoice</text>", page_size=10, meta={"pagination": {"pageToken": token}})
    assert second["meta"]["pagination"]["recordStart"] == 10
    ids1 = {i["id"] for i in first["data"][0]["items"]}
    assert ids1.isdisjoint({i["id"] for i in second["data"][0]["items"]})


def test_archive_search_rejects_malformed_xml(srv):
    r = post(srv, "/api/archive/search", [{"admin": True, "query": "<xmlquery><metadata"}])
    assert r.json()["fail"][0]["errors"][0]["code"] == "err_archive_search_invalid_query"


def test_get_message_part_streams_received_and_delivered_versions(srv):
    m = next(m for m in srv.state.messages if m.story == "phishing")
    original, rewritten = m.urls[0]
    path = "/api/archive/get-message-part"
    raw = requests.post(
        srv.base_url + path,
        headers=signed_headers(path),
        timeout=10,
        json={"data": [{"id": m.id, "context": "RECEIVED", "type": "RFC822", "mailbox": m.to[0][1]}]},
    )
    assert raw.status_code == 200 and raw.headers["Content-Type"] == "message/rfc822"
    assert original.encode() in raw.content and b"Authentication-Results:" in raw.content
    html_part = requests.post(
        srv.base_url + path,
        headers=signed_headers(path),
        timeout=10,
        json={"data": [{"id": m.id, "context": "DELIVERED", "type": "HTML"}]},
    )
    assert rewritten.startswith("https://protect-eu.mimecast.com/s/")
    assert rewritten.encode() in html_part.content


def test_get_message_list_returns_a_mailbox_inbox(srv):
    user = srv.state.messages[3000].to[0][1]
    body = ok(
        post(
            srv,
            "/api/archive/get-message-list",
            [{"view": "INBOX", "mailbox": user, "start": d(NOW - timedelta(days=30)), "end": d(NOW)}],
        )
    )
    assert body["data"] and all(user in srv.state.message_by_id[x["id"]].recipients for x in body["data"])


# --- paging --------------------------------------------------------------------------------------


def test_group_members_page_through_with_next_and_previous(srv):
    groups = ok(post(srv, "/api/directory/find-groups", [{"query": "Engineering"}]))["data"][0]["folders"]
    gid = groups[0]["id"]
    seen, token, pages = [], None, 0
    while True:
        meta = {"pagination": {"pageSize": 10, **({"pageToken": token} if token else {})}}
        body = ok(post(srv, "/api/directory/get-group-members", [{"id": gid}], meta))
        pag = body["meta"]["pagination"]
        members = body["data"][0]["groupMembers"]
        assert pag["pageSize"] == len(members)
        if pages:
            assert "previous" in pag
        seen += [m["emailAddress"] for m in members]
        pages += 1
        token = pag.get("next")
        if not token:
            break
    assert len(seen) == len(set(seen)) == pag["totalCount"] == groups[0]["userCount"]
    assert pages > 1


def test_page_size_is_capped(srv):
    body = ok(
        post(srv, "/api/awareness-training/company/get-safe-score-details", [], {"pagination": {"pageSize": 5000}})
    )
    assert body["meta"]["pagination"]["pageSize"] == 320
    capped = ok(
        post(
            srv,
            "/api/ttp/url/get-logs",
            [{"from": d(NOW - timedelta(days=30)), "to": d(NOW)}],
            {"pagination": {"pageSize": 1000}},
        )
    )
    assert capped["meta"]["pagination"]["pageSize"] == 100 and "next" in capped["meta"]["pagination"]


def test_a_forged_page_token_is_refused(srv):
    r = post(srv, "/api/directory/find-groups", [], {"pagination": {"pageToken": "garbage"}})
    assert r.json()["fail"][0]["errors"][0]["code"] == "err_validation_invalid_page_token"


# --- TTP, URL, held, rejections ------------------------------------------------------------------


def test_decode_url_returns_the_original_of_a_rewritten_url(srv):
    m = next(m for m in srv.state.messages if m.story == "phishing")
    original, rewritten = m.urls[0]
    assert ok(post(srv, "/api/ttp/url/decode-url", [{"url": rewritten}]))["data"] == [
        {"url": original, "success": True}
    ]
    bad = post(srv, "/api/ttp/url/decode-url", [{"url": "https://protect-eu.mimecast.com/s/unknown"}]).json()
    assert bad["fail"][0]["errors"][0]["code"] == "err_url_decode_failed"


def test_url_logs_show_users_who_clicked_the_phishing_link(srv):
    logs = last_week(srv, "/api/ttp/url/get-logs", scanResult="all")
    clicks = [c for c in logs["data"][0]["clickLogs"] if "m365-secure-login.com" in c["url"]]
    assert len({c["userEmailAddress"] for c in clicks}) >= 5
    assert {"allow", "block"} <= {c["action"] for c in clicks}


def test_attachment_and_impersonation_logs_tell_their_stories(srv):
    att = last_week(srv, "/api/ttp/attachment/get-logs", result="all")
    macro = [x for x in att["data"][0]["attachmentLogs"] if x["fileHash"] == srv.state.story["macro_sha256"]]
    assert len(macro) == 30
    imp = last_week(srv, "/api/ttp/impersonation/get-logs", taggedMalicious=True)
    logs = imp["data"][0]["impersonationLogs"]
    assert logs and all(x["id"].startswith("MTOKEN:") for x in logs)
    assert "similar_internal_domain" in logs[0]["identifiers"]


def test_held_messages_can_be_listed_and_released(srv):
    held = ok(post(srv, "/api/gateway/get-hold-message-list", [{"admin": True}], {"pagination": {"pageSize": 100}}))
    assert held["data"] and held["data"][0]["route"] == "INBOUND"
    summary = ok(post(srv, "/api/gateway/get-hold-summary-list", []))["data"]
    assert sum(s["numberOfItems"] for s in summary) == held["meta"]["pagination"]["totalCount"]
    target = held["data"][-1]["id"]
    assert ok(post(srv, "/api/gateway/hold-release", [{"id": target}]))["data"] == [{"id": target, "release": True}]
    logs = ok(post(srv, "/api/gateway/get-held-release-logs", [{}]))["data"][0]["heldReleaseLogs"]
    assert logs[0]["id"] == target and logs[0]["operator"]["email"] == C.username


def test_rejections_are_wrapped_in_data_0_rejections(srv):
    body = ok(
        post(srv, "/api/gateway/get-rejections", [{"admin": True, "start": d(NOW - timedelta(days=7)), "end": d(NOW)}])
    )
    assert body["data"][0]["rejections"][0]["created"].endswith("+0000")


def test_search_hash_finds_the_macro_and_refuses_more_than_100_hashes(srv):
    sha = srv.state.story["macro_sha256"]
    body = ok(post(srv, "/api/ttp/remediation/search-hash", [{"hashes": [sha, "a" * 64, "nothex"]}]))
    assert body["data"][0]["hashStatus"] == [{"hash": sha, "detected": True}, {"hash": "a" * 64, "detected": False}]
    assert body["data"][0]["failedHashes"] == ["nothex"]
    too_many = post(srv, "/api/ttp/remediation/search-hash", [{"hashes": ["a" * 64] * 101}]).json()
    assert too_many["data"] == []
    assert too_many["fail"][0]["errors"][0]["field"] == "hashes"


# --- awareness, policy ---------------------------------------------------------------------------


def test_every_user_has_a_safe_score_and_phishing_results(srv):
    scores = ok(
        post(srv, "/api/awareness-training/company/get-safe-score-details", [], {"pagination": {"pageSize": 500}})
    )["data"]
    assert len(scores) == 320 and {s["risk"] for s in scores} <= set("ABCDF")
    summary = ok(post(srv, "/api/awareness-training/company/get-safe-score-summary", []))["data"][0]["scoreCounts"]
    assert sum(summary.values()) == 320
    camps = ok(post(srv, "/api/awareness-training/phishing/campaign/get-campaign", []))["data"]
    users = ok(
        post(
            srv,
            "/api/awareness-training/phishing/campaign/get-user-data",
            [{"id": camps[0]["id"]}],
            {"pagination": {"pageSize": 500}},
        )
    )["data"][0]["items"]  # tenants answer a campaign's users as data[0].items[]
    assert len(users) == 320 and sum(u["timeClicked"] is not None for u in users) == camps[0]["numClicked"]
    assert sum(u["timeSubmitted"] is not None for u in users) == camps[0]["numSubmitted"]
    assert {u["status"] for u in users} <= {"sent", "opened", "clicked", "submitted", "reported"}
    assert all({"timeScheduled", "timeOpened", "timeReported", "userState"} <= set(u) for u in users)
    perf = ok(
        post(
            srv,
            "/api/awareness-training/company/get-performance-details",
            [{"includeUserDetails": True}],
            {"pagination": {"pageSize": 500}},
        )
    )["data"]
    assert len(perf) == 320 and "campaigns" in perf[0]
    assert all(p["numCorrect"] + p["numIncorrect"] + p["numNotWatched"] == 5 for p in perf)
    training = ok(post(srv, "/api/awareness-training/user/get-training-details", []))["data"][0]
    assert training["training"] and "needEngagement" in training


def test_blocked_sender_policies_are_listed(srv):
    pols = ok(post(srv, "/api/policy/blockedsenders/get-policy", []))["data"]
    assert len(pols) >= 5 and pols[0]["policy"]["fromDate"] == "1900-01-01T00:00:00+0000"
    one = ok(post(srv, "/api/policy/blockedsenders/get-policy", [{"id": pols[1]["id"]}]))["data"]
    assert one == [pols[1]]


def test_an_unknown_endpoint_is_404(srv):
    r = post(srv, "/api/nothing/here", [])
    assert r.status_code == 404


def test_managed_urls_can_be_listed_created_and_refused_as_duplicates(srv):
    before = ok(post(srv, "/api/ttp/url/get-all-managed-urls", []))["data"]
    assert before and all(u["id"].startswith("wOi3MC") for u in before)
    item = {"url": "https://m365-secure-login.com/", "action": "block", "matchType": "domain", "comment": "phish"}
    created = ok(post(srv, "/api/ttp/url/create-managed-url", [item]))["data"][0]
    assert created["domain"] == "m365-secure-login.com" and created["action"] == "block"
    dup = post(srv, "/api/ttp/url/create-managed-url", [item]).json()
    assert dup["fail"][0]["errors"][0]["code"] == "err_managed_url_exists_code"
    assert dup["fail"][0]["key"]["overrideUrl"] is False
    ok(post(srv, "/api/ttp/url/delete-managed-url", [{"id": created["id"]}]))
    assert len(ok(post(srv, "/api/ttp/url/get-all-managed-urls", []))["data"]) == len(before)


def test_group_members_can_be_added_and_removed(srv):
    gid = ok(post(srv, "/api/directory/find-groups", [{"query": "Blocked Senders"}]))["data"][0]["folders"][0]["id"]
    added = ok(post(srv, "/api/directory/add-group-member", [{"id": gid, "emailAddress": "bad@evil.example"}]))
    assert added["data"][0]["emailAddress"] == "bad@evil.example" and added["data"][0]["internal"] is False
    again = post(srv, "/api/directory/add-group-member", [{"id": gid, "emailAddress": "bad@evil.example"}]).json()
    assert again["fail"][0]["errors"][0]["code"] == "err_folder_group_member_already_exists"
    ok(post(srv, "/api/directory/remove-group-member", [{"id": gid, "emailAddress": "bad@evil.example"}]))
    gone = post(srv, "/api/directory/remove-group-member", [{"id": gid, "emailAddress": "bad@evil.example"}]).json()
    assert gone["fail"][0]["errors"][0]["code"] == "err_folder_email_address_not_found"


def test_training_campaigns_watchlist_and_archive_search_logs(srv):
    camps = ok(post(srv, "/api/awareness-training/campaign/get-campaigns", []))["data"]
    assert len(camps) == 5
    users = ok(
        post(
            srv,
            "/api/awareness-training/campaign/get-user-data",
            [{"id": camps[0]["id"], "filterBy": [{"fieldName": "status", "value": "correct"}]}],
            {"pagination": {"pageSize": 500}},
        )
    )["data"]
    assert len(users) == camps[0]["numCorrect"]
    assert ok(post(srv, "/api/awareness-training/company/get-watchlist-details", []))["data"]
    archive(srv, "<text>needle-for-the-log</text>")
    logs = ok(post(srv, "/api/archive/get-archive-search-logs", [{"query": "needle-for-the-log"}]))
    assert logs["data"][0]["logs"][0]["emailAddr"] == C.username


def test_the_phishing_url_remediates_every_copy_and_gateway_detail_has_verdicts(srv):
    m = next(m for m in srv.state.messages if m.story == "macro" and m.status == "held")
    detail = ok(post(srv, "/api/gateway/message/get-message-detail", [{"id": m.id, "context": "RECEIVED"}]))
    assert detail["data"][0]["attachments"][0]["verdict"] == "malicious"
    assert {m.urls[0][0] for m in srv.state.messages if m.story == "phishing"} == {srv.state.story["phishing_url"]}
