"""Contract tests: the client against the simulator over loopback HTTP, endpoint by endpoint,
checking parsed results field by field against the simulator's state."""

import base64
import hashlib
from datetime import timedelta

import pytest

from investigations.mimecast import ArchiveQuery, MimecastApiError
from investigations.mimecast.types import parse_datetime
from tests.mimecast.client_sim import call_value, calls_to, creds, sim_client

pytestmark = pytest.mark.usefixtures("_no_faults")


@pytest.fixture(scope="module")
def client(srv):
    return sim_client(srv, "login")


@pytest.fixture(scope="module")
def oauth_client(srv):
    return sim_client(srv, "oauth")


def _d(value):
    return parse_datetime(value) if isinstance(value, str) else value


def _inbound_with_attachment(srv):
    return next(
        m
        for m in reversed(srv.state.messages)
        if m.route == "inbound" and m.attachments and m.status not in ("held", "rejected") and m.cc is not None
    )


# ---------------------------------------------------------------------------------------- auth


def test_login_flow_discovers_the_region_logs_in_with_basic_cloud_and_signs_calls(srv):
    client = sim_client(srv, "login")
    srv.calls.clear()
    client.get_safe_score_summary()
    paths = [call_value(c, "path") for c in srv.calls]
    assert paths[:3] == [
        "/api/login/discover-authentication",
        "/api/login/login",
        "/api/awareness-training/company/get-safe-score-summary",
    ]
    c = creds()
    discover, login, call = list(srv.calls)[:3]
    assert "Authorization" not in call_value(discover, "headers")
    assert call_value(discover, "json") == {"data": [{"emailAddress": c.username}]}
    expected = "Basic-Cloud " + base64.b64encode(f"{c.username}:{c.password}".encode()).decode()
    assert call_value(login, "headers")["Authorization"] == expected
    assert call_value(login, "json") == {"data": [{"userName": c.username}]}
    assert call_value(call, "headers")["Authorization"].startswith("MC ")
    assert call_value(call, "status") == 200
    assert client.base_url == srv.base_url


def test_basic_ad_login_works(srv):
    client = sim_client(srv, "ad")
    assert client.get_safe_score_summary().counts
    login = calls_to(srv, "/api/login/login")[-1]
    assert call_value(login, "headers")["Authorization"].startswith("Basic-AD ")


def test_configured_access_and_secret_keys_need_no_login(srv):
    client = sim_client(srv, "keys")
    before = len(calls_to(srv, "/api/login/login"))
    assert client.get_safe_score_summary().counts
    assert len(calls_to(srv, "/api/login/login")) == before


def test_api2_gets_a_form_encoded_token_and_sends_it_as_bearer(srv):
    client = sim_client(srv, "oauth")
    srv.calls.clear()
    client.get_safe_score_summary()
    client.get_safe_score_summary()
    token_calls = calls_to(srv, "/oauth/token")
    assert len(token_calls) == 1
    headers = {k.lower(): v for k, v in call_value(token_calls[0], "headers").items()}
    assert headers["content-type"].startswith("application/x-www-form-urlencoded")
    api_calls = calls_to(srv, "/api/awareness-training/company/get-safe-score-summary")
    assert all(call_value(c, "headers")["Authorization"].startswith("Bearer ") for c in api_calls)


# ------------------------------------------------------------------------------ message finder


