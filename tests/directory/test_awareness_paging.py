"""Awareness lists page 50 rows at a time: Mimecast answers up to 500 rows a call, the portal shows them
a screen at a time, then goes on with Mimecast's next page."""

import pytest
from django.urls import reverse

from investigations.directory.awareness_views import ROWS_PER_SCREEN
from investigations.models import AuditAction, AuditEvent


def _emails(response):
    return [s.email_address for s, _ in response.context["scores"]]


def test_the_scores_show_fifty_a_page_and_page_two_shows_the_next_fifty(signed_in, sim):
    total = len(sim.state.safe_scores)
    assert total > 2 * ROWS_PER_SCREEN  # the seeded organisation is big enough to need three pages
    first = signed_in.get(reverse("awareness"))
    assert first.status_code == 200
    assert len(_emails(first)) == ROWS_PER_SCREEN
    assert f"Users 1\u201350 of {total}" in first.content.decode()
    assert first.context["next_url"].endswith("n=2")
    second = signed_in.get(first.context["next_url"])
    assert second.status_code == 200
    assert len(_emails(second)) == ROWS_PER_SCREEN
    assert not set(_emails(first)) & set(_emails(second))
    assert f"Users 51\u2013100 of {total}" in second.content.decode()
    assert second.context["previous_url"] == reverse("awareness")
    # The pages together are the whole list, riskiest first, each user once.
    seen, response = [], first
    while True:
        seen += _emails(response)
        if not response.context["next_url"]:
            break
        response = signed_in.get(response.context["next_url"])
    assert sorted(seen) == sorted(sim.state.safe_scores) and len(seen) == total
    # Turning a page is not a new search: one audit event.
    assert AuditEvent.objects.filter(action=AuditAction.SEARCH_AWARENESS).count() == 1


def test_a_filter_pages_its_own_matches(signed_in, sim):
    grades = [s["risk"] for s in sim.state.safe_scores.values()]
    grade = max(set(grades), key=grades.count)
    graded = {e for e, s in sim.state.safe_scores.items() if s["risk"] == grade}
    assert len(graded) > ROWS_PER_SCREEN  # the filtered list needs a second page too
    first = signed_in.get(reverse("awareness"), {"risk": grade})
    assert first.context["screen"]["total"] == len(graded)
    assert len(_emails(first)) == ROWS_PER_SCREEN and set(_emails(first)) <= graded
    assert f"risk={grade}" in first.context["next_url"]
    second = signed_in.get(first.context["next_url"])
    assert _emails(second) and set(_emails(second)) <= graded
    assert not set(_emails(first)) & set(_emails(second))


@pytest.mark.parametrize("number", ["0", "-1", "abc", "2.5", "99999999999999999999", "1\x00"])
def test_a_bad_page_number_is_an_error_in_place_never_a_500(signed_in, sim, number):
    response = signed_in.get(reverse("awareness"), {"n": number})
    assert response.status_code == 200
    assert "This page number is not valid" in response.content.decode()
    assert response.context["scores"] == []


def test_a_page_past_the_end_says_how_many_pages_there_are(signed_in, sim):
    total = len(sim.state.safe_scores)
    pages = -(-total // ROWS_PER_SCREEN)
    response = signed_in.get(reverse("awareness"), {"n": "40"})
    assert response.status_code == 200
    body = response.content.decode()
    assert f"There is no page 40: these {total} users fill {pages} pages." in body
    assert response.context["scores"] == []
    assert response.context["first_url"] == reverse("awareness")


def test_htmx_paging_answers_the_partial(signed_in, sim):
    response = signed_in.get(reverse("awareness"), {"n": "2"}, headers={"HX-Request": "true"})
    body = response.content.decode()
    assert response.status_code == 200 and "<html" not in body
    assert "Users 51\u2013100" in body


def test_a_campaigns_users_page_fifty_at_a_time(signed_in, sim):
    campaign = max(sim.state.phishing_campaigns, key=lambda c: len(sim.state.phishing_results[c["id"]]))
    results = sim.state.phishing_results[campaign["id"]]
    first = signed_in.get(reverse("awareness-campaign"), {"id": campaign["id"]})
    shown = [u.email for u, _ in first.context["users"]]
    assert len(shown) == min(len(results), ROWS_PER_SCREEN)
    if len(results) > ROWS_PER_SCREEN:
        second = signed_in.get(first.context["next_url"])
        more = [u.email for u, _ in second.context["users"]]
        assert more and not set(more) & set(shown)
    bad = signed_in.get(reverse("awareness-campaign"), {"id": campaign["id"], "n": "x"})
    assert bad.status_code == 200 and "This page number is not valid" in bad.content.decode()
