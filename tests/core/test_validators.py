"""The one set of input rules: what each predicate accepts, and the inputs some forms let through
before the rules were shared, now refused with an error next to their field."""

from datetime import timedelta

import pytest
from django.utils import timezone

from investigations.connection.forms import MimecastConnectionForm
from investigations.core import validators as v
from investigations.models import Evidence
from investigations.remediation.forms import CancelForm, DecisionForm, RemediationRequestForm
from investigations.tools import forms as tools_forms
from investigations.workspace import forms as workspace_forms

ACCEPTED = {
    v.is_email: ["jane@example.com", "first.last+tag@sub.example.co.uk", "o'brien@example.ie", "a" * 64 + "@x.io"],
    v.is_domain: ["example.com", "xn--bcher-kva.example", "a-b.example.travel"],
    v.is_ip: ["192.0.2.10", "2001:db8::1", "::1"],
    v.is_message_id: ["<4f1c2e@mail.example.com>", "abc.def@host"],
    v.hash_kind: ["d41d8cd98f00b204e9800998ecf8427e", "A" * 40, "0" * 64],
    v.is_url: ["https://example.com", "http://example.com/a?b=c#d", "HTTPS://protect-eu.mimecast.com/s/AbC"],
    v.is_ticket: ["INC-1234", "JIRA/SEC#42"],
}
REFUSED = {
    # Dot-atom local parts only (the regex let a..b through); ASCII domains with a dot (Django's
    # validator let localhost, address literals, quoted local parts and IDN through).
    v.is_email: [
        "a..b@example.com",
        ".a@example.com",
        "a.@example.com",
        "user@localhost",
        "user@[192.0.2.1]",
        '"a b"@example.com',
        "user@exämple.com",
        "a@b@example.com",
        "a" * 65 + "@x.io",
        "x@" + "a" * 250 + ".com",
    ],
    v.is_domain: ["localhost", "-a.example", "a_b.example", "example.c0m", "a" * 64 + ".com", "exämple.com"],
    v.is_ip: ["999.1.1.1", "192.0.2.0/24", "1.2.3", "example.com"],
    v.is_message_id: ["no at sign", "a@b@c", "<a b@c>", "x" * 401 + "@host"],
    v.hash_kind: ["a" * 63, "g" * 64, "", "a" * 65],
    v.is_url: ["http://", "https:// example.com", "https://example.com/a b", "ftp://example.com", "javascript:x"],
    v.is_ticket: ["INC 42; DROP", "", "x" * 65],
}


@pytest.mark.parametrize(("rule", "value"), [(r, x) for r, xs in ACCEPTED.items() for x in xs])
def test_a_rule_accepts(rule, value):
    assert rule(value)


@pytest.mark.parametrize(("rule", "value"), [(r, x) for r, xs in REFUSED.items() for x in xs])
def test_a_rule_refuses(rule, value):
    assert not rule(value)


def test_cidr_networks_are_ip_input_only_when_asked_for():
    assert v.is_ip("192.0.2.0/24", cidr=True) and v.is_ip("2001:db8::/32", cidr=True)
    assert not v.is_ip("192.0.2.0/33", cidr=True)


@pytest.mark.parametrize("char", ["\x1b", "\x7f", "\x85", "\u202e", "\u200b", "\ufeff", "\ue000", "\t", "\n"])
def test_control_and_invisible_characters_are_found(char):
    assert v.has_control_characters(f"abc{char}def")


def test_every_kind_of_evidence_has_a_rule_and_a_normal_form():
    samples = {
        "message": "<Ab1@Mail.example.com>",
        "sender": "Jane@Example.com",
        "recipient": "Bob@Example.com",
        "domain": "Example.COM",
        "url": "https://Example.com/Path",
        "hash": "D41D8CD98F00B204E9800998ECF8427E",
        "ip": "2001:DB8::1",
    }
    assert set(samples) == set(Evidence.Kind.values)
    normal = {kind: v.indicator_value(Evidence.Kind(kind), value) for kind, value in samples.items()}
    assert normal == {
        **samples,
        "sender": "jane@example.com",
        "recipient": "bob@example.com",
        "domain": "example.com",
        "hash": "d41d8cd98f00b204e9800998ecf8427e",
    }
    assert v.indicator_value("sender", "not an address") is None
    assert v.indicator_value("no such kind", "example.com") is None