def test_message_finder_search_by_sender_and_subject_returns_the_message_field_by_field(srv, client):
    m = _inbound_with_attachment(srv)
    found = client.search_messages(
        sender=m.from_addr,
        subject=m.subject,
        start=m.received - timedelta(hours=1),
        end=m.received + timedelta(hours=1),
        search_reason="contract test",
    )
    hit = next(t for t in found if t.id == m.id)
    assert hit.status == m.status
    assert hit.info == m.info
    assert hit.from_env.email_address == m.env_from
    assert (hit.from_hdr.email_address, hit.from_hdr.displayable_name) == (m.from_addr, m.from_name or "")
    assert [a.email_address for a in hit.to] == [a for _, a in m.to + m.cc]
    assert hit.received == m.received.replace(microsecond=0)
    assert hit.sent == m.sent.replace(microsecond=0)
    assert hit.subject == m.subject
    assert hit.sender_ip == m.sender_ip
    assert hit.attachments is True
    assert hit.route == m.route
    assert hit.spam_score == m.spam_score
    assert hit.detection_level == (m.detection_level or "")
    sent = calls_to(srv, "/api/message-finder/search")[-1]
    item = call_value(sent, "json")["data"][0]
    assert item["advancedTrackAndTraceOptions"] == {"from": m.from_addr, "subject": m.subject}
    assert item["searchReason"] == "contract test"


def test_message_finder_search_by_message_id(srv, client):
    m = _inbound_with_attachment(srv)
    found = client.search_messages(
        message_id=m.mime_id, start=m.received - timedelta(days=1), end=m.received + timedelta(days=1)
    )
    assert [t.id for t in found] == [m.id]


def test_get_message_info_parses_every_block(srv, client):
    m = _inbound_with_attachment(srv)
    info = client.get_message_info(m.id)
    assert (info.id, info.status) == (m.id, m.status)
    received = info.recipient_info.message_info
    assert received.from_header == m.from_addr
    assert received.from_envelope == m.env_from
    assert received.to == [a for _, a in m.to]
    assert received.cc == [a for _, a in m.cc]
    assert received.subject == m.subject
    assert received.route in ("", m.route)  # some tenants give it only in the delivered copies
    assert info.delivered[m.recipients[0]].message_info.route == m.route
    assert received.processed == m.received.replace(microsecond=0)
    assert received.transmission_info
    assert received.text_body
    meta = info.recipient_info.meta
    assert meta.event == "Received"
    assert meta.remote_ip == m.sender_ip
    assert meta.remote_host == m.sender_host
    assert meta.transmission_size == m.size
    hashes = {c.hash for c in meta.components if c.type == "Attachment"}
    assert hashes == {srv.state.attachments[k].sha256 for k in m.attachments}
    assert set(info.delivered) == set(m.recipients)
    rcpt = m.recipients[0]
    delivered = info.delivered[rcpt]
    assert delivered.recipient == rcpt
    assert delivered.delivery.email_address == rcpt
    assert delivered.delivery.event.startswith(("Delivered", "Removed"))
    assert [p.policy_name for p in delivered.policies] == [p.get("policyName", "") for p in (m.policies or [])]
    assert info.retention.purge_based_on == "original"
    assert info.retention.retention_adjustment_days == -1
    assert info.spam.spam_score == m.spam_score
    assert set(info.spam.checks) >= {"spf", "dkim", "dmarc"}
    assert all(isinstance(check.allow, bool) for check in info.spam.checks.values())


def test_get_message_info_for_an_unknown_id_is_a_typed_error(client):
    with pytest.raises(MimecastApiError) as excinfo:
        client.get_message_info("eNpDoesNotExist")
    assert excinfo.value.code == "err_message_not_found"
    assert excinfo.value.message


# -------------------------------------------------------------------------------------- archive


def test_archive_admin_search_by_subject_pages_through_results(srv, client):
    m = _inbound_with_attachment(srv)
    query = ArchiveQuery(subject=m.subject, date_select="all", page_size=2)
    pages = list(client.iter_pages(client.archive_search, query, admin=True, max_pages=3))
    items = [i for p in pages for i in p.items]
    hit = next(i for i in items if i.id == m.id)
    assert hit.subject == m.subject
    assert hit.display_from_address == m.from_addr
    assert [a.email_address for a in hit.display_to_addresses] == [a for _, a in m.to]
    assert hit.received == m.received.replace(microsecond=0)
    assert hit.size == m.size
    assert hit.attachment_count == len(m.attachments)
    assert hit.status == "ARCHIVED"
    assert hit.smash
    assert all(p.page_size is None or p.page_size <= 2 for p in pages)
    assert len({i.id for i in items}) == len(items)


