"""Release or reject held messages: one item per message in Mimecast's hold queue, one call each.

What the approver sees (the preview) is each selected message as the hold queue lists it, with its
hold reason and policy, and the Targeted Threat Protection verdicts Mimecast logged for it.

"Flagged" is decided from what Mimecast itself says about the message, by two rules:

- its hold reason is of a TTP, malware or spam-signature kind: the reason id (or, without one, the
  reason's words) names attachment, URL or impersonation protection, targeted threat protection,
  malware, a virus or a spam signature (``FLAGGED_REASONS``). The queue page uses this rule alone, as
  it costs no extra call;
- a TTP log holds a malicious verdict for it: an Attachment Protect log with result ``malicious`` or
  ``unsafe``, or a URL Protect log with scan result ``malicious``, for the same recipient and subject
  from the same sender (the hold queue gives no internet Message-ID to match on).

Releasing a flagged message needs the number of approvers the admin set
(ApprovalRules.flagged_release_approvers). When the TTP logs cannot be read, the verdicts are
unknown, and a release is then treated as flagged: a second pair of eyes costs less than a delivered
piece of malware. A rejection needs one approver whatever the flags.

Neither action can be taken back: a released message is delivered, a rejected one is gone.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.utils import timezone

from investigations.core.problems import problem_from
from investigations.mimecast.errors import MimecastApiError, MimecastError, MimecastNotFound
from investigations.models import RemediationRequest
from investigations.remediation.kinds import ItemFailed, family, register

Kind = RemediationRequest.Kind

# How far back the hold queue is read for the selected ids: Mimecast keeps held mail about a month.
HOLD_LOOKBACK = timedelta(days=31)
# Pages of the hold queue, of the release log and of each TTP log one preview or check may read.
HOLD_PAGES = 20
LOG_PAGES = 5
# The TTP scan is logged shortly after the message arrives; this much either side is searched.
TTP_SLACK = timedelta(hours=6)
# Upper-case pieces of a hold reason id that mark it as a TTP, malware or spam-signature hold.
FLAGGED_REASONS = (
    "ATTACHMENT_PROTECT",
    "URL_PROTECT",
    "IMPERSONATION_PROTECT",
    "TARGETED_THREAT",
    "MALWARE",
    "VIRUS",
    "SPAM_SIGNATURE",
)
MALICIOUS_ATTACHMENT = {"malicious", "unsafe"}
MALICIOUS_URL = {"malicious"}
IRREVERSIBLE_RELEASE = "Mimecast cannot undo a release: the message is delivered to its recipient."
IRREVERSIBLE_REJECT = "Mimecast cannot undo a rejection: the message is discarded and cannot be delivered later."
# The reason types hold-reject takes, with their words.
REJECT_REASON_TYPES = (
    ("MESSAGE_CONTAINS_UNDESIRABLE_CONTENT", "The message contains undesirable content"),
    ("MESSAGE_CONTAINS_CONFIDENTIAL_INFORMATION", "The message contains confidential information"),
    ("REVIEWER_DISAPPROVES_OF_CONTENT", "The reviewer disapproves of the content"),
    ("INAPPROPRIATE_COMMUNICATION", "Inappropriate communication"),
    ("MESSAGE_GOES_AGAINST_EMAIL_POLICIES", "The message goes against email policies"),
)
LABEL_MAX = 300


# ------------------------------------------------------------------------------------ reading


def hold_reason_flag(held) -> str:
    """Why the hold reason of a held message (a mimecast HeldMessage) flags it, in words, or ""."""
    code = (held.reason_id or held.reason_code or held.reason.replace(" ", "_")).upper()
    hit = next((piece for piece in FLAGGED_REASONS if piece in code), "")
    return f"held by {held.reason or hit.replace('_', ' ').lower()}" if hit else ""


def _addr(value) -> str:
    return (value.email_address if value is not None else "").lower()


def _iso(value) -> str:
    return value.astimezone(UTC).isoformat(timespec="seconds") if value else ""


def _message(held) -> dict:
    """What the preview keeps of one held message (JSON only: it is stored on the request)."""
    return {
        "id": held.id,
        "subject": held.subject,
        "from": _addr(held.from_header) or _addr(held.from_),
        "envelope_from": _addr(held.from_),
        "to": _addr(held.to),
        "received": _iso(held.date_received),
        "reason": held.reason,
        "reason_id": held.reason_id or held.reason_code.upper(),
        "policy": held.policy_info,
        "route": held.route.lower(),
        "has_attachments": bool(held.has_attachments),
        "ttp": [],
        "flags": [flag] if (flag := hold_reason_flag(held)) else [],
    }


def _find_held(client, ids: list[str]) -> dict:
    """The selected ids as the hold queue lists them (the queue cannot be searched by id)."""
    wanted, found = set(ids), {}
    now = timezone.now()
    pages = client.iter_items(
        client.get_held_messages, admin=True, start=now - HOLD_LOOKBACK, end=now, max_pages=HOLD_PAGES
    )
    for held in pages:
        if held.id in wanted and held.id not in found:
            found[held.id] = held
            if len(found) == len(wanted):
                break
    return found


def _ttp_key(recipient: str, subject: str) -> tuple[str, str]:
    return recipient.lower(), subject.strip()


def _ttp_verdicts(client, messages: list[dict]) -> None:
    """Adds to each message the malicious TTP log entries that match it. Raises MimecastError."""
    by_key: dict[tuple[str, str], list[dict]] = {}
    for m in messages:
        by_key.setdefault(_ttp_key(m["to"], m["subject"]), []).append(m)
    times = [datetime.fromisoformat(m["received"]) for m in messages if m["received"]]
    now = timezone.now()
    start = (min(times) if times else now - HOLD_LOOKBACK) - TTP_SLACK
    end = min(now, (max(times) if times else now) + TTP_SLACK)

    def match(recipient, subject, sender, entry):
        for m in by_key.get(_ttp_key(recipient, subject), []):
            if sender.lower() in (m["from"], m["envelope_from"]):
                m["ttp"].append(entry)
                m["flags"].append(f"{entry['what']} verdict {entry['verdict']}")

    for log in client.iter_items(client.get_attachment_logs, start=start, end=end, max_pages=LOG_PAGES):
        if log.result.lower() in MALICIOUS_ATTACHMENT:
            entry = {"what": "Attachment Protect", "verdict": log.result.lower(), "detail": log.file_name}
            match(log.recipient_address, log.subject, log.sender_address, entry)
    for log in client.iter_items(
        client.get_url_logs, start=start, end=end, scan_result="malicious", max_pages=LOG_PAGES
    ):
        if log.scan_result.lower() in MALICIOUS_URL:
            entry = {"what": "URL Protect", "verdict": log.scan_result.lower(), "detail": log.url}
            match(log.user_email_address, log.subject, log.from_user_email_address, entry)


def _gone(client, ids: list[str]) -> dict[str, str]:
    """For ids no longer held: what the release log says became of them, in words."""
    wanted, said = set(ids), {}
    for log in client.iter_items(client.get_held_release_logs, max_pages=LOG_PAGES):
        if log.id in wanted and log.id not in said:
            said[log.id] = _release_words(log)
    return said


def _release_words(log) -> str:
    who = log.operator or "someone"
    when = _iso(log.released)
    if log.reject_reason or log.status.lower() == "rejected":
        return f"rejected by {who} at {when}" if when else f"rejected by {who}"
    return f"released by {who} at {when}" if when else f"released by {who}"


def _words(error: MimecastError) -> str:
    return problem_from(error).message


def preview_held(client, req) -> dict:
    """The selected held messages with their hold reason, policy and TTP verdicts."""
    ids = list(req.params.get("held_ids") or [])
    preview = {"errors": [], "warnings": [], "notes": [], "messages": [], "flagged": 0, "ttp_checked": False}
    try:
        found = _find_held(client, ids)
    except MimecastError as error:
        preview["errors"].append(f"The hold queue could not be read: {_words(error)}")
        return preview
    messages = [_message(found[i]) for i in ids if i in found]
    missing = [i for i in ids if i not in found]
    if messages:
        try:
            _ttp_verdicts(client, messages)
            preview["ttp_checked"] = True
        except MimecastError as error:
            preview["warnings"].append(
                f"The TTP logs could not be read, so their verdicts are unknown: {_words(error)}"
            )
    if missing:
        preview["errors"].append(_missing_words(client, missing))
    preview["messages"] = messages
    preview["flagged"] = sum(1 for m in messages if m["flags"])
    if req.kind == Kind.RELEASE_HELD and preview["flagged"]:
        preview["warnings"].append(
            f"{preview['flagged']} of the messages are flagged (see each one's flags): releasing delivers them."
        )
    if messages and preview["ttp_checked"] and not any(m["ttp"] for m in messages):
        preview["notes"].append("No TTP log holds a malicious verdict for these messages.")
    return preview


def _missing_words(client, missing: list[str]) -> str:
    try:
        fates = _gone(client, missing)
    except MimecastError:
        fates = {}
    listed = "; ".join(f"{i[:24]}… {fates.get(i, 'not found')}" for i in missing[:10])
    more = f" and {len(missing) - 10} more" if len(missing) > 10 else ""
    return (
        f"{len(missing)} of the selected messages are no longer in the hold queue ({listed}{more}). "
        "Remove them from the request."
    )


# ------------------------------------------------------------------------------------ acting


def held_items(req) -> list[tuple[str, str]]:
    known = {m["id"]: m for m in (req.preview or {}).get("messages", [])}
    items = []
    for held_id in req.params.get("held_ids") or []:
        m = known.get(held_id)
        label = f"{m['subject'] or '(no subject)'} / {m['from']}" if m else held_id
        items.append((held_id, label[:LABEL_MAX]))
    return items


def _fate(client, held_id: str):
    """Where one held message stands: ("released" | "rejected", its release-log entry), ("held", None),
    or ("unknown", None) when Mimecast lists it nowhere."""
    log = client.find_held_release_log(held_id, max_pages=LOG_PAGES)
    if log is not None:
        rejected = bool(log.reject_reason) or log.status.lower() == "rejected"
        return ("rejected" if rejected else "released"), log
    now = timezone.now()
    for held in client.iter_items(
        client.get_held_messages, admin=True, start=now - HOLD_LOOKBACK, end=now, max_pages=HOLD_PAGES
    ):
        if held.id == held_id:
            return "held", None
    return "unknown", None


def _result(wanted: str, log) -> dict:
    return {
        "mimecast_id": "",
        wanted: True,
        "operator": log.operator if log is not None else "",
        "at": _iso(log.released) if log is not None else "",
        "reject_reason": (log.reject_reason or "") if log is not None else "",
    }


def _confirm(wanted: str):
    """The confirm step of release ("released") or reject ("rejected"): the effect is there when the
    message left the queue and the release log says it went the way asked. When it went the other
    way (someone else acted first), calling again cannot succeed: the item fails with who did what."""

    def confirm(client, req, item):
        fate, log = _fate(client, item.key)
        if fate == wanted:
            return _result(wanted, log)
        if fate == "held":
            return None
        if fate == "unknown":
            raise ItemFailed(
                "The message is neither in the hold queue nor in the release log of the last month, "
                f"so it cannot be {wanted} now."
            )
        raise ItemFailed(f"The message was {_release_words(log)} instead: nothing was {wanted}.")

    return confirm


confirm_release = _confirm("released")
confirm_reject = _confirm("rejected")


def do_release(client, req, item) -> dict:
    try:
        answer = client.release_held_message(item.key)
    except MimecastNotFound:
        # Not held any more: tell apart "already released" (the effect is there) from "rejected".
        return confirm_release(client, req, item) or _raise_still_held()
    if not answer.ok:
        raise MimecastApiError("Mimecast did not confirm the release of this message.")
    return {"mimecast_id": "", "released": True}


def do_reject(client, req, item) -> dict:
    params = req.params
    try:
        answers = client.reject_held_messages(
            [item.key],
            message=params.get("message") or "",
            reason_type=params.get("reason_type") or "",
            notify=bool(params.get("notify")),
        )
    except MimecastNotFound:
        return confirm_reject(client, req, item) or _raise_still_held()
    if not any(a.ok for a in answers):
        # hold-reject answers reject: false for a message it no longer holds: say why.
        return confirm_reject(client, req, item) or _raise_still_held()
    return {"mimecast_id": "", "rejected": True, "reason_type": params.get("reason_type") or ""}


def _raise_still_held():
    raise MimecastApiError("Mimecast refused to act on the message although it is still held.")


def release_rules(req, rules) -> tuple[int, bool, list[str]]:
    preview = req.preview or {}
    flagged = int(preview.get("flagged") or 0)
    needed = min(2, max(1, int(rules.flagged_release_approvers)))  # the model allows 1 or 2
    if needed == 1:
        return 1, False, []
    if flagged:
        what = "is" if flagged == 1 else "are"
        return (
            needed,
            False,
            [f"{flagged} of the messages {what} flagged by TTP, malware or spam checks: two approvers"],
        )
    if preview.get("messages") and not preview.get("ttp_checked"):
        return needed, False, ["The TTP verdicts could not be read, so the release counts as flagged: two approvers"]
    return 1, False, []


kind = family("held", request_capability="request_held_action", preview=preview_held, items=held_items)
register(
    kind(
        Kind.RELEASE_HELD,
        "Release held messages",
        "ReleaseHeldForm",
        do_item=do_release,
        confirm_item=confirm_release,
        irreversible=IRREVERSIBLE_RELEASE,
        approval_rules=release_rules,
    ),
    kind(
        Kind.REJECT_HELD,
        "Reject held messages",
        "RejectHeldForm",
        do_item=do_reject,
        confirm_item=confirm_reject,
        irreversible=IRREVERSIBLE_REJECT,
    ),
)