def test_a_multiline_value_may_hold_tabs_and_line_breaks_only():
    assert not v.has_control_characters("a\tb\r\nc", multiline=True)
    assert v.has_control_characters("a\nb\u202e", multiline=True)
    assert v.has_control_characters("a\x0bb", multiline=True)
    assert not v.has_control_characters("Zo\u00eb \u2013 na\u00efve \U0001f600")


def test_a_window_is_checked_in_one_place():
    now = timezone.now()
    day = timedelta(days=1)
    assert v.window_error(None, now, now=now)[0] == "start"
    assert v.window_error(now, now - day, now=now) == ("end", "The end must be after the start.")
    assert "at most 7 days" in v.window_error(now - 8 * day, now, now=now, max_span=7 * day)[1]
    assert "10 days ago" in v.window_error(now - 11 * day, now - 10 * day, now=now, max_back=10 * day)[1]
    assert v.window_error(now + day, now + 2 * day, now=now)[0] == "start"
    assert v.window_error(now - day, now + day, now=now) == ("end", "The end of the window is in the future.")
    # A minute-precise start "30 days ago" is a little older than that: tolerated.
    assert v.window_error(now - 30 * day - timedelta(minutes=1), now, now=now, max_span=30 * day) is None
    # Without "now", only the order counts (a remediation may end later today).
    assert v.window_error(now - day, now + day) is None


