"""Params of every item kind, for the engine's registry-wide tests: values the kind's form would
give, pointing at what the seeded simulator holds (held messages that are not flagged, so one
approver suffices; a sender and URLs no seeded policy covers)."""

from datetime import timedelta

from investigations.models import RemediationRequest
from investigations.remediation.kinds import KINDS

Kind = RemediationRequest.Kind
REASON = "Engine test: a response action carried out end to end"
# The params the URL form gives for a block with every option as it offers it, but the URLs.
URL_BLOCK = {
    "action": "block",
    "match_type": "explicit",
    "comment": "",
    "disable_rewrite": False,
    "disable_user_awareness": False,
    "disable_log_click": False,
}

# The kinds a request is started for (an undo kind starts from the request it undoes).
UNDO_KINDS = {kind.undo_kind for kind in KINDS.values() if kind.undo_kind}
# Kinds whose items settle later (the bulk remediation, polled per mailbox) have tests of their own.
ITEM_KINDS = [
    name for name, kind in KINDS.items() if not kind.incident and name not in UNDO_KINDS and kind.settle_item is None
]


def plain_held_ids(simulator, count=2, *, skip=0):
    """Held messages no check flagged (the seeded ones outside any story)."""
    held = [m.id for m in simulator.state.messages if m.status == "held" and m.story == ""]
    assert len(held) >= skip + count, "the simulator holds too few plain held messages"
    return held[skip : skip + count]


def params_for(kind, simulator, *, n=0):
    """Params of `kind` (n tells samples of one test apart, so they never act on the same thing)."""
    if kind == Kind.BLOCK_SENDER:
        return {"target_type": "email_address", "value": f"engine-{n}@bulk-offers.example", "from_part": "both"}
    if kind == Kind.MANAGE_URL:
        return {
            "urls": [f"https://engine-{n}.phish.example/login", f"https://engine-{n}.phish.example/pay"],
            **URL_BLOCK,
        }
    if kind == Kind.RELEASE_HELD:
        return {"held_ids": plain_held_ids(simulator, 2, skip=2 * n)}
    if kind == Kind.REJECT_HELD:
        return {
            "held_ids": plain_held_ids(simulator, 2, skip=2 * n),
            "reason_type": reject_reason_type(),
            "message": "",
            "notify": False,
        }
    if kind == Kind.REMEDIATE_MESSAGES:
        # Copies of distinct messages the simulator delivered, three mailboxes each.
        return {"targets": delivered_copies(simulator, n)}
    raise AssertionError(f"no sample for {kind}")


def delivered_copies(simulator, n, *, per_message=3):
    """Targets (mailbox, Message-ID) of the n-th inbound message still delivered, one per recipient."""
    st = simulator.state
    since = st.now - timedelta(days=29)  # inside the default window
    inbound = [
        m
        for m in st.messages
        if m.route == "inbound" and m.status == "archived" and m.id not in st.removed and m.received >= since
    ]
    message = [m for m in inbound if len([r for r in m.recipients if r in st.mailbox_by_email]) >= per_message][n]
    mailboxes = [r for r in message.recipients if r in st.mailbox_by_email][:per_message]
    return [{"mailbox": r, "message_id": message.mime_id, "subject": message.subject} for r in mailboxes]


def reject_reason_type():
    from investigations.remediation.kinds.held import REJECT_REASON_TYPES

    return REJECT_REASON_TYPES[0][0]


# What each kind's Mimecast effect is called in the simulator's effect journal, and what an
# effect names: the sender or URL acted on (target), or the held message (id).
EFFECTS = {
    Kind.BLOCK_SENDER: ("create-policy", "target"),
    Kind.UNBLOCK_SENDER: ("delete-policy", "id"),
    Kind.MANAGE_URL: ("create-managed-url", "target"),
    Kind.REMOVE_MANAGED_URL: ("delete-managed-url", "id"),
    Kind.RELEASE_HELD: ("hold-release", "id"),
    Kind.REJECT_HELD: ("hold-reject", "id"),
    Kind.REMEDIATE_MESSAGES: ("remediate", "target"),
    # A restore incident is journalled under its own id, which the item keeps.
    Kind.RESTORE_MESSAGES: ("restore", "mimecast_id"),
}


def effects_of(simulator, req, item):
    """The simulator's record of what Mimecast really did for one item of `req`."""
    action, by = EFFECTS[req.kind]
    if by == "target":
        return simulator.effects(action, target=item.key)
    return simulator.effects(action, id=item.mimecast_id if by == "mimecast_id" else item.key)


def values(kind, simulator, *, n=0, **extra):
    return {"kind": kind, "params": params_for(kind, simulator, n=n), "reason": REASON, "ticket_id": "", **extra}
