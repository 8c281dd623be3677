"""Remove chosen messages mailbox by mailbox, and put them back: the bulk selection's kinds.

One request and one approval cover many (mailbox, Message-ID) pairs; the worker makes one Mimecast
remediation incident per pair, because an incident is the only way Mimecast removes mail and it
takes one Message-ID narrowed to one recipient. Each incident's reason carries the item's own marker
("[MIP-REQ-12-abcd#3]": the request's marker with the item's position inside the brackets, so item 3
never matches item 30), which is how a later attempt finds an incident a killed one created.

An incident counts what it did only after a while, so an item's outcome is read afterwards
(settle_item, polled by the engine): "removed", "failed" (Mimecast's incident counts a failure but
gives no reason for it) or "not found" (the incident identified no copy in that mailbox: it had been
deleted or moved, or never arrived there).

A restore works from the removed items only: one restore incident per item, from that item's
incident's restore code.
"""

from __future__ import annotations

from datetime import datetime

from investigations.core.problems import problem_from
from investigations.mimecast.errors import MimecastError
from investigations.models import RemediationItem, RemediationRequest
from investigations.remediation.kinds import SETTLE_FAILED, ItemFailed, family, register

Kind = RemediationRequest.Kind

# The most targets one request takes: one incident each, and the approver reads the whole list.
MAX_TARGETS = 500
# Distinct messages the preview looks up in Message Finder (two calls each); the rest are listed
# as not checked.
PREVIEW_MESSAGES = 25
REASON_MAX = 1000
LABEL_MAX = 300

REMOVED = "removed"
RESTORED = "restored"
NOT_FOUND = "not found"
NO_REASON = "Mimecast gave no reason"


def target_key(mailbox: str, message_id: str) -> str:
    return f"{mailbox}|{message_id}"


def _targets(req) -> list[dict]:
    return [t for t in (req.params or {}).get("targets") or [] if isinstance(t, dict)]


def _target(req, item) -> dict:
    for target in _targets(req):
        if target_key(target.get("mailbox", ""), target.get("message_id", "")) == item.key:
            return target
    raise ItemFailed("This item is not among the request's targets any more; nothing was done.")


def _label(target: dict) -> str:
    what = target.get("subject") or target.get("message_id") or ""
    return f"{target.get('mailbox', '')} — {what}"[:LABEL_MAX]


def items(req) -> list[tuple[str, str]]:
    return [(target_key(t.get("mailbox", ""), t.get("message_id", "")), _label(t)) for t in _targets(req)]


def item_marker(req, item) -> str:
    return f"[MIP-REQ-{req.pk}-{req.nonce}#{item.position}]"


def _reason(req, item) -> str:
    text = f"{item_marker(req, item)} {req.reason}"
    if req.ticket_id:
        text += f" (ticket {req.ticket_id})"
    return text[:REASON_MAX]


def _when(value):
    return datetime.fromisoformat(value) if value else None


def _incident(incident) -> dict:
    """What an item keeps of its incident (JSON: it is stored in item.result)."""
    return {
        "mimecast_id": incident.id,
        "code": incident.code,
        "type": incident.type,
        "restore_code": incident.search_criteria.restore_code,
        "identified": incident.identified,
        "successful": incident.successful,
        "failed": incident.failed,
        "restored": incident.restored,
    }


# ------------------------------------------------------------------------------------ remediate


def do_remediate(client, req, item) -> dict:
    target = _target(req, item)
    params = req.params or {}
    incident = client.create_remediation_incident(
        reason=_reason(req, item),
        message_id=target["message_id"],
        recipient=target["mailbox"],
        start=_when(params.get("start")),
        end=_when(params.get("end")),
    )
    return _incident(incident)


def confirm_incident(client, req, item) -> dict | None:
    """The incident whose reason carries this item's marker, if an earlier call created it."""
    marker = item_marker(req, item)
    page = client.find_incidents(search_field="reason", search_value=marker, page_size=10)
    found = next((i for i in page.items if marker in (i.reason or "")), None)
    return _incident(found) if found is not None else None


def _copies(n: int) -> str:
    return f"{n} cop{'y' if n == 1 else 'ies'}"


def _settle(client, item, *, done_of, not_found, judge) -> dict | None:
    """The item's outcome once its incident's counts are final (what it did and what failed cover all it
    identified), else None (poll again). An incident that identified nothing is NOT_FOUND, in the words
    `not_found`; otherwise `judge(identified, done, failed)` gives the outcome and its detail."""
    incident = client.get_incident(item.mimecast_id)
    identified, done, failed = incident.identified or 0, done_of(incident), incident.failed or 0
    if done + failed < identified:
        return None
    outcome, detail = (NOT_FOUND, not_found) if identified == 0 else judge(identified, done, failed)
    return {**_incident(incident), "outcome": outcome, "detail": detail}


def _removal(identified, removed, failed):
    if failed:
        detail = f"failed ({NO_REASON}): {_copies(failed)} of {identified} not removed"
        return SETTLE_FAILED, detail + (f", {_copies(removed)} removed" if removed else "")
    return REMOVED, f"removed ({_copies(removed)})"


def settle_remediate(client, req, item) -> dict | None:
    return _settle(
        client,
        item,
        done_of=lambda incident: incident.successful or 0,
        not_found="not found: Mimecast found no copy in this mailbox in the window (deleted, moved or never delivered)",
        judge=_removal,
    )


