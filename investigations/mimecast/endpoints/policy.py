"""Policies: blocked senders (list, create, delete)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from investigations.mimecast.envelope import first_item, flat_list
from investigations.mimecast.errors import MimecastInvalidRequest
from investigations.mimecast.types import BlockedSenderPolicy, format_datetime, parse, parse_list

GET_POLICY = "/api/policy/blockedsenders/get-policy"
CREATE_POLICY = "/api/policy/blockedsenders/create-policy"
DELETE_POLICY = "/api/policy/blockedsenders/delete-policy"

# The party types that name a value, and the key the value travels under in a from/to object.
PARTY_VALUE_KEYS = {"email_address": "emailAddress", "email_domain": "emailDomain", "profile_group": "groupId"}
PARTY_TYPES = (*PARTY_VALUE_KEYS, "everyone", "internal_addresses", "external_addresses", "free_mail_domains")
FROM_PARTS = ("envelope_from", "header_from", "both")


def _party(side: str, kind: str, value: str | None) -> dict[str, str]:
    """A policy's from or to object; the types that need a value refuse to go without one."""
    if kind not in PARTY_TYPES:
        raise MimecastInvalidRequest(f"The {side} type must be one of {', '.join(PARTY_TYPES)}.")
    party = {"type": kind}
    key = PARTY_VALUE_KEYS.get(kind)
    if key:
        text = (value or "").strip()
        if not text:
            raise MimecastInvalidRequest(f"The {side} {kind.replace('_', ' ')} is required.")
        if kind == "email_address" and ("@" not in text or text.startswith("@") or text.endswith("@")):
            raise MimecastInvalidRequest(f"'{text[:120]}' is not an email address.")
        party[key] = text
    return party


def _validity(policy: dict[str, Any], end: str, when: datetime | str | None) -> None:
    """One end of the policy's validity: "eternal" when no date is given, as Mimecast's own form does."""
    if when is None:
        policy[f"{end}Eternal"] = True
    else:
        policy[f"{end}Eternal"] = False
        policy[f"{end}Date"] = format_datetime(when)


class Policy:
    def get_blocked_sender_policies(self, policy_id: str | None = None) -> list[BlockedSenderPolicy]:
        body = self._call(GET_POLICY, {"id": policy_id} if policy_id else None)
        return parse_list(BlockedSenderPolicy, flat_list(body, GET_POLICY))

    def create_blocked_sender_policy(
        self,
        *,
        option: str = "block_sender",
        description: str,
        from_type: str,
        from_value: str | None,
        to_type: str = "everyone",
        to_value: str | None = None,
        from_part: str = "envelope_from",
        from_date: datetime | str | None = None,
        to_date: datetime | str | None = None,
        override: bool = False,
        bidirectional: bool = False,
    ) -> BlockedSenderPolicy:
        """Create a blocked-sender policy (``option`` ``block_sender``; ``no_action`` makes an exception).

        Not idempotent: every call that reaches Mimecast makes another policy, so it is never resent blindly."""
        if not (description or "").strip():
            raise MimecastInvalidRequest("A description is required to create a blocked-sender policy.")
        if from_part not in FROM_PARTS:
            raise MimecastInvalidRequest(f"The from part must be one of {', '.join(FROM_PARTS)}.")
        sender, recipient = _party("from", from_type, from_value), _party("to", to_type, to_value)
        policy: dict[str, Any] = {
            "description": description.strip(),
            "fromPart": from_part,
            "from": sender,
            "to": recipient,
            # The flat spelling beside the objects: tenants answer with both, and integrations send both.
            "fromType": from_type,
            "fromValue": sender.get(PARTY_VALUE_KEYS.get(from_type, ""), ""),
            "toType": to_type,
            "toValue": recipient.get(PARTY_VALUE_KEYS.get(to_type, ""), ""),
            "override": bool(override),
            "bidirectional": bool(bidirectional),
        }
        _validity(policy, "from", from_date)
        _validity(policy, "to", to_date)
        item = {"option": option, "policy": policy}
        body = self._call(CREATE_POLICY, item, idempotent=False)
        return parse(BlockedSenderPolicy, first_item(body, CREATE_POLICY))

    def delete_blocked_sender_policy(self, policy_id: str) -> None:
        self._delete(DELETE_POLICY, policy_id, "policy")
