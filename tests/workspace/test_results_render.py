"""The track & trace rows built in Python (workspace/rows.py) are the markup the row template built,
byte for byte, for the shapes Mimecast sends: missing parts, many recipients, text that looks like
HTML, odd ids, a viewer in another time zone. The template is kept here as the reference."""

from datetime import UTC, datetime

import pytest
from django.template import Context, Template
from django.utils import timezone

from investigations.mimecast.types import EmailAddress, TrackedEmail
from investigations.workspace.rows import track_trace_rows

# The row template as it was in templates/workspace/track_trace.html.
REFERENCE = Template(
    """{% load portal %}{% for r in rows %}
      <tr>
        {% if can.request_remediation or can.work_cases %}<td>{% for c in picks|get_item:r.id %}<input type="checkbox" name="value" value="{{ c.value }}" data-select-row form="tt-selection" aria-label="Select the copy in {{ c.mailbox }}" title="{{ c.mailbox }}">{% endfor %}</td>{% endif %}
        <td><span class="status status-{{ r.status|slugify }}" title="{{ r.info }}">{{ r.status }}</span></td>
        <td>{% if r.from_hdr %}<span title="{{ r.from_hdr.displayable_name }}">{% entity_link "sender" r.from_hdr.email_address %}</span>{% endif %}{% if r.from_env and r.from_env.email_address != r.from_hdr.email_address %}<div class="muted small">env: {% entity_link "sender" r.from_env.email_address %}</div>{% endif %}</td>
        <td>{% for t in r.to|slice:":3" %}<div title="{{ t.displayable_name }}">{% entity_link "recipient" t.email_address %}</div>{% endfor %}{% if r.to|length > 3 %}<div class="muted small">+{{ r.to|length|add:"-3" }} more</div>{% endif %}</td>
        <td>{% if r.id %}<a href="{% url 'message-detail' r.id %}" class="msg-link">{{ r.subject|default:"(no subject)" }}</a>{% else %}{{ r.subject }}{% endif %}</td>
        <td>{{ r.sent|when }}</td>
        <td>{{ r.received|when }}</td>
        <td>{{ r.route }}</td>
        <td><code>{% entity_link "ip" r.sender_ip %}</code></td>
        <td>{% if r.attachments %}yes{% endif %}</td>
        <td class="num">{{ r.spam_score|default_if_none:"" }}{% if r.detection_level %} <span class="muted small">{{ r.detection_level }}</span>{% endif %}</td>
      </tr>
    {% endfor %}"""  # noqa: E501 (the template's lines as they were)
)

XSS = '<script>alert("x")</script>'
WHEN = datetime(2026, 3, 29, 0, 30, 5, tzinfo=UTC)  # the night Paris moves its clocks


def _address(email, name=""):
    return EmailAddress(email_address=email, displayable_name=name)


def _rows():
    many = [_address(f"user{i}@example.com", f"User {i}") for i in range(5)]
    return [
        TrackedEmail(
            id="eNo1=+:abc",
            status="Delivered",
            info="Message delivered",
            from_hdr=_address("Alice@Example.com", "Alice <a>"),
            from_env=_address("bounce@example.net"),
            to=many,
            sent=WHEN,
            received=WHEN,
            subject=XSS,
            sender_ip="192.0.2.7",
            attachments=True,
            route="inbound",
            spam_score=2.5,
            detection_level="relaxed",
        ),
        TrackedEmail(
            id="",
            status="Held for review",
            from_hdr=None,
            from_env=_address(""),
            to=[_address('"><img src=x onerror=alert(1)>@example.com', XSS)],
            subject="",
            sender_ip="not an ip",
            spam_score=0.0,
        ),
        TrackedEmail(
            id="id with space & ampersand",
            status='Bounced "hard"',
            from_hdr=_address("same@example.com"),
            from_env=_address("same@example.com"),
            subject="",
            received=WHEN,
            sender_ip="2001:db8::1",
        ),
    ]


def _picks():
    return {
        "eNo1=+:abc": [
            {"mailbox": "user0@example.com", "value": "user0@example.com|eNo1=+:abc"},
            {"mailbox": XSS, "value": f"{XSS}|eNo1=+:abc"},
        ]
    }


@pytest.mark.parametrize("selectable", [True, False])
@pytest.mark.parametrize("zone", ["UTC", "Europe/Paris", "America/St_Johns"])
def test_the_rows_built_in_python_are_the_rows_the_template_built(db, selectable, zone):
    rows, picks = _rows(), _picks()
    can = {"request_remediation": selectable, "work_cases": False}
    with timezone.override(zone):
        expected = REFERENCE.render(Context({"rows": rows, "picks": picks, "can": can}))
        built = track_trace_rows(rows, picks, selectable=selectable)
    assert built == expected


def test_html_from_mimecast_is_escaped_in_every_cell(db):
    built = track_trace_rows(_rows(), _picks(), selectable=True)
    assert "<script>" not in built
    assert "<img" not in built
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in built


def test_the_selection_bar_hidden_inputs_are_the_ones_the_loop_built():
    every = ["user0@example.com|eNo1=+:abc", f"{XSS}|id", 'a"b|c']
    loop = Template('{% for v in every %}<input type="hidden" name="every" value="{{ v }}">{% endfor %}')
    built = Template('{% load portal %}{{ every|hidden_inputs:"every" }}')
    context = Context({"every": every})
    assert built.render(context) == loop.render(context)
    assert "<script>" not in built.render(context)
