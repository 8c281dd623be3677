"""The track & trace rows built in Python (workspace/rows.py) are the markup a row template would
build, byte for byte, for the shapes Mimecast sends: missing parts, many recipients, text that looks
like HTML, odd ids, a viewer in another time zone. The template is kept here as the reference. Each
row is one line: the envelope sender and further recipients are in titles, not on lines of their own."""

from datetime import UTC, datetime

import pytest
from django.template import Context, Template
from django.utils import timezone

from investigations.mimecast.types import EmailAddress, TrackedEmail
from investigations.workspace.rows import track_trace_rows

# The rows as a template would write them: the reference the rows built in Python are checked against.
REFERENCE = Template(
    """{% load portal %}{% for r in rows %}<tr>"""
    """{% if can.request_remediation or can.work_cases %}<td>{% for c in picks|get_item:r.id %}<input type="checkbox" name="value" value="{{ c.value }}" data-select-row form="tt-selection" aria-label="Select the copy in {{ c.mailbox }}" title="{{ c.mailbox }}">{% endfor %}</td>{% endif %}"""  # noqa: E501
    """<td><span class="status status-{{ r.status|slugify }}" title="{{ r.info }}">{{ r.status }}</span></td>"""
    """<td class="cut addr">{% if r.from_hdr %}<div class="cell"><span class="truncate" title="{{ r.from_hdr.displayable_name }}">{% entity_link "sender" r.from_hdr.email_address %}</span>{% if r.from_env.email_address and r.from_env.email_address != r.from_hdr.email_address %}<span class="env-mark" title="Envelope sender: {{ r.from_env.email_address }}">env</span>{% endif %}</div>{% elif r.from_env.email_address %}<div class="cell"><span class="truncate" title="Envelope sender">{% entity_link "sender" r.from_env.email_address %}</span></div>{% endif %}</td>"""  # noqa: E501
    """<td class="cut addr">{% with first=r.to.0 %}{% if first %}<div class="cell"><span class="truncate" title="{{ first.displayable_name }}">{% entity_link "recipient" first.email_address %}</span>{% if r.to|length > 1 %}<span class="more" title="{% for t in r.to|slice:"1:" %}{{ t.email_address }}{% if not forloop.last %}, {% endif %}{% endfor %}">+{{ r.to|length|add:"-1" }}</span>{% endif %}</div>{% endif %}{% endwith %}</td>"""  # noqa: E501
    """{% if r.id %}<td class="cut subj" title="{{ r.subject|default:"(no subject)" }}"><a href="{% url 'message-detail' r.id %}" class="msg-link">{{ r.subject|default:"(no subject)" }}</a></td>{% else %}<td class="cut subj" title="{{ r.subject }}">{{ r.subject }}</td>{% endif %}"""  # noqa: E501
    """<td>{{ r.sent|when }}</td>"""
    """<td>{{ r.received|when }}</td>"""
    """<td>{{ r.route }}</td>"""
    """<td><code>{% entity_link "ip" r.sender_ip %}</code></td>"""
    """<td>{% if r.attachments %}yes{% endif %}</td>"""
    """<td class="num">{{ r.spam_score|default_if_none:"" }}{% if r.detection_level %} <span class="muted small">{{ r.detection_level }}</span>{% endif %}</td>"""  # noqa: E501
    """</tr>\n{% endfor %}"""
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
