"""Directory and policy, and awareness training, against the simulator."""

import json
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import pytest
from django.urls import reverse

from investigations.directory.services import group_members
from investigations.models import AuditAction, AuditEvent


def _group(sim, name):
    return next(g for g in sim.state.groups if g["description"] == name)


def _text(response):
    return response.content.decode()


# ------------------------------------------------------------------------------------ directory


def test_groups_are_found_by_name_and_link_to_their_members(signed_in, sim):
    response = signed_in.get(reverse("directory-groups"), {"query": "fin"})
    assert response.status_code == 200
    names = [row["group"].name for row in response.context["rows"]]
    assert names == ["Finance"]
    finance = _group(sim, "Finance")
    assert urlencode({"id": finance["id"]}) in response.context["rows"][0]["members_url"]
    assert AuditEvent.objects.get(action=AuditAction.SEARCH_GROUPS).data["criteria"] == {
        "query": "fin",
        "source": "cloud",
    }


def test_group_members_are_listed_500_a_page(signed_in, sim):
    finance = _group(sim, "Finance")
    response = signed_in.get(reverse("directory-group-members"), {"id": finance["id"], "name": "Finance"})
    assert response.status_code == 200
    listed = {row["member"].email_address for row in response.context["rows"]}
    assert listed == {m["emailAddress"] for m in finance["members"]}
    call = sim.calls_to("/api/directory/get-group-members")[-1]
    assert call.json["meta"]["pagination"]["pageSize"] == 500
    row = response.context["rows"][0]
    assert row["awareness_url"].startswith(reverse("awareness-user"))
    assert row["messages_url"].startswith(reverse("track-trace"))


def test_group_members_page_on_with_mimecast_tokens(signed_in, sim, analyst):
    finance = _group(sim, "Finance")
    first, problem = group_members(actor=analyst, group_id=finance["id"], page_token=None, page_size=2)
    assert problem is None and first.next_token
    response = signed_in.get(reverse("directory-group-members"), {"id": finance["id"], "page": first.next_token})
    rest = {row["member"].email_address for row in response.context["rows"]}
    assert len(rest) == len(finance["members"]) - 2
    assert not rest & {m.email_address for m in first.items}


def test_an_unknown_group_says_so_in_place(signed_in, sim):
    response = signed_in.get(reverse("directory-group-members"), {"id": "no-such-group"})
    assert response.status_code == 200
    assert "could not be found" in _text(response)


@pytest.mark.parametrize(
    ("sender", "policy", "why"),
    [
        ("winner@prize-claims.example", "Prize scam sender", "names this address"),
        ("someone@cheap-hosting.example", "Block known spam hosting", "covers the domain cheap-hosting.example"),
        ("winner@prize-claims.example", "Blocked Senders group", "the sender is in the group Blocked Senders"),
    ],
)
def test_the_policies_page_says_which_policy_covers_a_sender(signed_in, sim, sender, policy, why):
    response = signed_in.get(reverse("directory-policies"), {"sender": sender})
    assert response.status_code == 200
    rows = {row.policy.description: row for row in response.context["rows"]}
    assert rows[policy].applies
    assert rows[policy].why == why
    assert response.context["rows"][0].applies  # covering policies come first
    assert len(rows) == len(sim.state.policies)
    assert AuditEvent.objects.get(action=AuditAction.SEARCH_BLOCKED_SENDERS).data["sender"] == sender


def test_a_sender_no_policy_covers_is_told_where_else_to_look(signed_in, sim):
    response = signed_in.get(reverse("directory-policies"), {"sender": "jane@contoso-partners.com"})
    assert response.context["applying"] == 0
    body = _text(response)
    assert "No blocked-sender policy covers" in body
    assert reverse("tools-rejections") in body


