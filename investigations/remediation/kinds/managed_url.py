"""Block or permit URLs in Mimecast's managed URL list (manage_url), and take such entries out again
(remove_managed_url, the undo).

Each URL is one item and one managed-URL entry. The entry's comment carries the request's marker, so
a retried attempt finds the entry its first attempt created (the answer may have been lost) instead
of creating a second one, and the undo deletes only entries this request created: an entry someone
else made before it is adopted as the effect but left alone by the undo.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, timedelta
from urllib.parse import urlsplit

from django.utils import timezone

from investigations.core.problems import guarded
from investigations.mimecast.errors import MimecastAlreadyExists, MimecastApiError, MimecastNotFound
from investigations.models import RemediationItem, RemediationRequest
from investigations.remediation.kinds import ItemFailed, family, register

Kind = RemediationRequest.Kind

# The preview reads the URL Protect logs of this many days, newest first, at most LOG_PAGES pages of
# LOG_PAGE_SIZE clicks: a busy tenant logs far more clicks than a preview can wait for, and the
# newest clicks are the ones that matter; the preview says when it stopped early.
LOG_DAYS = 30
LOG_PAGES = 10
LOG_PAGE_SIZE = 100
# The managed URLs of one domain fit in a page or two; a listing longer than this is not read to the end.
MANAGED_PAGES = 10
# How many clickers and messages the preview keeps per URL (the counts cover them all).
SHOWN = 25
# Mimecast keeps the comment short; the marker must survive the cut.
COMMENT_MAX = 200


# --------------------------------------------------------------------------------- URL matching


def _parts(url: str) -> tuple[str, str, str]:
    """(host, path without trailing slash, query) of a URL, the way managed URLs compare them."""
    split = urlsplit(url if "://" in url else "https://" + url)
    return (split.hostname or "").lower(), split.path.rstrip("/"), split.query


def _in_domain(host: str, domain: str) -> bool:
    domain = domain.lower()
    return bool(domain) and (host == domain or host.endswith("." + domain))


def _same_address(entry, url: str) -> bool:
    """Whether ``entry`` names the same host and path as ``url``: Mimecast holds one entry per address,
    whatever its action or match type, and refuses a second."""
    host, path, _ = _parts(url)
    return entry.domain.lower() == host and entry.path.rstrip("/") == path


def _covers(entry, url: str) -> bool:
    """Whether a click on ``url`` meets the managed URL ``entry``."""
    host, _, query = _parts(url)
    if entry.match_type == "domain":
        return _in_domain(host, entry.domain)
    return _same_address(entry, url) and (not entry.query_string or entry.query_string == query)


def _click_matches(click_url: str, url: str, match_type: str) -> bool:
    """Whether a logged click is on what the request names: the URL itself, or any URL of its domain."""
    if not click_url:
        return False
    host, path, query = _parts(url)
    click_host, click_path, click_query = _parts(click_url)
    if match_type == "domain":
        return _in_domain(click_host, host)
    return (click_host, click_path, click_query) == (host, path, query)


def _target(entry) -> str:
    """A managed URL as a person reads it."""
    port = f":{entry.port}" if entry.port and entry.port > 0 else ""
    query = f"?{entry.query_string}" if entry.query_string else ""
    scheme = f"{entry.scheme}://" if entry.scheme else ""
    return f"{scheme}{entry.domain}{port}{entry.path}{query}"


def _entry(entry) -> dict:
    return {
        "id": entry.id,
        "target": _target(entry),
        "action": entry.action,
        "match_type": entry.match_type,
        "comment": entry.comment,
    }


# ------------------------------------------------------------------------------ Mimecast reads


def _managed_for(client, host: str | None, pages: int = MANAGED_PAGES) -> tuple[list, bool]:
    """The managed URLs Mimecast lists for ``host`` (it matches by substring; the callers filter), or
    all of them, and whether the listing was read to its end."""
    found, token = [], None
    for _ in range(pages):
        page = client.get_managed_urls(domain_or_url=host or None, page_token=token)
        found.extend(page.items)
        token = page.next_token
        if not token:
            return found, True
    return found, False


def _all_managed(client) -> tuple[list, bool]:
    return _managed_for(client, None, pages=MANAGED_PAGES * 5)


def _read_clicks(client, now) -> tuple[list, int, bool]:
    """The URL Protect clicks of the last LOG_DAYS days, newest first: (clicks, pages read, whether
    the window holds more than was read)."""
    clicks, token, pages = [], None, 0
    start = now - timedelta(days=LOG_DAYS)
    while pages < LOG_PAGES:
        page = client.get_url_logs(start=start, end=now, page_size=LOG_PAGE_SIZE, page_token=token)
        pages += 1
        clicks.extend(page.items)
        token = page.next_token
        if not token:
            return clicks, pages, False
    return clicks, pages, True


# ------------------------------------------------------------------------------------- preview


def _when(value) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if value else ""


def _click_summary(clicks: list, url: str, match_type: str) -> dict:
    """Who clicked what the request names, and the messages that carried it."""
    mine = [c for c in clicks if _click_matches(c.url, url, match_type)]
    users = Counter(c.user_email_address.lower() for c in mine if c.user_email_address)
    messages: dict[str, dict] = {}
    for c in mine:
        key = c.message_id or f"{c.from_user_email_address}|{c.subject}"
        entry = messages.setdefault(
            key,
            {"message_id": c.message_id, "subject": c.subject, "from": c.from_user_email_address, "clicks": 0},
        )
        entry["clicks"] += 1
    dates = [c.date for c in mine if c.date]
    return {
        "clicks": len(mine),
        "blocked_clicks": sum(1 for c in mine if (c.action or "").lower() == "block"),
        "malicious_clicks": sum(1 for c in mine if (c.scan_result or "").lower() == "malicious"),
        "clickers_total": len(users),
        "clickers": [{"user": user, "clicks": n} for user, n in users.most_common(SHOWN)],
        "clickers_more": max(0, len(users) - SHOWN),
        "messages_total": len(messages),
        "messages": list(messages.values())[:SHOWN],
        "first_click": _when(min(dates)) if dates else "",
        "last_click": _when(max(dates)) if dates else "",
    }


def _flag(requested: str, existing: str) -> str:
    if requested == existing:
        return "already blocked" if existing == "block" else "already permitted"
    return "conflicts: permitted" if existing == "permit" else "conflicts: blocked"


def _parent_domains(host: str) -> list[str]:
    """``host`` and the domains above it (a.b.example.com, b.example.com, example.com): a domain entry
    for any of them covers the host, and Mimecast's listing matches the name asked for only."""
    labels = host.split(".")
    return [".".join(labels[i:]) for i in range(max(1, len(labels) - 1))]


