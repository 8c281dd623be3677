"""Policies: blocked senders."""

from __future__ import annotations

from investigations.mimecast.envelope import flat_list
from investigations.mimecast.types import BlockedSenderPolicy, parse_list


class Policy:
    def get_blocked_sender_policies(self, policy_id: str | None = None) -> list[BlockedSenderPolicy]:
        path = "/api/policy/blockedsenders/get-policy"
        body = self._call(path, {"id": policy_id} if policy_id else None)
        return parse_list(BlockedSenderPolicy, flat_list(body, path))
