"""Block a sender (one address) or a whole domain with a Mimecast blocked-sender policy, and the undo
that deletes the policies a block created.

A block is one item: one policy, created with the request's marker in its description so that a
retried attempt finds the policy its lost call created instead of making a second one."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from django.utils import timezone

from investigations.core.problems import guarded
from investigations.mimecast.errors import MimecastNotFound
from investigations.models import RemediationItem, RemediationRequest
from investigations.remediation.kinds import family, register

Kind = RemediationRequest.Kind

ADDRESS, DOMAIN = "email_address", "email_domain"
TARGET_TYPES = {ADDRESS: "address", DOMAIN: "domain"}
FROM_PARTS = {
    "envelope_from": "the envelope sender",
    "header_from": "the From header",
    "both": "the envelope sender and the From header",
}
WINDOW_DAYS = 30
# Message Finder stops listing at about this many messages (it is not paginated): a count that
# reaches it is a lower bound, and the preview says so.
TRACE_CAP = 500
# Track & trace statuses: "archived" is mail delivered and kept, the usual state of delivered mail.
DELIVERED_STATUSES = frozenset({"delivered", "archived"})
TOP_RECIPIENTS = 10
# The policy description carries the marker and the reason; Mimecast's console shows one short line.
DESCRIPTION_MAX = 200
# Group memberships read to tell whether a group policy covers the sender: bounded, as a preview
# must not spend the account's rate budget on a huge group.
MEMBERS_PAGE_SIZE, MEMBERS_MAX_PAGES = 500, 4


def _domain_of(value: str) -> str:
    return value.rsplit("@", 1)[1] if "@" in value else value


def _in_domain(domain: str, parent: str) -> bool:
    return bool(domain) and (domain == parent or domain.endswith("." + parent))


def _party_text(party) -> str:
    return f"{party.type}: {party.value}" if party.value else party.type


def policy_summary(policy, *, why: str = "", whole: bool = True) -> dict:
    """What the approver needs to know of one policy, as plain JSON for request.preview."""
    return {
        "id": policy.id,
        "option": policy.option,
        "description": policy.description,
        "from": _party_text(policy.from_),
        "to": _party_text(policy.to),
        "from_part": policy.from_part,
        "enabled": policy.enabled is not False,
        "everyone": policy.to.type in ("", "everyone"),
        "why": why,
        # False when it covers only part of what the request blocks (one address of the domain).
        "whole": whole,
    }


# ----------------------------------------------------------------------------------- block: preview


def _trace(client, req, value: str, preview: dict) -> None:
    """The sender's mail over the last 30 days, from Message Finder: count, recipients, statuses."""
    end = timezone.now()
    rows, problem = guarded(
        lambda: client.search_messages(
            sender=value,
            start=end - timedelta(days=WINDOW_DAYS),
            end=end,
            search_reason=f"Preview of response action {req.marker}: block {value}",
        )
    )
    if problem:
        preview["errors"].append(f"The mail from {value} could not be counted: {problem.message}")
        return
    statuses = Counter((row.status or "unknown").lower() for row in rows)
    recipients = Counter(t.email_address.lower() for row in rows for t in row.to if t.email_address)
    routes = Counter((row.route or "").lower() for row in rows)
    preview.update(
        message_count=len(rows),
        capped=len(rows) >= TRACE_CAP,
        delivered=sum(n for status, n in statuses.items() if status in DELIVERED_STATUSES),
        held=statuses.get("held", 0),
        rejected=statuses.get("rejected", 0),
        statuses=dict(sorted(statuses.items())),
        recipients=len(recipients),
        top_recipients=[{"address": a, "messages": n} for a, n in recipients.most_common(TOP_RECIPIENTS)],
    )
    if preview["capped"]:
        preview["notes"].append(
            f"Message Finder lists at most about {TRACE_CAP} messages: the real numbers may be higher."
        )
    if routes.get("outbound") or routes.get("internal"):
        preview["warnings"].append(
            f"{value} also sends mail out of or inside the organisation ({routes.get('outbound', 0)} outbound, "
            f"{routes.get('internal', 0)} internal): it looks like one of your own senders."
        )
    if not rows:
        preview["notes"].append(f"Message Finder lists no mail from {value} in the last {WINDOW_DAYS} days.")