@pytest.mark.parametrize("sender", ["not an address", "a@b", "x" * 10_000, "evil\x00@example.com", "<script>@x.com"])
def test_a_bad_sender_is_a_field_error(signed_in, sim, sender):
    response = signed_in.get(reverse("directory-policies"), {"sender": sender})
    assert response.status_code == 200
    assert response.context["form"].errors["sender"]
    assert sim.calls_to("/api/policy/blockedsenders/get-policy") == []


def test_a_policy_read_failure_shows_in_place(signed_in, sim):
    sim.faults.add(path="/api/policy/blockedsenders/get-policy", kind="status", status=503, count=None)
    response = signed_in.get(reverse("directory-policies"), {"sender": "winner@prize-claims.example"})
    assert response.status_code == 200
    assert "Mimecast had an internal problem" in _text(response)


# ------------------------------------------------------------------------------------ awareness


def test_the_awareness_overview_shows_scores_campaigns_and_training(signed_in, sim):
    response = signed_in.get(reverse("awareness"))
    assert response.status_code == 200
    body = _text(response)
    counts = dict(response.context["grades"])
    assert sum(counts.values()) == len(sim.state.safe_scores)
    assert "Q3 Password Reset Simulation" in body and "Parcel Delivery Simulation" in body
    assert "Phishing Fundamentals" in body  # the API user's own training
    assert len(response.context["scores"]) == min(len(sim.state.safe_scores), 50)  # the first page


def test_scores_filter_by_risk_and_text(signed_in, sim):
    response = signed_in.get(reverse("awareness"), {"risk": "F"})
    scores = [s for s, _ in response.context["scores"]]
    assert scores and all(s.risk == "F" for s in scores)
    some = next(iter(sim.state.safe_scores.values()))
    response = signed_in.get(reverse("awareness"), {"q": some["emailAddress"]})
    assert [s.email_address for s, _ in response.context["scores"]] == [some["emailAddress"]]


def test_a_failing_awareness_call_shows_its_error_while_the_rest_renders(signed_in, sim):
    sim.faults.add(path="/api/awareness-training/company/get-safe-score-summary", kind="status", status=503, count=None)
    response = signed_in.get(reverse("awareness"))
    assert response.status_code == 200
    body = _text(response)
    assert "Mimecast had an internal problem" in body
    assert "Q3 Password Reset Simulation" in body


def test_a_campaign_lists_its_users_and_filters_to_the_clickers(signed_in, sim):
    campaign = sim.state.phishing_campaigns[0]
    response = signed_in.get(reverse("awareness-campaign"), {"id": campaign["id"]})
    assert response.context["screen"]["total"] == campaign["numSent"]  # shown 50 a page
    clicked = signed_in.get(reverse("awareness-campaign"), {"id": campaign["id"], "result": "clicked"})
    users = [u for u, _ in clicked.context["users"]]
    assert clicked.context["screen"]["total"] == campaign["numClicked"] and all(u.clicked for u in users)
    assert "Q3 Password Reset Simulation" in _text(clicked)


def test_a_users_page_shows_score_training_phishing_and_links_to_their_mail(signed_in, sim):
    campaign = sim.state.phishing_campaigns[0]
    clicker = next(r for r in sim.state.phishing_results[campaign["id"]] if r["clicked"])
    email = clicker["email"]
    response = signed_in.get(reverse("awareness-user"), {"email": email.upper()})
    assert response.status_code == 200
    data = response.context["data"]
    assert data.score.risk == sim.state.safe_scores[email]["risk"]
    assert data.performance.videos_assigned == 5
    assert any(result.clicked for _, result in data.phishing)
    assert response.context["messages_url"] == reverse("track-trace") + "?" + urlencode(
        {"recipient": email, "to": email, "window": "30d"}
    )
    assert response.context["messages_url"].replace("&", "&amp;") in _text(response)
    assert AuditEvent.objects.get(action=AuditAction.SEARCH_AWARENESS_USER).target_id == email


@pytest.mark.parametrize("email", ["", "nobody", "a" * 400 + "@x.com", "x\x1b@acme-corp.com"])
def test_a_bad_user_address_is_a_field_error(signed_in, sim, email):
    response = signed_in.get(reverse("awareness-user"), {"email": email})
    assert response.status_code == 200
    assert response.context["form"].errors["email"]
    assert response.context["data"] is None