def test_archive_end_user_search_only_sees_the_users_own_mail(srv, client):
    user = creds().username
    page = client.archive_search(ArchiveQuery(date_select="all", page_size=50), admin=False)
    assert page.items
    for item in page.items:
        m = srv.state.message_by_id[item.id]
        assert user == m.from_addr or user in m.recipients


def test_archive_message_list_and_detail_and_attachment_download(srv, client):
    m = _inbound_with_attachment(srv)
    rcpt = m.to[0][1]
    listing = client.get_archive_message_list(
        view="INBOX", mailbox=rcpt, start=m.received - timedelta(minutes=5), end=m.received + timedelta(minutes=5)
    )
    entry = next(e for e in listing.items if e.id == m.id)
    assert (entry.subject, entry.from_.email_address, entry.size) == (m.subject, m.from_addr, m.size)
    assert entry.received == m.received.replace(microsecond=0)
    assert entry.attachment_count == len(m.attachments)

    detail = client.get_archive_message_detail(m.id)
    assert detail.mime_message_id == m.mime_id
    assert detail.subject == m.subject
    assert detail.from_.email_address == m.from_addr
    assert detail.envelope_from.email_address == m.env_from
    assert [a.email_address for a in detail.to] == [a for _, a in m.to]
    assert {h.name for h in detail.headers} >= {"From", "Subject"}
    assert len(detail.attachments) == len(m.attachments)
    for att, key in zip(detail.attachments, m.attachments, strict=True):
        a = srv.state.attachments[key]
        assert (att.filename, att.sha256, att.size, att.content_type) == (a.filename, a.sha256, a.size, a.mime)
        downloaded = client.get_file(att.id)
        assert hashlib.sha256(downloaded.content).hexdigest() == a.sha256
        assert downloaded.filename == a.filename


@pytest.mark.parametrize(("part_type", "marker"), [("RFC822", b"Subject:"), ("HTML", b"<"), ("PLAIN", b"")])
def test_get_message_part_downloads_each_format(srv, client, part_type, marker):
    m = _inbound_with_attachment(srv)
    part = client.get_message_part(m.id, context="RECEIVED", part_type=part_type)
    assert part.content
    assert marker in part.content


def test_get_message_part_failure_comes_back_as_a_typed_error(client):
    with pytest.raises(MimecastApiError) as excinfo:
        client.get_message_part("eNpNoSuchMessage", context="DELIVERED")
    assert excinfo.value.code == "err_message_not_found"


# ---------------------------------------------------------------------------------- remediation


def _malicious_attachment(srv):
    return next(a for a in srv.state.attachments.values() if a.malicious)


def test_remediation_by_hash_then_get_find_and_restore(srv, client):
    a = _malicious_attachment(srv)
    incident = client.create_remediation_incident(reason="contract test: macro", file_hash=a.sha256)
    assert incident.id and incident.code
    assert incident.reason == "contract test: macro"
    assert incident.search_criteria.file_hash == a.sha256
    assert incident.identified is not None

    again = client.get_incident(incident.id)
    assert (again.id, again.code) == (incident.id, incident.code)

    found = client.find_incidents(search_field="code", search_value=incident.code)
    assert [i.id for i in found.items] == [incident.id]

    code = again.search_criteria.restore_code or again.search_criteria.unremediate_code
    if code:
        restored = client.restore_remediation_incident(reason="contract test: restore", restore_code=code)
        assert restored.type == "restored"


def test_remediation_by_message_id_adds_the_angle_brackets(srv, client):
    m = _inbound_with_attachment(srv)
    incident = client.create_remediation_incident(reason="contract test", message_id=m.mime_id.strip("<>"))
    assert incident.search_criteria.message_id == m.mime_id


def test_remediation_v2_with_a_list_of_message_ids(srv, client):
    msgs = [m for m in srv.state.messages if m.route == "inbound"][-3:]
    incident = client.create_remediation_incident_v2(reason="contract test v2", message_ids=[m.mime_id for m in msgs])
    assert incident.search_criteria.message_ids == [m.mime_id for m in msgs]


