"""The XSS corpus through investigations (cases) and the entity pages.

Vectors go where these pages take text from: what people type (a case's title, reason and ticket, an
evidence item's label and note, the note on a change, an evidence value the portal refuses and echoes
back) and what Mimecast answers on an entity page (URL Protect clicks, a managed URL's comment). Each
page is opened in headless Chromium as the persona who reads it, as a whole page under the portal's
CSP: the case list, the case page (evidence, requests, timeline), the header's switcher, the report,
the new-case form, an entity page for a value that carries a vector. Each htmx partial is also loaded
alone into a blank page without any CSP, so only the escaping stands between a vector and a running
script. No dialog may open, no injected element may appear, and the vectors must be on the page as
text (a witness planted in one place only proves the page shows that place)."""

from urllib.parse import urlencode

import pytest
from django.conf import settings

from investigations.cases import services as cases
from investigations.models import Evidence, Investigation
from investigations.templatetags.portal import entity_url
from tests.browser.pages import sign_in
from tests.browser.xss_checks import INJECTED_SELECTORS
from tests.browser.xss_vectors import xss_vectors

SCRIPT = "<script>alert(1)</script>"
# A ticket column holds 64 characters and the form allows none of these: planted through the service,
# as a value that got past some other door would be.
TICKET = '"><svg onload=alert(1)>'
# The URL the entity page is opened for: its host is one the simulator's managed URLs know.
VECTOR_URL = f"https://prize-claims.example/{SCRIPT}"


def witness(place):
    """A vector planted in one place only: seeing its text on a page proves the page shows that place."""
    return f"<script>alert('{place}')</script>"


def _where(region, selectors, *, own=()):
    """The selector list for injected markup in ``region``; ``own`` are the portal's own elements of
    a kind the corpus also uses (a named textarea is a form field, the case switcher a <details>)."""
    parts = []
    for sel in selectors:
        if sel == "textarea":
            sel = "textarea:not([name])"
        elif sel.startswith("details") and "details" in own:
            sel = sel.replace("details", "details:not(.case-switch)", 1)
        parts.append(f"{region} {sel}")
    return ", ".join(parts)


MAIN_INJECTED = _where("main", INJECTED_SELECTORS)
HEADER_INJECTED = _where("header", INJECTED_SELECTORS, own=("details",))
MESSAGES_INJECTED = _where("#toasts", INJECTED_SELECTORS)


def _typed(vectors):
    """Free text a person could type, holding many vectors, the plainest first."""
    return "\n".join(vectors)


def _url_of(vector, host="vector.example"):
    """A URL an evidence item or an entity page accepts (no whitespace), still carrying the vector."""
    return f"https://{host}/" + vector.replace(" ", "/")


class Watch:
    """The dialogs a page opened, kept for the final check; the portal's own confirmations are accepted."""

    def __init__(self, page):
        self.page, self.dialogs = page, []
        page.on("dialog", self._dialog)

    def _dialog(self, dialog):
        if dialog.type == "confirm" and dialog.message.startswith("Remove this item"):
            dialog.accept()
        else:
            self.dialogs.append(dialog.message)
            dialog.dismiss()

    def clean(self, where, *, shows=(), header_shows=(), message_shows=()):
        page = self.page
        assert page.locator(MAIN_INJECTED).count() == 0, f"injected markup on {where}"
        assert page.locator(HEADER_INJECTED).count() == 0, f"injected markup in the header of {where}"
        assert page.locator(MESSAGES_INJECTED).count() == 0, f"injected markup in the messages of {where}"
        text = page.locator("main").inner_text()
        for expected in shows:
            assert expected in text, f"{expected!r} is not shown as text on {where}"
        header = page.locator("header").first.text_content() if header_shows else ""
        for expected in header_shows:
            assert expected in header, f"{expected!r} is not shown as text in the header of {where}"
        notes = " ".join(page.locator("#toasts").all_inner_texts())
        for expected in message_shows:
            assert expected in notes, f"{expected!r} is not shown as text in the messages of {where}"
        assert self.dialogs == [], f"a dialog opened on {where}: {self.dialogs}"

    def full(self, url, *, ready="main", **shows):
        response = self.page.goto(url)
        assert response.status < 500, f"{url} answered {response.status}"
        self.page.wait_for_selector(ready)
        self.clean(url, **shows)
        return response

    def partial(self, url, *, target=None, shows=()):
        """The htmx partial alone, in a page with no CSP: nothing but the escaping keeps it inert."""
        headers = {"HX-Request": "true", **({"HX-Target": target} if target else {})}
        answer = self.page.request.get(url, headers=headers)
        assert answer.status < 500, f"{url} (htmx) answered {answer.status}"
        self._alone(answer.text(), f"{url} (htmx partial)", shows)

    def posted_partial(self, url, form, *, shows=()):
        """An htmx POST's answer, alone in a page with no CSP."""
        token = next(c["value"] for c in self.page.context.cookies() if c["name"] == settings.CSRF_COOKIE_NAME)
        answer = self.page.request.post(url, form=form, headers={"HX-Request": "true", "X-CSRFToken": token})
        assert answer.status < 500, f"{url} (htmx POST) answered {answer.status}"
        self._alone(answer.text(), f"{url} (htmx POST)", shows)

    def _alone(self, html, where, shows):
        assert "<html" not in html[:500].lower(), f"{where} answered a whole page, not its partial"
        self.page.goto("about:blank")
        self.page.set_content(f"<main>{html}</main>")
        self.page.wait_for_timeout(300)  # autofocus and onload handlers would have run by now
        self.clean(where, shows=shows)


