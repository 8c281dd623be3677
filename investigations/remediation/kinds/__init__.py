"""The response actions the approval engine carries out, one module per family of kinds.

Every request, whatever its kind, goes through the same engine (remediation.services): draft,
preview, submission, four-eyes approval, the outbox, the Celery task with its lease and attempts,
and the audit trail. What differs between kinds is declared here, once per kind:

- its request form (a dotted path, resolved by the views: forms sit above this layer);
- its preview: what the approver sees before deciding, computed from Mimecast;
- its items and the Mimecast call that acts on each, the read that confirms an item's effect is
  there (so a retried attempt never acts twice), and the kind that undoes it, if Mimecast can;
- who may request it and who may approve it;
- the approval rules that apply to it (two approvers, an admin approver), from its preview.

Remediate and restore work through one Mimecast remediation incident and its counts (the
engine's incident path); every other kind acts item by item.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# (client, request) -> dict stored as request.preview. Mimecast errors go into preview["errors"]
# (never raise): the approver sees what could not be checked.
Preview = Callable[[Any, Any], dict]
# request -> [(key, label)]: what the request acts on, fixed at submission.
Items = Callable[[Any], list[tuple[str, str]]]
# (client, request, item) -> dict: do the Mimecast call for one item; returns what to keep in
# item.result, with "mimecast_id" for whatever Mimecast created. Raises MimecastError.
DoItem = Callable[[Any, Any, Any], dict]
# (client, request, item) -> dict | None: the effect if Mimecast already shows it (the same shape
# as DoItem's answer), else None. Raises MimecastError when Mimecast cannot tell.
ConfirmItem = Callable[[Any, Any, Any], dict | None]
# (request, rules) -> (approvals_required, admin_approval_required, [reason in words]).
Rules = Callable[[Any, Any], tuple[int, bool, list[str]]]
# request -> dict of initial values for the undo request's params.
UndoParams = Callable[[Any], dict]
# (client, request, item) -> dict | None: for a kind whose effect Mimecast reports only later (an
# incident's counts), the done item's final outcome to add to item.result, or None while it is not
# final; the engine polls until every done item has one. {"outcome": SETTLE_FAILED, "detail": ...}
# fails the item with the detail as its error. Raises MimecastError when Mimecast cannot be read.
Settle = Callable[[Any, Any, Any], dict | None]
SETTLE_FAILED = "failed"


class ItemFailed(Exception):
    """Raised by do_item or confirm_item when an item cannot be done and must not be called again
    (e.g. the held message was rejected by someone else meanwhile); its message, in plain words, is
    the item's error."""


def one_approver(req, rules):
    return 1, False, []


@dataclass(frozen=True)
class ActionKind:
    name: str
    label: str
    form: str
    request_capability: str
    approve_capability: str = "approve"
    preview: Preview | None = None
    preview_template: str = ""
    items: Items | None = None
    do_item: DoItem | None = None
    confirm_item: ConfirmItem | None = None
    settle_item: Settle | None = None
    undo_kind: str = ""
    undo_params: UndoParams | None = None
    # Shown on the preview and the request when there is no undo.
    irreversible: str = ""
    # An admin may carry it out alone with a reason; it is reviewed afterwards.
    break_glass: bool = False
    approval_rules: Rules = one_approver
    # Whether the engine runs it through a remediation incident (remediate, restore).
    incident: bool = False
    extra: dict = field(default_factory=dict)


KINDS: dict[str, ActionKind] = {}


def family(module: str, *, request_capability: str, forms: str = "", **shared) -> Callable[..., ActionKind]:
    """The constructor of the kinds a module of this package declares. They share the module's request forms
    (remediation/forms/<module>.py, unless `forms` names another module), its preview template
    (remediation/kinds/<module>.html), who may request them and whatever else is given here, so that each
    kind states only its own: its name, its label, its form's class and the rest."""
    forms = forms or f"investigations.remediation.forms.{module}"

    def kind(name: str, label: str, form: str, **own) -> ActionKind:
        return ActionKind(
            name=name,
            label=label,
            form=f"{forms}.{form}",
            request_capability=request_capability,
            preview_template=f"remediation/kinds/{module}.html",
            **shared,
            **own,
        )

    return kind


def register(*kinds: ActionKind) -> None:
    for kind in kinds:
        KINDS[kind.name] = kind


def kind_for(name: str) -> ActionKind:
    return KINDS[name]


# Each module registers its kinds when imported; the order is the order of the kind picker.
from investigations.remediation.kinds import incident, blocked_sender, managed_url, held, bulk  # noqa: E402, F401, I001