def test_search_hash_splits_and_merges_and_reports_detections(srv, client):
    known = _malicious_attachment(srv).sha256
    unknown = [hashlib.sha256(f"x{i}".encode()).hexdigest() for i in range(149)]
    srv.calls.clear()
    result = client.search_hashes([known, *unknown])
    assert len(calls_to(srv, "/api/ttp/remediation/search-hash")) == 2
    assert len(result.hash_status) == 150
    assert known in result.detected


# ---------------------------------------------------------------------------------------- TTP


def test_decode_url_returns_the_original(srv, client):
    token, original = next(iter(srv.state.url_map.items()))
    decoded = client.decode_url(f"https://protect-eu.mimecast.com/s/{token}")
    assert decoded.url == original
    assert decoded.success is True


def test_decode_url_failure_is_a_typed_error(client):
    with pytest.raises(MimecastApiError) as excinfo:
        client.decode_url("https://protect-eu.mimecast.com/s/nope")
    assert excinfo.value.code == "err_url_decode_failed"


def _window(records):
    dates = [r["_dt"] for r in records if "_dt" in r]
    return min(dates) - timedelta(minutes=1), max(dates) + timedelta(minutes=1)


def test_url_click_logs_field_by_field(srv, client):
    start, end = _window(srv.state.click_logs)
    logs = list(client.iter_items(client.get_url_logs, start=start, end=end, oldest_first=True))
    assert len(logs) == len(srv.state.click_logs)
    src = srv.state.click_logs[0]
    log = next(x for x in logs if x.url == src["url"] and x.user_email_address == src["userEmailAddress"])
    assert log.from_user_email_address == src["fromUserEmailAddress"]
    assert (log.ttp_definition, log.subject, log.action) == (src["ttpDefinition"], src["subject"], src["action"])
    assert (log.scan_result, log.category, log.sending_ip) == (src["scanResult"], src["category"], src["sendingIp"])
    assert log.user_awareness_action == src["userAwarenessAction"]
    assert log.date == _d(src["date"])
    assert (log.route, log.message_id) == (src["route"], src["messageId"])
    assert log.email_parts_description == src["emailPartsDescription"]


def test_impersonation_logs_field_by_field(srv, client):
    start, end = _window(srv.state.impersonation_logs)
    logs = list(client.iter_items(client.get_impersonation_logs, start=start, end=end))
    src = srv.state.impersonation_logs[0]
    log = next(x for x in logs if x.id == src["id"])
    assert (log.sender_address, log.recipient_address) == (src["senderAddress"], src["recipientAddress"])
    assert (log.subject, log.definition, log.hits) == (src["subject"], src["definition"], src["hits"])
    assert log.identifiers == src["identifiers"]
    assert (log.action, log.tagged_malicious) == (src["action"], src["taggedMalicious"])
    assert log.event_time == _d(src["eventTime"])
    assert log.message_id == src["messageId"]
    assert len(log.impersonation_results) == len(src.get("impersonationResults", []))


def test_attachment_logs_field_by_field(srv, client):
    start, end = _window(srv.state.attachment_logs)
    logs = list(client.iter_items(client.get_attachment_logs, start=start, end=end))
    src = srv.state.attachment_logs[0]
    log = next(x for x in logs if x.file_hash == src["fileHash"] and x.recipient_address == src["recipientAddress"])
    assert (log.sender_address, log.file_name, log.file_type) == (
        src["senderAddress"],
        src["fileName"],
        src["fileType"],
    )
    assert (log.result, log.action_triggered, log.route) == (src["result"], src["actionTriggered"], src["route"])
    assert log.date == _d(src["date"])
    assert log.message_id == src["messageId"]