class _Coverage:
    """Whether a policy's "from" side covers the sender or domain to block, and why."""

    def __init__(self, client, target_type: str, value: str):
        self.client, self.target_type, self.value = client, target_type, value
        self.domain = _domain_of(value)
        self.unread: list[str] = []

    def _members(self, group_id: str) -> set[str] | None:
        members, problem = guarded(
            lambda: {
                (m.email_address or m.domain or "").lower()
                for m in self.client.iter_items(
                    self.client.get_group_members, group_id, page_size=MEMBERS_PAGE_SIZE, max_pages=MEMBERS_MAX_PAGES
                )
            }
        )
        return None if problem else members

    def __call__(self, policy) -> tuple[str, bool]:
        """Why the policy covers the sender ("" when it does not), and whether it covers all of it."""
        kind, raw = policy.from_.type, policy.from_.value or ""
        value = raw.lower()
        if kind == "everyone":
            return "applies to every sender", True
        if kind == ADDRESS:
            if self.target_type == ADDRESS and value == self.value:
                return "names this address", True
            if self.target_type == DOMAIN and _in_domain(_domain_of(value), self.value):
                return f"names {value}, one address in this domain", False
        if kind == DOMAIN and _in_domain(self.domain, value):
            return f"covers the domain {value}", True
        if kind == "profile_group":
            return self._group(raw)
        return "", False

    def _group(self, group_id: str) -> tuple[str, bool]:
        members = self._members(group_id)
        if members is None:
            self.unread.append(group_id)
            return "", False
        if self.value in members or self.domain in members:
            return "the sender is a member of its group", True
        if self.target_type == DOMAIN and any(_in_domain(_domain_of(m), self.value) for m in members if "@" in m):
            return "its group holds addresses in this domain", False
        return "", False


def _policies(client, target_type: str, value: str, preview: dict) -> None:
    """Blocked-sender policies that already cover the sender (blocks) or conflict with a block
    (exceptions, option no_action, which let the mail through)."""
    policies, problem = guarded(client.get_blocked_sender_policies)
    if problem:
        preview["errors"].append(f"The blocked-sender policies could not be read: {problem.message}")
        return
    covers = _Coverage(client, target_type, value)
    for policy in policies:
        why, whole = covers(policy)
        if why:
            key = "covering" if policy.option == "block_sender" else "conflicting"
            preview[key].append(policy_summary(policy, why=why, whole=whole))
    if covers.unread:
        preview["warnings"].append(
            f"The members of {len(covers.unread)} policy group(s) could not be read: a policy may cover "
            f"{value} without being listed here."
        )
    in_force = [p for p in preview["covering"] if p["enabled"] and p["everyone"] and p["whole"]]
    if in_force:
        preview["warnings"].append(
            f"{value} is already blocked by {len(in_force)} enabled polic{'y' if len(in_force) == 1 else 'ies'} "
            f"({in_force[0]['description'] or in_force[0]['id']}): another block adds nothing."
        )
    if preview["conflicting"]:
        preview["warnings"].append(
            f"{len(preview['conflicting'])} exception polic{'y' if len(preview['conflicting']) == 1 else 'ies'} "
            f"(no action) cover{'s' if len(preview['conflicting']) == 1 else ''} {value}: "
            "Mimecast may keep letting its mail through despite the block."
        )


def block_preview(client, req) -> dict:
    params = req.params or {}
    target_type, value = params.get("target_type", ""), (params.get("value") or "").lower()
    preview = {
        "errors": [],
        "warnings": [],
        "notes": [],
        "target_type": target_type,
        "target": TARGET_TYPES.get(target_type, target_type),
        "value": value,
        "from_part": FROM_PARTS.get(params.get("from_part", ""), params.get("from_part", "")),
        "window_days": WINDOW_DAYS,
        "covering": [],
        "conflicting": [],
    }
    if target_type not in TARGET_TYPES or not value:
        preview["errors"].append("The request does not name a sender address or domain to block.")
        return preview
    _trace(client, req, value, preview)
    _policies(client, target_type, value, preview)
    return preview


# ------------------------------------------------------------------------------ block: the call


def block_items(req) -> list[tuple[str, str]]:
    params = req.params or {}
    value = (params.get("value") or "").lower()
    return [(value, f"Block the {TARGET_TYPES.get(params.get('target_type'), 'sender')} {value}")]


def policy_description(req) -> str:
    """The marker first (it must survive the cut), then the reason on one line."""
    reason = " ".join((req.reason or "").split())
    return f"{req.marker} {reason}"[:DESCRIPTION_MAX].strip()


def _block_result(policy) -> dict:
    return {
        "mimecast_id": policy.id,
        "option": policy.option,
        "from": _party_text(policy.from_),
        "description": policy.description,
    }