def _listed_for(client, host: str, cache: dict, preview: dict) -> list:
    """The managed URLs listed for ``host`` and its parent domains, each read once per preview."""
    entries: dict[str, object] = {}
    for name in _parent_domains(host):
        if name not in cache:
            section = guarded(lambda name=name: _managed_for(client, name))
            if not section.ok:
                preview["errors"].append(f"The managed URLs for {name} could not be read: {section.problem}")
                cache[name] = []
                continue
            found, complete = section.value
            if not complete:
                preview["notes"].append(f"Mimecast lists more managed URLs for {name} than the preview read.")
            cache[name] = found
        entries.update((e.id, e) for e in cache[name])
    return list(entries.values())


def _existing_for(client, url: str, action: str, cache: dict, preview: dict) -> list[dict]:
    """The managed URLs that already cover ``url``, each flagged against the requested action; their
    warnings go on the preview."""
    existing = []
    for entry in _listed_for(client, _parts(url)[0], cache, preview):
        if not _covers(entry, url) and not _same_address(entry, url):
            continue
        row = {**_entry(entry), "flag": _flag(action, entry.action), "same_address": _same_address(entry, url)}
        existing.append(row)
        verb = "blocks" if entry.action == "block" else "permits"
        if row["same_address"] and entry.action != action:
            preview["warnings"].append(
                f"{url}: a managed URL already {verb} {row['target']}; Mimecast refuses a second entry for "
                "the same address, so that entry must be removed first or this URL will fail."
            )
        elif entry.action != action:
            preview["warnings"].append(
                f"{url}: conflicts with a managed URL that {verb} {row['target']} ({entry.match_type} match)."
            )
        else:
            preview["warnings"].append(
                f"{url}: already {row['flag'].split()[-1]} by the managed URL {row['target']} "
                f"({entry.match_type} match)."
            )
    return existing


