"""Words, not codes: every audit action the code records has a label of its own, system actors and
integrations are named in words, and a code nobody labelled is shown as recorded, never an error."""

import ast
import re
from pathlib import Path

import pytest
from django.template import Context, Template

from investigations.core import labels
from investigations.management.commands.audit_seed import ACTIONS as SEEDED_ACTIONS
from investigations.models import AuditAction, RemediationItem, RemediationRequest

APP = Path(labels.__file__).resolve().parents[1]
_ACTION_NAME = re.compile(r"^[a-z0-9_]+(\.[a-z0-9_]+)+$")


def _strings(node, constants):
    """The action names an ``action=`` argument can take: a literal, a module constant, either branch
    of a conditional."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        yield node.value
    elif isinstance(node, ast.Name) and node.id in constants:
        yield constants[node.id]
    elif isinstance(node, ast.IfExp):
        yield from _strings(node.body, constants)
        yield from _strings(node.orelse, constants)


def actions_named_in_code():
    """Every action name given as a plain string to a call's ``action=`` in the app (the members of
    AuditAction are labelled by construction; plain strings are what could slip past)."""
    found = {}
    for path in APP.rglob("*.py"):
        if "migrations" in path.parts or "mimecast" in path.parts:
            continue
        tree = ast.parse(path.read_text(), str(path))
        constants = {
            target.id: node.value.value
            for node in tree.body
            if isinstance(node, ast.Assign)
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
            for target in node.targets
            if isinstance(target, ast.Name)
        }
        for call in (n for n in ast.walk(tree) if isinstance(n, ast.Call)):
            for keyword in call.keywords:
                if keyword.arg == "action":
                    for name in _strings(keyword.value, constants):
                        if _ACTION_NAME.match(name):
                            found.setdefault(name, str(path.relative_to(APP.parent)))
    return found


def test_the_scan_finds_the_plain_string_actions_it_is_meant_to_guard():
    found = actions_named_in_code()

    # The MFA and user-management actions are module constants in accounts/, not AuditAction members.
    assert {"auth.mfa_verified", "auth.mfa_failed", "user.deactivated", "user.password_reset"} <= set(found)


def test_every_action_named_in_code_or_seeded_has_a_label_other_than_its_code():
    named = {**actions_named_in_code(), **{action: "audit_seed" for action, _type, _weight in SEEDED_ACTIONS}}

    unlabelled = {name: where for name, where in named.items() if labels.action_label(name) == name}
    assert unlabelled == {}
    assert set(named) <= set(AuditAction.values)


def test_every_audit_action_has_a_label_of_its_own():
    for action in AuditAction:
        assert action.label and action.label != action.value
        assert labels.action_label(action.value) == action.label
    assert len(set(AuditAction.labels)) == len(AuditAction.labels), "two actions read the same"


@pytest.mark.parametrize(
    ("recorded", "actor_type", "words"),
    [
        ("task:investigations.tasks.remediation_poll", "system", "System: remediation poller"),
        ("task:investigations.tasks.remediation_execute", "system", "System: remediation runner"),
        ("task:investigations.tasks.something_new", "system", "System: something new"),
        ("integration:soar-playbook", "user", "Integration: soar-playbook"),
        ("operator:root", "system", "Operator: root"),
        ("demo-setup", "system", "System: demo setup"),
        ("system", "system", "System"),
        ("system", "", "System"),
        ("dave", "user", "dave"),
        ("", "anonymous", "Anonymous"),
        ("", "", "—"),
        (None, "", "—"),
    ],
)
def test_actors_are_named_in_words(recorded, actor_type, words):
    assert labels.actor_label(recorded, actor_type) == words


def test_every_task_the_portal_runs_has_a_name_in_words():
    from mimecast_portal.celery import app

    app.loader.import_default_modules()
    ours = {
        name.removeprefix("investigations.tasks.") for name in app.tasks if name.startswith("investigations.tasks.")
    }
    assert ours and ours <= set(labels.TASK_NAMES)


def test_every_state_a_request_or_an_item_can_be_in_reads_in_words():
    for state in (*RemediationRequest.State, *RemediationItem.State):
        assert labels.state_label(state.value) != state.value
    assert labels.state_label("pending_approval") == "Pending approval"
    assert labels.kind_label("block_sender") == "Block a sender or domain"


def test_mimecast_codes_read_as_a_sentence_and_unknown_ones_as_mimecast_said():
    assert labels.mimecast_code_label("err_xdk_binding_expired") == (
        "The Mimecast access key has expired; the portal must log in to Mimecast again."
    )
    assert "Slow down" in labels.mimecast_code_label("err_unheard_of", "Slow down")
    assert labels.mimecast_code_label("err_unheard_of") == "Mimecast refused the request: error err_unheard_of."
    assert labels.mimecast_code_label("") == ""


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("{{ 'remediation.drafted'|action_label }}", "Remediation request drafted"),
        ("{{ hostile|action_label }}", "legacy.&lt;b&gt;gone&lt;/b&gt;"),
        ("{{ hostile|actor_label:'user' }}", "legacy.&lt;b&gt;gone&lt;/b&gt;"),
        ("{{ hostile|state_label }}", "legacy.&lt;b&gt;gone&lt;/b&gt;"),
        ("{{ hostile|when_text }}", "legacy.&lt;b&gt;gone&lt;/b&gt;"),
        ("{{ nothing|action_label }}", ""),
        ("{{ 'task:investigations.tasks.remediation_sweep'|actor_label:'system' }}", "System: remediation sweeper"),
        ("{{ 'queued'|state_label }}", "Queued"),
        ("{{ 'teleported'|state_label }}", "teleported"),
        ("{{ 'denied'|outcome_label }}", "Denied"),
        ("{{ 'remediationrequest'|target_label }}", "request"),
        ("{{ 'release_held'|kind_label }}", "Release held messages"),
        ("{{ 'not a time'|when_text }}", "not a time"),
    ],
)
def test_the_template_filters_fall_back_to_the_code_and_escape_it(source, expected):
    context = Context({"hostile": "legacy.<b>gone</b>"})
    assert Template("{% load portal %}" + source).render(context) == expected


def test_a_time_kept_as_text_shows_its_zone_with_utc_on_hover():
    html = Template("{% load portal %}{{ t|when_text }}").render(Context({"t": "2026-11-26T14:03:00+00:00"}))

    assert html == (
        '<time datetime="2026-11-26T14:03:00+00:00" title="2026-11-26 14:03:00 UTC">2026-11-26 14:03:00 UTC</time>'
    )