def undo_remediate(req) -> dict:
    """The restore's targets: the items whose incident removed something, with its restore code."""
    targets = {target_key(t.get("mailbox", ""), t.get("message_id", "")): t for t in _targets(req)}
    out = []
    for row in req.items.filter(state=RemediationItem.State.DONE).order_by("position"):
        result = row.result or {}
        if result.get("outcome") != REMOVED or not result.get("restore_code") or row.key not in targets:
            continue
        target = targets[row.key]
        out.append(
            {
                "mailbox": target.get("mailbox", ""),
                "message_id": target.get("message_id", ""),
                "subject": target.get("subject", ""),
                "from": target.get("from", ""),
                "restore_code": result["restore_code"],
                "incident_code": result.get("code", ""),
            }
        )
    return {"targets": out}


def _words(error: MimecastError) -> str:
    return problem_from(error).message


def _lookup(client, req, message_id, params) -> tuple[dict, str]:
    """{mailbox: (state, detail)} for one message from Message Finder, or ({}, why not)."""
    found = client.search_messages(
        message_id=message_id,
        start=_when(params.get("start")),
        end=_when(params.get("end")),
        search_reason=f"Remediation preview {req.marker}",
    )
    if not found:
        return {}, "Message Finder does not find this message in the window"
    states: dict[str, tuple[str, str]] = {}
    for tracked in found:
        info = client.get_message_info(tracked.id)
        for address in tracked.to:
            states.setdefault(address.email_address.lower(), ("no delivered copy", tracked.status))
        for recipient, copy in info.delivered.items():
            event = copy.delivery.delivery_event or ""
            state = "already removed" if event.lower().startswith("removed") else "delivered"
            states[recipient.lower()] = (state, event)
    return states, ""


def preview_remediate(client, req) -> dict:
    """Each target as Message Finder shows it now: still delivered, already removed, not there."""
    params = req.params or {}
    targets = _targets(req)
    preview = {"errors": [], "warnings": [], "notes": [], "targets": [], "total": len(targets), "delivered": 0}
    looked: dict[str, tuple[dict, str]] = {}
    for message_id in dict.fromkeys(t.get("message_id", "") for t in targets):
        if len(looked) >= PREVIEW_MESSAGES:
            break
        try:
            looked[message_id] = _lookup(client, req, message_id, params)
        except MimecastError as error:
            looked[message_id] = ({}, f"not checked: {_words(error)}")
            preview["warnings"].append(f"{message_id}: Message Finder could not be read: {_words(error)}")
    for target in targets:
        mailbox, message_id = target.get("mailbox", ""), target.get("message_id", "")
        if message_id not in looked:
            state, detail = "not checked", f"only the first {PREVIEW_MESSAGES} messages are looked up"
        else:
            states, why = looked[message_id]
            state, detail = states.get(mailbox.lower()) or (
                ("unknown", why) if why.startswith("not checked") else ("not found", why or "not a recipient")
            )
        preview["targets"].append({**target, "state": state, "detail": detail})
    preview["delivered"] = sum(1 for t in preview["targets"] if t["state"] == "delivered")
    gone = len(targets) - preview["delivered"]
    if gone:
        preview["notes"].append(
            f"{gone} of the {len(targets)} copies are not delivered now; their incidents will find nothing to remove."
        )
    return preview


# -------------------------------------------------------------------------------------- restore


def do_restore(client, req, item) -> dict:
    target = _target(req, item)
    incident = client.restore_remediation_incident(reason=_reason(req, item), restore_code=target["restore_code"])
    if incident.type and incident.type.lower() != "restored":
        raise ItemFailed(
            f"Mimecast answered with incident {incident.code or incident.id} of type {incident.type}, "
            "not a restore incident; check the mailbox in Mimecast."
        )
    return _incident(incident)


def _putting_back(identified, restored, failed):
    if failed or not restored:
        return SETTLE_FAILED, f"failed ({NO_REASON}): {_copies(identified - restored)} of {identified} not put back"
    return RESTORED, f"restored ({_copies(restored)})"


def settle_restore(client, req, item) -> dict | None:
    return _settle(
        client,
        item,
        done_of=lambda incident: max(incident.restored or 0, incident.successful or 0),
        not_found="not found: nothing of it was still removed (put back already?)",
        judge=_putting_back,
    )


def preview_restore(client, req) -> dict:
    targets = _targets(req)
    preview = {"errors": [], "warnings": [], "notes": [], "targets": targets, "total": len(targets)}
    if not targets:
        preview["errors"].append("Nothing to put back: no message of the request was removed.")
    return preview


kind = family(
    "bulk",
    request_capability="request_remediation",
    items=items,
    confirm_item=confirm_incident,
    extra={"outcomes": "remediation/kinds/bulk.html#outcomes"},
)
register(
    kind(
        Kind.REMEDIATE_MESSAGES,
        "Remove selected messages, mailbox by mailbox",
        "RemediateMessagesForm",
        preview=preview_remediate,
        do_item=do_remediate,
        settle_item=settle_remediate,
        undo_kind=Kind.RESTORE_MESSAGES,
        undo_params=undo_remediate,
    ),
    kind(
        Kind.RESTORE_MESSAGES,
        "Put back selected messages, mailbox by mailbox",
        "RestoreMessagesForm",
        preview=preview_restore,
        do_item=do_restore,
        settle_item=settle_restore,
    ),
)
