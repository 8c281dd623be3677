"""The blocked-sender policies page in words: groups by their names on both sides of a policy (one walk
of the group list per page, stopped once every group is named), the policy's values in words, and an
id the directory does not know shown as the id."""

import re

from django.urls import reverse

FIND_GROUPS = "/api/directory/find-groups"


def _group(sim, name):
    return next(g for g in sim.state.groups if g["description"] == name)


def _policy(sim, description):
    return next(p for p in sim.state.policies if p["policy"]["description"] == description)


def _row(html, description):
    """The table row of one policy, by its description."""
    rows = re.findall(r"<tr[^>]*>.*?</tr>", html, flags=re.S)
    return next(row for row in rows if f"<td>{description}</td>" in row)


def test_both_sides_name_their_group_and_link_to_its_members(signed_in, sim):
    finance, blocked = _group(sim, "Finance"), _group(sim, "Blocked Senders")

    html = signed_in.get(reverse("directory-policies")).content.decode()

    to_finance = _row(html, "Free mail to Finance (disabled pilot)")
    assert re.search(r"<td>group: <a href=\"[^\"]*id=" + finance["id"] + r"[^\"]*\">Finance</a></td>", to_finance)
    assert "<td>free mail domains</td>" in to_finance
    assert re.search(r"<td>group: <a href=\"[^\"]*\">Blocked Senders</a></td>", _row(html, "Blocked Senders group"))
    # The ids are in the links only, never shown as text.
    for group in (finance, blocked):
        assert f">{group['id']}<" not in html
    assert len(sim.calls_to(FIND_GROUPS)) == 1


def test_a_policys_values_read_in_words(signed_in, sim):
    html = signed_in.get(reverse("directory-policies")).content.decode()

    assert "profile_group" not in html and "email_domain" not in html and ">block_sender<" not in html
    spam = _row(html, "Block known spam hosting")
    assert 'title="block_sender">Block</span>' in spam
    assert "<td>domain: <code>cheap-hosting.example</code></td>" in spam
    assert "<td>envelope and header</td>" in spam
    assert 'title="no_action">No action (exception)</span>' in _row(html, "Permitted partners exception")


def test_groups_past_the_first_page_of_the_group_list_are_named_too(signed_in, sim):
    # 150 groups ahead of the seeded ones: the policies' groups are on the second page of 100.
    sim.state.groups[:0] = [
        {"id": f"grp-filler-{n}", "description": f"Filler {n}", "source": "cloud", "members": []} for n in range(150)
    ]

    html = signed_in.get(reverse("directory-policies")).content.decode()

    assert ">Finance</a>" in html and ">Blocked Senders</a>" in html
    assert len(sim.calls_to(FIND_GROUPS)) == 2


def test_a_group_the_directory_does_not_know_is_shown_by_its_id(signed_in, sim):
    _policy(sim, "Blocked Senders group")["policy"]["from"]["groupId"] = "grp-gone-since"

    response = signed_in.get(reverse("directory-policies"))

    assert response.status_code == 200
    row = _row(response.content.decode(), "Blocked Senders group")
    assert 'title="No group with this id was found in the directory">grp-gone-since</a>' in row


def test_a_failed_group_list_leaves_the_ids_and_says_why(signed_in, sim):
    sim.faults.add(path=FIND_GROUPS, kind="status", status=503, count=None)

    html = signed_in.get(reverse("directory-policies")).content.decode()

    assert "Group names could not be read:" in html
    assert f">{_group(sim, 'Blocked Senders')['id']}</a>" in html