# ------------------------------------------------------------------------------- planting


@pytest.fixture
def people(transactional_db, analyst, approver, auditor):
    return {"alice": analyst, "carol": approver, "dave": auditor}


def _plant_entity_answers(state):
    """URL Protect clicks on VECTOR_URL by and about vectors, and a managed URL of its host whose
    comment is a vector: what the entity page reads from Mimecast."""
    vectors = xss_vectors()
    newest = sorted(state.click_logs, key=lambda c: c["_dt"], reverse=True)[:12]
    for n, click in enumerate(newest):
        v = witness("click") if n < 3 else vectors[n]
        click.update(url=VECTOR_URL, userEmailAddress=v, fromUserEmailAddress=v, subject=v, messageId=f"<{v}>")
    entry = next(e for e in state.managed_urls if e["domain"] == "prize-claims.example")
    entry["comment"] = witness("managed-url")


@pytest.fixture
def planted(people, mimecast_env):
    """One case per vector for a title (half of them contained, so each status fits on one list page),
    three more named by witnesses (the newest: the header offers them to switch to), and the case
    alice works in: a vector for a title, reason and ticket, and evidence of four kinds whose labels
    and notes are vectors."""
    alice = people["alice"]
    vectors = xss_vectors()
    state = mimecast_env.state
    _plant_entity_answers(state)
    titled = [
        cases.case_create(actor=alice, values={"title": v, "reason": f"Case reason {v}", "ticket_id": TICKET})
        for v in vectors
    ]
    half = [c.pk for c in titled[: len(titled) // 2]]
    Investigation.objects.filter(pk__in=half).update(status=Investigation.Status.CONTAINED)
    case = cases.case_create(
        actor=alice,
        values={"title": SCRIPT, "reason": f"{witness('reason')}\n{_typed(vectors[:40])}", "ticket_id": TICKET},
    )
    for n in range(3):
        cases.case_create(actor=alice, values={"title": witness(f"switch-{n}"), "reason": "Switch target case"})

    phishing_ids = state.story["phishing_message_ids"]
    urls = [VECTOR_URL, *(_url_of(v) for v in vectors)]
    additions = [
        (Evidence.Kind.URL, urls, [witness("label"), *vectors], witness("note")),
        (Evidence.Kind.MESSAGE, phishing_ids[:20], vectors[20:40], _typed(vectors[40:80])),
        (Evidence.Kind.SENDER, [f"no-reply@{state.story['phishing_domain']}"], [vectors[3]], _typed(vectors[80:120])),
        (Evidence.Kind.DOMAIN, [state.story["phishing_domain"]], [vectors[4]], _typed(vectors[120:160])),
    ]
    for kind, values, labels, note in additions:
        result = cases.evidence_add(actor=alice, case_id=case.pk, kind=kind, values=values, labels=labels, note=note)
        assert result.added == len(values) and not result.invalid, (kind, result)
    cases.case_update(
        actor=alice,
        case_id=case.pk,
        values={"status": Investigation.Status.CONTAINED, "change_reason": witness("change")},
    )
    yield {"case": case, "vectors": vectors, "titled": titled}
    mimecast_env.reset()


# ---------------------------------------------------------------------------------- tests


def test_the_case_list_page_timeline_switcher_and_report_hold_the_corpus_as_text(page, people, planted):
    case, vectors = planted["case"], planted["vectors"]
    detail, report = f"/cases/{case.pk}/", f"/cases/{case.pk}/report/"
    watch = Watch(page)
    sign_in(page, "alice")

    # The list, one status at a time (each fits on one page), and its htmx partial.
    for status in ("open", "contained"):
        url = "/cases/?" + urlencode({"status": status, "scope": "all"})
        watch.full(url, ready="#case-table", shows=(SCRIPT,))
        watch.partial(url, target="cases", shows=(SCRIPT,))
    shown = page.locator("main").inner_text()
    assert sum(v in shown for v in vectors) > 50, "the contained cases' titles are not listed"

    # The case page: evidence (labels, notes), requests and the timeline (reasons, the change's note).
    planted_text = (SCRIPT, TICKET, witness("reason"), witness("label"), witness("note"), witness("change"))
    watch.full(detail, ready="#timeline-table", shows=planted_text)
    watch.partial(detail, target="evidence", shows=(witness("label"), witness("note")))
    watch.partial(detail, target="timeline", shows=(witness("reason"), witness("change")))

    # Working in it: the header names it and offers the others, every title a vector.
    page.goto(detail)
    page.click("#case-enter")
    page.wait_for_selector("#current-case")
    page.click("#case-bar details.case-switch summary")
    watch.clean("the header after entering the case", header_shows=(SCRIPT, witness("switch-0"), TICKET))
    watch.full("/", header_shows=(SCRIPT, witness("switch-2")))

    # The printable report, made by the analyst and read by the auditor.
    watch.full(report, shows=(*planted_text, vectors[25]))
    page.context.clear_cookies()
    sign_in(page, "dave")
    watch.full("/cases/", ready="#case-table", shows=(SCRIPT,))
    watch.full(detail, ready="#timeline-table", shows=planted_text)
    watch.full(report, shows=(witness("label"),))
    page.context.clear_cookies()
    sign_in(page, "carol")
    watch.full(detail, ready="#timeline-table", shows=(witness("label"), witness("change")))
    assert not [e for e in page.console_errors if "Refused" in e]


def test_the_entity_page_of_a_vector_bearing_url_inside_and_outside_the_case(page, people, planted):
    case, vectors = planted["case"], planted["vectors"]
    url = entity_url("url", VECTOR_URL)
    assert url, "the vector-bearing URL has no entity page: the check would prove nothing"
    watch = Watch(page)
    sign_in(page, "alice")

    # Outside any case the page asks for a reason; a refused reason comes back escaped.
    watch.full(url, ready="#entity-reason", shows=(SCRIPT,))
    watch.full(url + "?" + urlencode({"reason": SCRIPT + "\u200b"}), ready="#entity-reason", shows=(SCRIPT,))
    assert SCRIPT in page.input_value("#entity-reason [name=reason]")
    watch.full(
        url + "?" + urlencode({"reason": f"{vectors[7]} {SCRIPT}"}),
        ready="#entity-history",
        shows=(SCRIPT, witness("click"), witness("managed-url"), witness("note")),
    )

    # Inside the case: no reason asked, the case named by its (vector) title, the history with the
    # search just made under the vector reason.
    page.goto(f"/cases/{case.pk}/")
    page.click("#case-enter")
    page.wait_for_selector("#current-case")
    watch.full(url, ready="#entity-history", shows=(SCRIPT, witness("click"), f"{vectors[7]} {SCRIPT}"[:60]))
    assert page.locator("#entity-case").count() == 1
    assert page.locator("#entity-reason").count() == 0

    # Added from the entity page with a vector for a note: the case page shows it.
    page.fill("#entity-add-evidence [name=note]", witness("entity-note"))
    page.click("#entity-add-evidence button[type=submit]")
    page.wait_for_load_state()
    watch.clean("the entity page after adding it", message_shows=("already there",))
    for vector in vectors[::23]:
        address = entity_url("url", _url_of(vector, "not-yet-evidence.example"))
        watch.full(address, ready="#entity-history", shows=(vector.replace(" ", "/"),))
        page.fill("#entity-add-evidence [name=note]", witness("entity-note"))
        page.click("#entity-add-evidence button[type=submit]")
        page.wait_for_load_state()
        watch.clean(f"the entity page of {vector!r} after adding it", message_shows=("Added 1 item",))
    watch.full(f"/cases/{case.pk}/", ready="#timeline-table", shows=(witness("entity-note"),))
    assert not [e for e in page.console_errors if "Refused" in e]


def _evidence_form(page, *, kind, value, note):
    page.select_option("#evidence-kind", kind)
    page.fill("#evidence-value", value)
    page.fill("#evidence-note", note)
    page.click("#evidence-add button[type=submit]")
    page.wait_for_load_state()
    page.wait_for_selector("main")


def test_the_case_forms_typed_into_and_refused_values_echoed(page, people, planted):
    case, vectors = planted["case"], planted["vectors"]
    watch = Watch(page)
    sign_in(page, "alice")

    # The new-case form prefilled from a link, as the quick search builds it.
    for vector in vectors[::19]:
        query = urlencode({"q": vector, "reason": vector, "ticket": vector})
        watch.full(f"/cases/new/?{query}", ready="#case-form form")
        assert vector in page.input_value("#id_title")
        watch.partial(f"/cases/new/?{query}")

    # Typed into: a refused reason comes back with the title and reason as typed; then it opens.
    for vector in vectors[::37]:
        page.goto("/cases/new/")
        page.fill("#id_title", vector)
        page.fill("#id_reason", vector + "\u200b")  # an invisible mark: refused
        page.click("#case-form button[type=submit]")
        page.wait_for_selector("#case-form .field-error")
        watch.clean(f"the refused new-case form with {vector!r}")
        assert page.input_value("#id_title") == vector
        page.fill("#id_reason", f"Typed reason {vector}")
        page.click("#case-form button[type=submit]")
        page.wait_for_selector("#case-summary")
        watch.clean(f"the case opened with {vector!r}", shows=(vector, f"Typed reason {vector}"))
    made = Investigation.objects.filter(reason__startswith="Typed reason").count()
    assert made == len(vectors[::37])

    # Evidence through the case page's form: a value accepted with a vector for a note, and values
    # refused and echoed in the message.
    detail = f"/cases/{case.pk}/"
    page.goto(detail)
    _evidence_form(page, kind="url", value=_url_of(vectors[30], "typed.example"), note=witness("form-note"))
    watch.clean("the case page after adding a URL", shows=(witness("form-note"),), message_shows=("Added 1 item",))
    for vector in vectors[::29]:
        page.goto(detail)
        _evidence_form(page, kind="sender", value=vector, note=vector)
        watch.clean(f"the case page refusing {vector!r}", message_shows=("Not valid",))
    # The same from another page's selection, through htmx: the "added N" partial echoes the refused ones.
    for chunk in (vectors[:5], vectors[100:105]):
        form = {"kind": "recipient", "value": chunk[0], "label": chunk[1], "note": chunk[2], "case": str(case.pk)}
        watch.posted_partial("/cases/evidence/add/", form, shows=("Not valid", chunk[0][:20]))
    # An unknown kind: the form's own error, nothing echoed that could run.
    watch.posted_partial("/cases/evidence/add/", {"kind": chunk[0], "value": chunk[1], "note": chunk[2]})

    # The edit form: the status, members and details changed with a vector for the note.
    page.goto(f"/cases/{case.pk}/edit/")
    page.fill("#id_title", vectors[11])
    page.fill("#id_reason", f"Edited reason {vectors[12]}")
    page.fill("#id_ticket_id", "INC-4242")  # the planted ticket is one the form refuses
    page.fill("#id_change_reason", witness("edit") + "\u200b")  # refused first
    page.click("#case-form button[type=submit]")
    page.wait_for_selector("#case-form .field-error")
    watch.clean("the refused edit form")
    assert page.input_value("#id_title") == vectors[11]
    page.fill("#id_change_reason", witness("edit"))
    page.select_option("#id_status", "open")
    page.click("#case-form button[type=submit]")
    page.wait_for_selector("#case-summary")
    watch.clean("the case after the edit", shows=(vectors[11], f"Edited reason {vectors[12]}", witness("edit")))
    assert Investigation.objects.get(pk=case.pk).status == Investigation.Status.OPEN
    assert not [e for e in page.console_errors if "Refused" in e]