def test_htmx_gets_only_the_partial_on_directory_and_awareness_pages(signed_in, sim):
    for name, params in [
        ("directory-groups", {"query": "fin"}),
        ("directory-policies", {"sender": "winner@prize-claims.example"}),
        ("awareness", {"risk": "A"}),
        ("awareness-user", {"email": "nobody@acme-corp.com"}),
    ]:
        whole = _text(signed_in.get(reverse(name), params))
        partial = _text(signed_in.get(reverse(name), params, headers={"HX-Request": "true"}))
        assert "<html" in whole and 'id="main"' in whole
        assert "<html" not in partial and 'id="main"' not in partial


# ------------------------------------------------------------- Mimecast's own shapes, verdicts


def test_a_failed_policy_lookup_draws_no_conclusion(signed_in, sim):
    sim.faults.add(path="/api/policy/blockedsenders/get-policy", kind="status", status=503, count=None)
    body = _text(signed_in.get(reverse("directory-policies"), {"sender": "jane@contoso-partners.com"}))
    assert "Mimecast had an internal problem" in body
    assert "No blocked-sender policy covers" not in body
    assert "is not known: the policies could not be read" in body


def test_an_unreadable_group_leaves_the_verdict_open(signed_in, sim):
    assert any(p["policy"]["from"]["type"] == "profile_group" for p in sim.state.policies)
    sim.faults.add(path="/api/directory/get-group-members", kind="status", status=503, count=None)
    response = signed_in.get(reverse("directory-policies"), {"sender": "jane@contoso-partners.com"})
    body = _text(response)
    assert "No blocked-sender policy covers" not in body
    assert "could not be read" in body
    assert response.context["applying"] == 0 and response.context["undecided"] >= 1


def _answer(data, total=None):
    """A Mimecast API 1.0 answer as tenants send it, to serve through the simulator's raw fault."""
    count = total if total is not None else len(data)
    return json.dumps({"meta": {"status": 200, "pagination": {"pageSize": 500, "totalCount": count}}, "data": data})


# Per-user phishing results as tenants send them: a list of items in data[0], a moment per step.
def _tenant_phishing_users(emails):
    submitter, clicker, reporter = emails
    return _answer(
        [
            {
                "items": [
                    {
                        "email": submitter,
                        "name": "Sub Mitter",
                        "department": "Finance",
                        "templateName": "Password expiry",
                        "status": "submitted",
                        "timeScheduled": "2026-10-01T09:00:00+0000",
                        "timeOpened": "2026-10-01T09:14:05+0000",
                        "timeClicked": "2026-10-01T09:15:00+0000",
                        "timeSubmitted": "2026-10-01T09:16:30+0000",
                        "timeReported": None,
                        "userState": "active",
                    },
                    {
                        "email": clicker,
                        "name": "Click Er",
                        "department": "Sales",
                        "templateName": "Password expiry",
                        "status": "clicked",
                        "timeScheduled": "2026-10-01T09:00:00+0000",
                        "timeOpened": "2026-10-01T10:00:00+0000",
                        "timeClicked": "2026-10-01T10:01:00+0000",
                        "timeSubmitted": None,
                        "timeReported": None,
                        "userState": "active",
                    },
                    {
                        "email": reporter,
                        "name": "Re Porter",
                        "department": "IT",
                        "templateName": "Password expiry",
                        "status": "reported",
                        "timeScheduled": "2026-10-01T09:00:00+0000",
                        "timeOpened": None,
                        "timeClicked": None,
                        "timeSubmitted": None,
                        "timeReported": "2026-10-01T09:30:00+0000",
                        "userState": "active",
                    },
                ]
            }
        ],
        total=3,
    )


def _three_users(sim):
    return [u["emailAddress"] for u in list(sim.state.safe_scores.values())[:3]]


