"""The audit list's and a timeline's rows, built in Python: the same links reverse() gives, every
recorded value escaped, long values cut as the truncatechars filter cuts them."""

import re
from datetime import UTC, datetime

import pytest
from django.urls import reverse
from django.utils.text import Truncator

from investigations.audit.rows import audit_action_options, audit_list_rows, audit_timeline_rows
from investigations.audit.selectors import audit_action_names
from investigations.models import AuditEvent, audit_action_group

HOSTILE_IDS = [
    "<m1@mail.example.test>",
    "a/b?c#d%20e",
    "späm &\"quoted\" 'id'",
    "//starts-with-slashes",
]


def event(**fields):
    values = {
        "seq": 41,
        "created_at": datetime(2026, 1, 5, 9, tzinfo=UTC),
        "actor_type": "user",
        "actor_label": "dave",
        "action": "message.viewed",
        "target_type": "message",
        "target_id": "<m1@mail.example.test>",
        "outcome": "success",
        "client_ip": "10.0.0.9",
        "reason": "INC-1",
    }
    values.update(fields)
    return AuditEvent(**values)


@pytest.mark.parametrize("target_id", HOSTILE_IDS)
def test_a_row_links_to_the_same_timeline_address_reverse_gives(target_id):
    html = audit_list_rows([event(target_id=target_id)])

    expected = reverse("audit-timeline", args=["message", target_id]).replace("&", "&amp;").replace("'", "&#x27;")
    assert f'href="{expected}" title="Every event about this target"' in html
    assert f'<a href="{reverse("audit-event", args=[41])}" title="Event detail">41</a>' in html


def test_recorded_values_are_shown_escaped_never_run():
    hostile = '<script>alert("x")</script>'
    html = audit_list_rows(
        [event(actor_label=hostile, reason=hostile, target_id=hostile, client_ip="<b>", outcome="failure")]
    )

    assert "<script>" not in html and "<b>" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
    assert '<span class="badge badge-failure">Failure</span>' in html


def test_a_target_type_the_route_cannot_hold_is_shown_without_a_link():
    html = audit_list_rows([event(target_type="a/b", target_id="7")])

    assert "a/b:7" in html
    assert "/audit/target/" not in html


def test_an_actor_without_a_label_shows_its_type_and_a_target_without_an_id_its_type_only():
    html = audit_list_rows([event(actor_type="anonymous", actor_label="", target_type="search", target_id="")])

    assert "<td>Anonymous</td>" in html
    assert "<td>search</td>" in html


@pytest.mark.parametrize("reason", ["x" * 100, "x" * 101, "é" * 120, "e\u0301" * 60, "short"])
def test_reasons_are_cut_as_the_truncatechars_filter_cuts_them(reason):
    listed = audit_list_rows([event(reason=reason)])
    timeline = audit_timeline_rows([event(reason=reason)])

    assert f'<td class="reason">{Truncator(reason).chars(100)}</td>' in listed
    assert f'<td class="reason">{Truncator(reason).chars(160)}</td>' in timeline


def test_the_action_choices_are_every_action_name_in_order_in_words_grouped_by_kind():
    options = audit_action_options()

    values = re.findall(r'<option value="([^"]+)">', options)
    assert values == audit_action_names() and len(values) > 10
    assert '<option value="remediation.drafted">Remediation request drafted</option>' in options
    assert options.count("<optgroup") == options.count("</optgroup>") == len(set(map(audit_action_group, values)))
    assert '<optgroup label="Authentication"><option value="auth.' in options


def test_a_system_task_is_named_in_words_with_what_was_recorded_on_hover_and_the_action_beside_its_code():
    html = audit_list_rows(
        [
            event(
                actor_type="system",
                actor_label="task:investigations.tasks.remediation_poll",
                action="remediation.polled",
            )
        ]
    )

    assert '<td><span title="task:investigations.tasks.remediation_poll">System: remediation poller</span></td>' in html
    assert '<td>Mimecast incident counts read <code class="muted small">remediation.polled</code></td>' in html


def test_an_action_the_code_does_not_know_is_shown_as_recorded():
    html = audit_timeline_rows([event(action="legacy.thing_done", actor_label="<i>x</i>")])

    assert "<td><code>legacy.thing_done</code></td>" in html
    assert "<td>&lt;i&gt;x&lt;/i&gt;</td>" in html