def test_managed_urls_field_by_field(srv, client):
    urls = list(client.iter_items(client.get_managed_urls, page_size=3))
    assert [u.id for u in urls] == [u["id"] for u in srv.state.managed_urls]
    src, got = srv.state.managed_urls[0], urls[0]
    assert (got.scheme, got.domain, got.port, got.path) == (src["scheme"], src["domain"], src["port"], src["path"])
    assert (got.match_type, got.action, got.comment) == (src["matchType"], src["action"], src["comment"])
    assert (got.disable_rewrite, got.disable_user_awareness, got.disable_log_click) == (
        src["disableRewrite"],
        src["disableUserAwareness"],
        src["disableLogClick"],
    )


# ------------------------------------------------------------------------------------ gateway


def test_held_messages_field_by_field(srv, client):
    held = list(client.iter_items(client.get_held_messages, admin=True))
    expected = [m for m in srv.state.messages if m.status == "held"]
    assert {h.id for h in held} == {m.id for m in expected}
    m = expected[-1]
    h = next(x for x in held if x.id == m.id)
    assert (h.reason, h.reason_id, h.reason_code) == (m.held["reason"], m.held["reasonId"], m.held["reasonId"].lower())
    assert (h.from_.email_address, h.from_header.email_address) == (m.env_from, m.from_addr)
    assert h.to.email_address == m.to[0][1]
    assert (h.subject, h.route, h.size) == (m.subject, m.route.upper(), m.size)
    assert h.date_received == m.received.replace(microsecond=0)


def test_held_release_logs_field_by_field(srv, client):
    start, end = _window(srv.state.release_logs)
    logs = list(client.iter_items(client.get_held_release_logs, start=start, end=end))
    src = srv.state.release_logs[0]
    log = next(x for x in logs if x.id == src["id"])
    assert log.from_env.email_address == src["fromEnv"]["address"]
    assert log.from_hdr.email_address == src["fromHdr"]["address"]
    assert (log.held_reason, log.operator, log.policy) == (src["heldReason"], src["operator"]["email"], src["policy"])
    assert log.released == _d(src["released"])
    assert (log.message_info, log.route, log.size) == (src["messageInfo"], src["route"], src["size"])
    assert log.reject_reason == (src["rejectReason"] or "")


def test_rejections_field_by_field(srv, client):
    start, end = _window(srv.state.rejections)
    logs = list(client.iter_items(client.get_rejections, admin=True, start=start, end=end))
    src = srv.state.rejections[-1]
    log = next(x for x in logs if x.id == src["id"])
    assert (log.from_address, log.to_address) == (src["fromAddress"], src["toAddress"])
    assert (log.info, log.description, log.ip_address) == (src["info"], src["description"], src["ipAddress"])
    assert (log.remote_ehlo, log.spam_score, log.type) == (src["remoteEhlo"], src["spamScore"], src["type"])
    assert log.created == _d(src["created"])


def test_hold_release_and_reject(srv, client):
    held = [m for m in srv.state.messages if m.status == "held"]
    released = client.release_held_message(held[0].id)
    assert (released.id, released.ok) == (held[0].id, True)
    rejected = client.reject_held_messages([held[1].id], message="spam", reason_type="MESSAGE_CONTAINS_SPAM")
    assert [(r.id, r.ok) for r in rejected] == [(held[1].id, True)]


# ------------------------------------------------------------------------- awareness training


def test_safe_scores_details_and_summary(srv, client):
    scores = list(client.iter_items(client.get_safe_score_details, page_size=50))
    assert {s.email_address for s in scores} == set(srv.state.safe_scores)
    s = scores[0]
    src = srv.state.safe_scores[s.email_address]
    assert (s.name, s.department, s.risk) == (src["name"], src["department"], src["risk"])
    assert (s.human_error, s.sentiment, s.engagement, s.knowledge) == (
        src["humanError"],
        src["sentiment"],
        src["engagement"],
        src["knowledge"],
    )
    summary = client.get_safe_score_summary()
    assert sum(summary.counts.values()) == len(srv.state.safe_scores)