def _answer_campaign_users_as_a_tenant(sim):
    """get-user-data answers three seeded users in a real tenant's shape; their addresses, in order."""
    emails = _three_users(sim)
    sim.faults.add(
        path="/api/awareness-training/phishing/campaign/get-user-data",
        kind="raw",
        content=_tenant_phishing_users(emails),
        count=None,
    )
    return emails


def test_a_campaigns_users_in_mimecasts_shape_are_listed_and_filtered(signed_in, sim):
    campaign = sim.state.phishing_campaigns[0]
    emails = _answer_campaign_users_as_a_tenant(sim)

    def listed(result=""):
        response = signed_in.get(reverse("awareness-campaign"), {"id": campaign["id"], "result": result})
        assert response.status_code == 200
        return [u.email for u, _ in response.context["users"]], _text(response)

    everyone, body = listed()
    assert everyone == emails  # no blank row
    assert 'datetime="2026-10-01T09:16:30+00:00"' in body  # when data was submitted
    assert listed("clicked")[0] == emails[:2]  # whoever submitted data clicked too
    assert listed("submitted")[0] == emails[:1]
    assert listed("opened")[0] == emails[:2]
    assert listed("reported")[0] == emails[2:]


def test_a_user_who_submitted_data_is_shown_in_the_simulation(signed_in, sim):
    emails = _answer_campaign_users_as_a_tenant(sim)
    response = signed_in.get(reverse("awareness-user"), {"email": emails[0]})
    body = _text(response)
    assert "in no phishing simulation" not in body
    results = [r for _, r in response.context["data"].phishing]
    assert len(results) == len(sim.state.phishing_campaigns)
    assert all(r.submitted and r.clicked and r.opened and not r.reported for r in results)
    assert "submitted</span>" in body


def test_training_counts_in_mimecasts_shape_are_shown(signed_in, sim):
    email = _three_users(sim)[0]
    record = {
        "email": email,
        "name": "Sub Mitter",
        "department": "Finance",
        "numCorrect": 3,
        "numIncorrect": 1.0,
        "numNotWatched": 2,
        "userId": "eNo1user",
        "userState": "active",
    }
    sim.faults.add(
        path="/api/awareness-training/company/get-performance-details",
        kind="raw",
        content=_answer([record]),
        count=None,
    )
    response = signed_in.get(reverse("awareness-user"), {"email": email})
    body = _text(response)
    assert "0 of 0 modules" not in body
    assert "4 of 6 modules watched (2 not yet)" in body
    assert "3 answered correctly and 1 incorrectly" in body


def test_the_seeded_training_counts_add_up(signed_in, sim):
    email = next(iter(sim.state.training))
    modules = sim.state.training[email]["training"]
    response = signed_in.get(reverse("awareness-user"), {"email": email})
    performance = response.context["data"].performance
    assert performance.videos_assigned == len(modules)
    assert performance.videos_watched == sum(m["watched"] for m in modules)
    assert performance.correct_answers == sum(m["myAnswer"] == 1 for m in modules)
    assert f"{performance.videos_watched} of {len(modules)} modules watched" in _text(response)


def test_a_campaign_scheduled_for_later_is_not_called_launched(signed_in, sim):
    campaign = sim.state.phishing_campaigns[0]
    later = (datetime.now(UTC) + timedelta(days=3)).replace(microsecond=0)
    campaign["launchDate"] = later.strftime("%Y-%m-%dT%H:%M:%S+0000")
    page = _text(signed_in.get(reverse("awareness-campaign"), {"id": campaign["id"]}))
    intro = page.split("<h1>", 1)[1].split("</p>", 1)[0]
    assert "Launched" not in intro and "scheduled" in intro
    overview = signed_in.get(reverse("awareness"))
    row = next(c for c, _ in overview.context["campaigns"] if c.id == campaign["id"])
    assert row.scheduled
    assert not next(c for c, _ in overview.context["campaigns"] if c.id != campaign["id"]).scheduled
