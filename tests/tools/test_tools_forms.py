"""Whatever is typed into a threat tools, directory or awareness form is accepted or refused with
field errors; nothing raises (property-based, over every form of these pages)."""

import pytest
from django import forms
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from investigations.tools import forms as tools_forms

# Every form the module defines (the window base class aside), so a new form is covered unasked.
FORMS = [
    obj
    for obj in vars(tools_forms).values()
    if isinstance(obj, type)
    and issubclass(obj, forms.Form)
    and obj.__module__ == tools_forms.__name__
    and obj is not tools_forms.WindowForm
]
nasty = st.one_of(
    st.text(max_size=300),
    st.sampled_from(
        ["", " ", "\x00", "\x1b[31m", "\u202e", "\x85", "a" * 10_000, "2026-13-45T99:99", "<script>alert(1)</script>"]
    ),
    st.from_regex(r"[0-9a-fA-F]{30,70}", fullmatch=True),
)


@pytest.mark.parametrize("form_class", FORMS, ids=lambda f: f.__name__)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_input_is_accepted_or_refused_next_to_a_field(form_class, data):
    values = {name: data.draw(nasty, label=name) for name in form_class.base_fields}
    form = form_class(values)
    if not form.is_valid():
        assert form.errors
        assert set(form.errors) <= set(form_class.base_fields) | {"__all__"}


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(q=nasty, start=nasty, window=st.sampled_from(["", "1h", "7d", "custom", "junk"]))
def test_the_log_page_never_answers_500(client, analyst, settings_fixture_unconfigured, q, start, window):
    client.force_login(analyst)
    response = client.get(
        reverse("tools-url-logs"), {"q": q, "start": start, "window": window}, headers={"HX-Request": "true"}
    )
    assert response.status_code == 200


@pytest.fixture
def settings_fixture_unconfigured(settings):
    # No Mimecast at all: valid input ends in a plain "not configured" error, quickly.
    settings.MIMECAST_ENV = {}