def test_performance_details(srv, client):
    records = list(client.iter_items(client.get_performance_details))
    assert {r.email for r in records} == set(srv.state.training)
    r = records[0]
    src = srv.state.training[r.email]
    assert (r.name, r.department) == (src["name"], src["department"])
    assert r.videos_assigned == len(src["training"])
    assert r.campaigns


def test_phishing_campaigns_and_user_results(srv, client):
    campaigns = client.get_phishing_campaigns()
    assert [c.id for c in campaigns] == [c["id"] for c in srv.state.phishing_campaigns]
    c, src = campaigns[0], srv.state.phishing_campaigns[0]
    assert (c.name, c.num_sent, c.num_clicked, c.num_opened) == (
        src["name"],
        src["numSent"],
        src["numClicked"],
        src["numOpened"],
    )
    results = list(client.iter_items(client.get_phishing_user_data, c.id, page_size=40))
    expected = srv.state.phishing_results[c.id]
    assert [r.email for r in results] == [r["email"] for r in expected]
    assert [r.clicked for r in results] == [r["clicked"] for r in expected]
    assert results[0].template_name == expected[0]["templateName"]


def test_training_details_for_the_logged_in_user(srv, client):
    details = client.get_training_details()
    src = srv.state.training[creds().username]
    assert [t.title for t in details.training] == [t["title"] for t in src["training"]]
    assert [t.watched for t in details.training] == [t["watched"] for t in src["training"]]
    assert details.need_engagement == src["needEngagement"]


# ------------------------------------------------------------------------- policy, directory


def test_blocked_sender_policies_field_by_field(srv, client):
    policies = client.get_blocked_sender_policies()
    assert [p.id for p in policies] == [p["id"] for p in srv.state.policies]
    p, src = policies[0], srv.state.policies[0]
    assert p.option == src["option"]
    assert p.description == src["policy"]["description"]
    assert p.from_part == src["policy"]["fromPart"]
    assert p.from_.type == src["policy"]["from"]["type"]
    assert p.enabled == src["policy"]["enabled"]
    one = client.get_blocked_sender_policies(p.id)
    assert [x.id for x in one] == [p.id]


def test_groups_and_every_member_across_pages(srv, client):
    groups = list(client.iter_items(client.find_groups, page_size=5))
    cloud = [g for g in srv.state.groups if g["source"] == "cloud"]
    assert [g.id for g in groups] == [g["id"] for g in cloud]
    biggest = max(cloud, key=lambda g: len(g["members"]))
    g = next(x for x in groups if x.id == biggest["id"])
    assert (g.description, g.user_count) == (biggest["description"], biggest.get("userCount"))
    members = list(client.iter_items(client.get_group_members, g.id, page_size=7))
    assert [m.email_address for m in members] == [m.get("emailAddress", "") for m in biggest["members"]]
    assert len(calls_to(srv, "/api/directory/get-group-members")) >= len(biggest["members"]) // 7


# ------------------------------------------------------------------------------------------- SIEM


def test_siem_batch_downloads_every_file_and_stops_when_caught_up(srv, oauth_client):
    day = srv.state.now.date() - timedelta(days=1)
    pages = list(oauth_client.iter_siem_batches(event_types=["receipt"], start_date=day, end_date=day, max_pages=20))
    events = [e for p in pages for e in p.events]
    assert events
    assert all(e.get("type") == "receipt" for e in events)
    assert pages[-1].is_caught_up or pages[-1].next_page is None
    for p in pages:
        for f in p.files:
            assert f.url


def test_remediation_by_url_and_finding_incidents_by_type(srv, client):
    m = next(m for m in reversed(srv.state.messages) if m.urls and m.route == "inbound")
    original = m.urls[0][0]
    incident = client.create_remediation_incident(reason="contract test: url", url=original)
    assert incident.search_criteria.url == original
    manual = list(client.iter_items(client.find_incidents, types=["manual"], page_size=50))
    assert incident.id in {i.id for i in manual}
    assert all(i.type == "manual" for i in manual)
