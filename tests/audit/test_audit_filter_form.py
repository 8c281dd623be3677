"""The audit filter refuses what the shared validators refuse, and bad dates become field errors."""

import re

import pytest
from django.urls import reverse

from investigations.audit.forms import AuditFilterForm
from tests.factories import UserFactory

TEXT_FIELDS = ("actor", "action", "target_type", "target_id", "reason")
REFUSED_TEXT = {"an escape": "al\x1bice", "a NUL": "al\x00ice", "a text-direction override": "al\u202eice"}


def errors_for(data):
    form = AuditFilterForm(data)
    assert not form.is_valid()
    return form.errors


@pytest.mark.parametrize("value", REFUSED_TEXT.values(), ids=REFUSED_TEXT.keys())
@pytest.mark.parametrize("field", TEXT_FIELDS)
def test_free_text_refuses_control_and_invisible_characters(db, field, value):
    data = {field: value, "target_type": "message"} if field == "target_id" else {field: value}
    assert field in errors_for(data)


@pytest.mark.parametrize("field", TEXT_FIELDS)
def test_the_bidi_override_gets_the_shared_message(db, field):
    data = {field: "x\u202ey", "target_type": "message"} if field == "target_id" else {field: "x\u202ey"}
    assert "text-direction override" in errors_for(data)[field][0]


OUT_OF_RANGE = {
    "year 1": ("since", "0001-01-01"),
    "year 9999": ("until", "9999-12-31"),
    "year 9999 with a time": ("since", "9999-12-31 23:59"),
    "just before 2000": ("until", "1999-12-31 23:59"),
}


@pytest.mark.parametrize(("field", "value"), OUT_OF_RANGE.values(), ids=OUT_OF_RANGE.keys())
def test_a_date_outside_the_sane_years_is_a_field_error(db, field, value):
    assert "between the years 2000 and 2100" in errors_for({field: value})[field][0]


@pytest.mark.parametrize("value", ["03/01/2026", "01.03.2026", "1 March 2026"])
def test_dates_are_read_in_iso_order_only(db, value):
    assert "since" in errors_for({"since": value})


@pytest.mark.parametrize("value", ["2026-03-01", "2026-03-01 14:30", "2026-03-01T14:30", "2026-03-01 14:30:15"])
def test_iso_dates_and_times_are_accepted(db, value):
    form = AuditFilterForm({"since": value})
    assert form.is_valid(), form.errors
    assert form.criteria()["since"].year == 2026


def test_from_after_until_is_refused_on_until(db):
    errors = errors_for({"since": "2026-02-01", "until": "2026-01-01"})
    assert "before its start" in errors["until"][0]


def test_the_cleaned_values_keep_their_keys_and_normalised_form(db):
    form = AuditFilterForm({"actor": "  alice ", "target_type": " Message ", "target_id": " <m1@x.test> "})
    assert form.is_valid(), form.errors
    assert form.criteria() == {"actor": "alice", "target_type": "message", "target_id": "<m1@x.test>"}


# A viewer east or west of UTC: year 1 or 9999 in their zone is outside what UTC can hold, which
# failed the query (OverflowError) before the years were bounded.
@pytest.mark.parametrize(
    ("zone", "params"),
    [
        ("Asia/Tokyo", {"since": "0001-01-01"}),
        ("Pacific/Pago_Pago", {"until": "9999-12-31 23:59"}),
        ("UTC", {"since": "2026-01-01", "until": "9999-12-31"}),
    ],
)
def test_the_list_shows_the_date_error_instead_of_failing(client, db, zone, params):
    client.force_login(UserFactory(username="far", roles=["auditor"], time_zone=zone))
    field = next(iter(params)) if len(params) == 1 else "until"
    page = client.get(reverse("audit-list"), params)
    assert page.status_code == 400  # an invalid filter: the page, its message, and no events
    error = re.search(rf'<p class="field-error" id="id_{field}-error">(.*?)</p>', page.content.decode())
    assert error and "between the years 2000 and 2100" in error.group(1)
    # In place, for htmx: the form region comes back with the message.
    partial = client.get(reverse("audit-list"), params, headers={"HX-Request": "true", "HX-Target": "audit-main"})
    assert partial.status_code == 200
    assert f'id="id_{field}-error"' in partial.content.decode()


def test_the_list_shows_a_bidi_override_error_next_to_its_field(client, db):
    client.force_login(UserFactory(username="aud", roles=["auditor"]))
    page = client.get(reverse("audit-list"), {"reason": "INC\u202e1"})
    assert page.status_code == 400
    assert 'id="id_reason-error"' in page.content.decode()


# A target address the trail can never hold: a NUL (which PostgreSQL refuses in text) or more than
# its columns take. It failed in the query or in the audit event about the visit (DataError).
IMPOSSIBLE_TARGETS = {
    "a NUL in the type": "/audit/target/%00/x/",
    "a NUL in the id": "/audit/target/message/a%00b/",
    "an over-long type": "/audit/target/" + "t" * 65 + "/x/",
    "an over-long id": "/audit/target/message/" + "i" * 256 + "/",
}


@pytest.mark.parametrize("path", IMPOSSIBLE_TARGETS.values(), ids=IMPOSSIBLE_TARGETS.keys())
def test_a_target_no_event_can_name_is_not_found(client, db, path):
    client.force_login(UserFactory(username="aud", roles=["auditor"]))
    assert client.get(path).status_code == 404


@pytest.mark.parametrize("after", ["\u00b2", "\u0663", "-1", "x", "9" * 40])
def test_a_damaged_timeline_cursor_starts_over(client, db, after):
    client.force_login(UserFactory(username="aud", roles=["auditor"]))
    page = client.get("/audit/target/message/x/", {"after": after})
    assert page.status_code == 200
