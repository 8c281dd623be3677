"""Whatever a user types into a workspace form becomes a field error, never a 500 (property-based)."""

from datetime import timedelta
from urllib.parse import urlencode

import pytest
from django.urls import reverse
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from investigations.workspace import forms

REASON = "Investigating a reported message INC-1"
FORMS = [
    forms.TrackTraceForm,
    forms.ArchiveSearchForm,
    forms.MailboxForm,
    forms.QuickSearchForm,
    forms.ContentReasonForm,
]
# Every parameter a search page reads, and one it does not.
PARAMETERS = sorted({name for form in FORMS for name in form.base_fields} | {"h"})

# Text an attacker or a clumsy paste can produce: any unicode incl. control characters, surrogates
# excluded (they cannot travel in UTF-8), and some 10 kB strings.
nasty_text = st.one_of(
    st.text(max_size=300),
    st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=60),
    st.sampled_from(
        [
            "",
            " ",
            "\x00",
            "\x1b[31m",
            "a\r\nb",
            "\u202e",
            "x" * 10_240,
            "<script>alert(1)</script>",
            "' OR 1=1 --",
            "${jndi:ldap://x}",
            "2026-13-45T25:61",
            "1999-01-01T00:00",
            "::1",
            "999.1.1.1",
            "<a@b>",
            "@",
            "a@",
            "-1",
            "%00",
            "😀" * 2000,
        ]
    ),
)


def _form_data(form_class, draw_values):
    names = list(form_class.base_fields)
    return {name: draw_values[i % len(draw_values)] for i, name in enumerate(names)}


@pytest.mark.parametrize("form_class", FORMS, ids=lambda f: f.__name__)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=st.lists(nasty_text, min_size=1, max_size=14))
def test_no_input_breaks_a_search_form(form_class, values):
    form = form_class(data=_form_data(form_class, values))
    if form.is_valid():
        if hasattr(form, "criteria"):
            form.criteria()
    else:
        assert form.errors  # refused with messages, not an exception


# Per field: a value refused, and what the error says. Control characters, bidi marks, lengths and
# null bytes are the shared text rules, tested once in tests/core/test_validators.py.
MALFORMED = {
    "sender": [("not an address", "email address"), ("a@b@c.com", "email address"), ("a\u202eb.com", "control")],
    "recipient": [("x" * 10_240, "at most 254")],
    "sender_ip": [("999.1.1.1", "IPv4 or IPv6"), ("192.0.2.1\x00", "Null characters")],
    "message_id": [("no brackets or at sign", "Message-ID")],
    "subject": [("a\x1bb", "control")],
    "reason": [("", "reason"), ("   short  ", "at least 10"), ("x" * 10_240, "at most 500")],
    "ticket": [("INC 42; DROP", "ticket")],
    "start": [("2026-13-45T25:61", "valid date")],
}


@pytest.mark.parametrize(
    ("field", "value", "message"), [(field, *case) for field, cases in MALFORMED.items() for case in cases]
)
def test_malformed_track_and_trace_fields_get_field_errors(field, value, message):
    data = {"sender": "example.com", "window": "24h", "reason": REASON, field: value}
    if field == "start":
        data["window"] = "custom"
    form = forms.TrackTraceForm(data=data)
    assert not form.is_valid()
    assert message.lower() in " ".join(form.errors.get(field, [])).lower()


def test_a_window_over_30_days_is_refused():
    start = (timezone.now() - timedelta(days=31)).strftime("%Y-%m-%dT%H:%M")
    form = forms.TrackTraceForm(data={"sender": "example.com", "window": "custom", "start": start, "reason": REASON})
    assert not form.is_valid()
    assert "30 days" in form.errors["start"][0]


def test_an_end_before_the_start_is_refused():
    now = timezone.now()
    form = forms.TrackTraceForm(
        data={
            "sender": "example.com",
            "window": "custom",
            "start": (now - timedelta(days=2)).strftime("%Y-%m-%dT%H:%M"),
            "end": (now - timedelta(days=3)).strftime("%Y-%m-%dT%H:%M"),
            "reason": REASON,
        }
    )
    assert not form.is_valid()
    assert "after the start" in form.errors["end"][0]


def test_message_id_and_advanced_criteria_together_are_refused():
    form = forms.TrackTraceForm(data={"message_id": "<a@b.example>", "sender": "example.com", "reason": REASON})
    assert not form.is_valid()
    assert "not both" in form.non_field_errors()[0]


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("no-reply@m365-secure-login.com", "email"),
        ("m365-secure-login.com", "domain"),
        ("192.0.2.150", "ip"),
        ("2001:db8::1", "ip"),
        ("<4f1c2e@mail.example.com>", "message_id"),
        ("a" * 64, "sha256"),
        ("b" * 40, "sha1"),
        ("c" * 32, "md5"),
        ("https://m365-secure-login.com/owa/auth/login.php", "url"),
        ("https://protect-eu.mimecast.com/s/AbCdEf123", "rewritten_url"),
        ("invoice overdue", "text"),
        ("eNp" + "A" * 40, "mimecast_id"),
    ],
)
def test_the_quick_search_recognises_what_was_pasted(text, kind):
    assert forms.classify_quick_search(text).kind == kind


@pytest.mark.slow  # every example renders four search pages against the simulator
@pytest.mark.django_db
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    params=st.dictionaries(
        st.sampled_from(PARAMETERS),
        nasty_text,
        max_size=8,
    )
)
def test_no_query_string_makes_a_search_page_fail(client, analyst, mimecast_env, params):
    client.force_login(analyst)
    for name in ("track-trace", "archive-search", "mailbox-view", "quick-search"):
        response = client.get(reverse(name) + "?" + urlencode(params))
        assert response.status_code in (200, 302)