def preview_manage_url(client, req) -> dict:
    params = req.params or {}
    action, match_type = params.get("action", "block"), params.get("match_type", "explicit")
    urls = list(params.get("urls") or [])
    preview: dict = {"errors": [], "warnings": [], "notes": [], "urls": [], "window_days": LOG_DAYS}
    now = timezone.now()
    logs = guarded(lambda: _read_clicks(client, now))
    if logs.ok:
        clicks, pages, capped = logs.value
        preview.update(log_pages=pages, log_capped=capped, clicks_read=len(clicks))
        if capped:
            preview["notes"].append(
                f"Only the newest {len(clicks)} clicks of the last {LOG_DAYS} days were read ({pages} pages of "
                "the URL Protect logs): the click counts below may be higher in fact."
            )
    else:
        clicks = []
        preview["errors"].append(f"The URL Protect logs could not be read: {logs.problem}")
    cache: dict = {}
    for url in urls:
        row = {"url": url, "host": _parts(url)[0], **_click_summary(clicks, url, match_type)}
        row["existing"] = _existing_for(client, url, action, cache, preview)
        preview["urls"].append(row)
    preview["clicks_total"] = sum(row["clicks"] for row in preview["urls"])
    if logs.ok and not preview["clicks_total"]:
        where = "the clicks read" if preview["log_capped"] else f"the last {LOG_DAYS} days"
        preview["notes"].append(f"Nobody clicked {'these URLs' if len(urls) > 1 else 'this URL'} in {where}.")
    return preview


def preview_remove_managed_url(client, req) -> dict:
    """The managed URLs to delete as Mimecast lists them now."""
    params = req.params or {}
    ids = list(params.get("managed_url_ids") or [])
    preview: dict = {"errors": [], "warnings": [], "notes": [], "entries": []}
    listing = guarded(lambda: _all_managed(client))
    if not listing.ok:
        preview["errors"].append(f"The managed URLs could not be read: {listing.problem}")
        preview["entries"] = [{"id": i, "found": None} for i in ids]
        return preview
    entries, complete = listing.value
    by_id = {e.id: e for e in entries}
    for managed_id in ids:
        entry = by_id.get(managed_id)
        preview["entries"].append({**_entry(entry), "found": True} if entry else {"id": managed_id, "found": False})
        if entry is None and complete:
            preview["warnings"].append(f"Mimecast no longer lists the managed URL {managed_id}: nothing to delete.")
        elif entry is None:
            preview["warnings"].append(f"The managed URL {managed_id} was not among those the preview read.")
    if not ids:
        preview["warnings"].append(
            "Nothing to delete: the request this undoes created no managed URL (the entries it found were "
            "there before it, and stay)."
        )
    if req.restore_of_id:
        preview["notes"].append(f"Undoes request #{req.restore_of_id}.")
    return preview


# ---------------------------------------------------------------------------------- execution


def _comment(req) -> str:
    """The entry's comment: the request's marker first (so a cut never loses it), then why."""
    params = req.params or {}
    why = " ".join((params.get("comment") or req.reason or "").split())
    return f"{req.marker} {why}".strip()[:COMMENT_MAX]


def _result(entry, req) -> dict:
    return {"mimecast_id": entry.id, **_entry(entry), "ours": req.marker in (entry.comment or "")}