def _in(minutes):
    return (timezone.localtime() + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M")


REASON = "Investigating a reported message INC-1"
REMEDIATE = {"kind": "remediate", "search_by": "hash", "search_value": "a" * 64, "reason": REASON}
# Input one form refused and another let through before the rules were shared.
NEWLY_REFUSED = [
    (tools_forms.UrlLogForm, {"q": "invoice\u202eexe.pdf"}, "q", "control characters"),
    (tools_forms.HeldForm, {"value": "zero\u200bwidth"}, "value", "invisible"),
    (tools_forms.RejectionForm, {"value": "next\x85line"}, "value", "control"),
    (tools_forms.HashSearchForm, {"hashes": "a" * 64 + "\n\u202e" + "b" * 64}, "hashes", "control"),
    (tools_forms.UrlDecodeForm, {"urls": "https://protect-eu.mimecast.com/s/a\u2066b"}, "urls", "control"),
    (tools_forms.UrlDecodeForm, {"urls": "https://example.com/a b"}, "urls", "http(s) URL"),
    (tools_forms.AwarenessUserForm, {"email": "user@localhost"}, "email", "email address"),
    (tools_forms.AwarenessUserForm, {"email": '"a b"@example.com'}, "email", "email address"),
    (tools_forms.PolicyForm, {"sender": "jane@exämple.com"}, "sender", "email address"),
    (tools_forms.UrlLogForm, {"window": "custom", "start": _in(-60), "end": _in(24 * 60)}, "end", "future"),
    (tools_forms.UrlLogForm, {"window": "custom", "start": "11/20/2026 10:00"}, "start", "valid date"),
    (workspace_forms.TrackTraceForm, {"sender": "a..b@example.com", "reason": REASON}, "sender", "email address"),
    (workspace_forms.ArchiveSearchForm, {"mailbox": ".jane@example.com", "reason": REASON}, "mailbox", "email"),
    (RemediationRequestForm, {**REMEDIATE, "sender": "not an address"}, "sender", "email address"),
    (RemediationRequestForm, {**REMEDIATE, "recipient": "a@b@c.example"}, "recipient", "email address"),
    (RemediationRequestForm, {**REMEDIATE, "search_value": "a" * 63 + "\u202e"}, "search_value", "control"),
    (RemediationRequestForm, {**REMEDIATE, "search_by": "url", "search_value": "http://"}, "search_value", "URL"),
    (RemediationRequestForm, {**REMEDIATE, "search_by": "message_id", "search_value": "a@b@c"}, "search_value", "<"),
    (RemediationRequestForm, {**REMEDIATE, "reason": "looks\u202e phishy"}, "reason", "control"),
    (RemediationRequestForm, {**REMEDIATE, "ticket_id": "INC 42; DROP"}, "ticket_id", "ticket id"),
    (DecisionForm, {"decision": "approve", "reason": "ok\x1b[31m"}, "reason", "control"),
    (CancelForm, {"reason": "gone\u200f"}, "reason", "control"),
    (MimecastConnectionForm, {"api_version": "2", "client_id": "id\x00\u202e"}, "client_id", "control"),
]


@pytest.mark.parametrize(
    ("form_class", "data", "field", "message"),
    NEWLY_REFUSED,
    ids=[f"{f.__name__}-{field}-{i}" for i, (f, _, field, _) in enumerate(NEWLY_REFUSED)],
)
def test_input_the_shared_rules_now_refuse_is_a_field_error(form_class, data, field, message):
    form = form_class(data=data)
    assert not form.is_valid()
    assert message.lower() in " ".join(form.errors.get(field, [])).lower()


def test_a_multiline_remediation_reason_keeps_its_line_breaks():
    form = RemediationRequestForm(data={**REMEDIATE, "reason": "Reported by Jane.\r\nSee INC-42.\tUrgent."})
    assert form.is_valid(), form.errors
    assert form.cleaned_data["search_value"] == "a" * 64


def test_sender_and_recipient_of_a_remediation_are_folded_to_lower_case():
    form = RemediationRequestForm(data={**REMEDIATE, "sender": "X@Evil.TEST", "recipient": "Corp.Test"})
    assert form.is_valid(), form.errors
    assert (form.cleaned_data["sender"], form.cleaned_data["recipient"]) == ("x@evil.test", "corp.test")


# ------------------------------------------------------------------------------------------ dates


def _form_classes():
    import importlib
    import pkgutil

    from django import forms

    import investigations

    for info in pkgutil.walk_packages(investigations.__path__, "investigations."):
        if info.name.endswith(".forms"):
            module = importlib.import_module(info.name)
            for value in vars(module).values():
                if isinstance(value, type) and issubclass(value, forms.BaseForm) and value.__module__ == info.name:
                    yield value


def test_every_date_field_of_every_form_is_bounded_by_the_one_rule():
    from django import forms

    dated = []
    for form_class in _form_classes():
        for name, field in form_class.base_fields.items():
            if isinstance(field, forms.DateField | forms.DateTimeField):
                dated.append(f"{form_class.__name__}.{name}")
                assert v.validate_sane_date in field.validators, f"{form_class.__name__}.{name} is not bounded"
    assert len(dated) >= 6  # the time windows, the audit filter, the remediation form and its list filter


@pytest.mark.parametrize("text", ["0001-01-01", "1999-12-31", "2101-01-01", "9999-12-31"])
def test_a_date_outside_the_sane_years_is_refused_by_both_kinds_of_field(text):
    for field in (v.date_field("Day"), v.datetime_field("When")):
        with pytest.raises(v.ValidationError, match="between the years 2000 and 2100"):
            field.clean(text)


@pytest.mark.parametrize("zone", ["Pacific/Kiritimati", "Pacific/Pago_Pago"])
@pytest.mark.parametrize("text", ["0001-01-01T00:00", "9999-12-31T23:59"])
def test_a_window_in_year_1_or_9999_is_a_field_error_in_any_time_zone(zone, text):
    from zoneinfo import ZoneInfo

    with timezone.override(ZoneInfo(zone)):
        form = tools_forms.UrlLogForm({"window": "custom", "start": text, "end": text})
        assert not form.is_valid()
        assert "between the years" in " ".join(form.errors.get("start", []))


@pytest.mark.parametrize("text", ["2000-01-01", "2100-12-31 23:59"])
def test_the_edges_of_the_sane_years_are_accepted(text):
    assert v.datetime_field("When").clean(text).year in (2000, 2100)