def block_do(client, req, item) -> dict:
    params = req.params
    policy = client.create_blocked_sender_policy(
        option="block_sender",
        description=policy_description(req),
        from_type=params["target_type"],
        from_value=item.key,
        to_type="everyone",
        from_part=params.get("from_part") or "envelope_from",
    )
    return _block_result(policy)


def block_confirm(client, req, item) -> dict | None:
    """The policy an earlier attempt created, if Mimecast lists it (found by the request's marker)."""
    for policy in client.get_blocked_sender_policies():
        value = (policy.from_.value or policy.from_value or "").lower()
        if req.marker in policy.description and value == item.key.lower() and policy.option == "block_sender":
            return _block_result(policy)
    return None


def block_undo_params(req) -> dict:
    done = req.items.filter(state=RemediationItem.State.DONE).exclude(mimecast_id="").order_by("position")
    return {
        "policy_ids": [item.mimecast_id for item in done],
        "value": (req.params or {}).get("value", ""),
        "target_type": (req.params or {}).get("target_type", ""),
    }


def block_rules(req, rules) -> tuple[int, bool, list[str]]:
    """A domain block that would stop a lot of delivered mail needs an admin among the approvers;
    so does one whose delivered count could not be read, since its impact is unknown."""
    params, preview = req.params or {}, req.preview or {}
    if params.get("target_type") != DOMAIN:
        return 1, False, []
    domain, delivered = params.get("value", ""), preview.get("delivered")
    if delivered is None:
        return 1, True, [f"How much delivered mail {domain} sent could not be counted: an admin must approve"]
    if delivered > rules.domain_block_admin_threshold:
        return 1, True, [f"{domain} sent {delivered} delivered messages in {WINDOW_DAYS} days: an admin must approve"]
    return 1, False, []


# ------------------------------------------------------------------------------------------- unblock


def unblock_preview(client, req) -> dict:
    """The policies to delete as they stand in Mimecast now."""
    params = req.params or {}
    ids = list(params.get("policy_ids") or [])
    preview = {
        "errors": [],
        "warnings": [],
        "notes": [],
        "value": params.get("value", ""),
        "target": TARGET_TYPES.get(params.get("target_type", ""), "sender"),
        "policies": [],
        "missing": [],
    }
    if not ids:
        preview["errors"].append("There is no policy to remove: the block request created none.")
        return preview
    policies, problem = guarded(client.get_blocked_sender_policies)
    if problem:
        preview["errors"].append(f"The blocked-sender policies could not be read: {problem.message}")
        return preview
    listed = {p.id: p for p in policies}
    marker = req.restore_of.marker if req.restore_of_id else ""
    for pid in ids:
        policy = listed.get(pid)
        if policy is None:
            preview["missing"].append(pid)
            continue
        preview["policies"].append(policy_summary(policy))
        if marker and marker not in policy.description:
            preview["warnings"].append(
                f"Policy {pid} no longer carries the block request's marker: someone changed it in Mimecast."
            )
    if preview["missing"]:
        preview["notes"].append(
            f"{len(preview['missing'])} of the policies are no longer in Mimecast (removed already): "
            "nothing to do for them."
        )
    return preview


def unblock_items(req) -> list[tuple[str, str]]:
    params = req.params or {}
    value = params.get("value", "")
    return [(pid, f"Remove policy {pid[:24]} blocking {value}"[:300]) for pid in params.get("policy_ids") or []]


def _policy_listed(client, policy_id: str) -> bool:
    return any(p.id == policy_id for p in client.get_blocked_sender_policies())


def unblock_do(client, req, item) -> dict:
    try:
        client.delete_blocked_sender_policy(item.key)
    except MimecastNotFound:
        # Gone already (removed by hand, or by a call whose answer was lost): the undo's effect is there.
        return {"removed": True, "already_gone": True}
    return {"removed": True}


def unblock_confirm(client, req, item) -> dict | None:
    return None if _policy_listed(client, item.key) else {"removed": True}


kind = family("blocked_sender", request_capability="request_block")
register(
    kind(
        Kind.BLOCK_SENDER,
        "Block a sender or a whole domain",
        "BlockSenderForm",
        preview=block_preview,
        items=block_items,
        do_item=block_do,
        confirm_item=block_confirm,
        undo_kind=Kind.UNBLOCK_SENDER,
        undo_params=block_undo_params,
        break_glass=True,
        approval_rules=block_rules,
    ),
    kind(
        Kind.UNBLOCK_SENDER,
        "Remove a sender block",
        "UnblockSenderForm",
        preview=unblock_preview,
        items=unblock_items,
        do_item=unblock_do,
        confirm_item=unblock_confirm,
        irreversible="Removing a block is not undone from here: to block the sender again, request a new block.",
    ),
)