def confirm_manage_url(client, req, item) -> dict | None:
    """The entry for this item's URL with the requested action, one carrying the request's marker
    first; None when Mimecast lists none."""
    params = req.params or {}
    action, match_type = params.get("action"), params.get("match_type", "explicit")
    host, _, _ = _parts(item.key)
    entries, complete = _managed_for(client, host)
    matching = [
        e
        for e in entries
        if e.action == action and (_same_address(e, item.key) or (match_type == "domain" and _covers(e, item.key)))
    ]
    matching.sort(key=lambda e: req.marker not in (e.comment or ""))
    if matching:
        return _result(matching[0], req)
    if not complete:
        raise MimecastApiError(f"Mimecast lists too many managed URLs for {host} to tell whether {item.key} is there.")
    return None


def do_manage_url(client, req, item) -> dict:
    params = req.params or {}
    action = params.get("action")
    try:
        entry = client.create_managed_url(
            url=item.key,
            action=action,
            match_type=params.get("match_type", "explicit"),
            comment=_comment(req),
            disable_rewrite=bool(params.get("disable_rewrite")),
            disable_user_awareness=bool(params.get("disable_user_awareness")),
            disable_log_click=bool(params.get("disable_log_click")),
        )
    except MimecastAlreadyExists as refusal:
        # Either an earlier attempt of this request created it (its answer was lost), or someone else
        # did: the same action is the effect asked for; another action is a conflict a person resolves.
        found = confirm_manage_url(client, req, item)
        if found is None:
            raise ItemFailed(
                f"Mimecast already has a managed URL for {item.key} that does not {action} it; remove that "
                "entry first, then request this again."
            ) from refusal
        return {**found, "adopted": True}
    return _result(entry, req)


def items_manage_url(req) -> list[tuple[str, str]]:
    return [(url, url[:300]) for url in (req.params or {}).get("urls") or []]


def undo_manage_url(req) -> dict:
    """Delete what this request created; an entry it only found there (someone else's) stays."""
    done = req.items.filter(state=RemediationItem.State.DONE).order_by("position")
    ours = [i for i in done if i.mimecast_id and (i.result or {}).get("ours", True)]
    return {"managed_url_ids": [i.mimecast_id for i in ours], "urls": [i.key for i in ours]}


def items_remove_managed_url(req) -> list[tuple[str, str]]:
    params = req.params or {}
    ids = list(params.get("managed_url_ids") or [])
    urls = list(params.get("urls") or [])
    labels = urls if len(urls) == len(ids) else ids
    return [(managed_id, (label or managed_id)[:300]) for managed_id, label in zip(ids, labels, strict=True)]


def _url_of(req, item) -> str:
    params = req.params or {}
    ids, urls = list(params.get("managed_url_ids") or []), list(params.get("urls") or [])
    return urls[ids.index(item.key)] if item.key in ids and len(urls) == len(ids) else ""


def confirm_remove_managed_url(client, req, item) -> dict | None:
    """{} once Mimecast no longer lists the entry, else None."""
    url = _url_of(req, item)
    entries, complete = _managed_for(client, _parts(url)[0]) if url else _all_managed(client)
    if any(e.id == item.key for e in entries):
        return None
    if not complete:
        raise MimecastApiError("Mimecast lists too many managed URLs to tell whether this one is gone.")
    return {}


def do_remove_managed_url(client, req, item) -> dict:
    try:
        client.delete_managed_url(item.key)
    except MimecastNotFound:
        # Gone already (deleted by hand, or by an attempt whose answer was lost): the effect is there.
        return {"already_gone": True}
    return {}


kind = family("managed_url", request_capability="request_block")
register(
    kind(
        Kind.MANAGE_URL,
        "Block or permit a URL",
        "ManageUrlForm",
        preview=preview_manage_url,
        items=items_manage_url,
        do_item=do_manage_url,
        confirm_item=confirm_manage_url,
        undo_kind=Kind.REMOVE_MANAGED_URL,
        undo_params=undo_manage_url,
        break_glass=True,
    ),
    kind(
        Kind.REMOVE_MANAGED_URL,
        "Remove a managed URL",
        "RemoveManagedUrlForm",
        preview=preview_remove_managed_url,
        items=items_remove_managed_url,
        do_item=do_remove_managed_url,
        confirm_item=confirm_remove_managed_url,
        irreversible="Removing a managed URL is not undone from here: to manage the URL again, request it anew.",
    ),
)
