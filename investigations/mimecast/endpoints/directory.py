"""Directory: groups and their members."""

from __future__ import annotations

from typing import Any, Unpack

from investigations.mimecast.envelope import Paged, Paging, put
from investigations.mimecast.errors import MimecastInvalidRequest
from investigations.mimecast.types import Group, GroupMember, Page

GROUP_MEMBERS_MAX_PAGE_SIZE = 500
FIND_GROUPS = Paged("/api/directory/find-groups", Group, key="folders")
GROUP_MEMBERS = Paged("/api/directory/get-group-members", GroupMember, "groupMembers", GROUP_MEMBERS_MAX_PAGE_SIZE)


class Directory:
    def find_groups(
        self,
        *,
        query: str | None = None,
        source: str | None = None,
        **paging: Unpack[Paging],
    ) -> Page[Group]:
        if source not in (None, "cloud", "ldap"):
            raise MimecastInvalidRequest("The group source must be cloud or ldap.")
        item: dict[str, Any] = {}
        put(item, "query", query or None)
        put(item, "source", source)
        return self._page(FIND_GROUPS, item or None, **paging)

    def get_group_members(self, group_id: str, **paging: Unpack[Paging]) -> Page[GroupMember]:
        return self._page(GROUP_MEMBERS, {"id": group_id}, **paging)
