"""Whatever is typed into a threat tools, directory or awareness form is accepted or refused with
field errors; nothing raises (property-based, over every form of these pages)."""

import pytest
from django.urls import reverse

from investigations.tools import forms as tools_forms

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

FORMS = [
    tools_forms.UrlLogForm,
    tools_forms.AttachmentLogForm,
    tools_forms.ImpersonationLogForm,
    tools_forms.HeldForm,
    tools_forms.ReleaseLogForm,
    tools_forms.RejectionForm,
    tools_forms.IncidentForm,
    tools_forms.ManagedUrlForm,
    tools_forms.IncidentLookupForm,
    tools_forms.HashSearchForm,
    tools_forms.UrlDecodeForm,
    tools_forms.WebSecurityForm,
    tools_forms.GroupSearchForm,
    tools_forms.GroupMembersForm,
    tools_forms.PolicyForm,
    tools_forms.SafeScoreForm,
    tools_forms.AwarenessUserForm,
    tools_forms.CampaignForm,
]
nasty = st.one_of(
    st.text(max_size=300),
    st.sampled_from(["", " ", "\x00", "\x1b[31m", "a" * 10_000, "2026-13-45T99:99", "<script>alert(1)</script>"]),
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
