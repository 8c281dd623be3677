"""The one way to build a portal URL with a query string: a named page (``portal_url``), or the page
being shown with some parameters changed (``page_url``, for pagers, sorting and exports)."""

from django.http import QueryDict
from django.urls import reverse
from django.utils.encoding import escape_uri_path
from django.utils.http import url_has_allowed_host_and_scheme


def with_query(path, query=None):
    """``path`` with ``query`` (a mapping, lists allowed, or a QueryDict) as its query string."""
    if isinstance(query, QueryDict):
        encoded = query.urlencode()
    else:
        params = QueryDict(mutable=True)
        for key, value in (query or {}).items():
            params.setlist(key, [str(v) for v in value] if isinstance(value, list | tuple) else [str(value)])
        encoded = params.urlencode()
    return f"{path}?{encoded}" if encoded else path


def portal_url(name, /, *args, **query):
    """A portal URL with a query string, for pivots from one page to another."""
    return with_query(reverse(name, args=args), query)


def page_url(request, *, path=None, drop=(), **changes):
    """The current page with some query parameters changed: a false value, or a name in ``drop``,
    removes the parameter; the rest of the query is kept as it came. ``path`` takes the same query to
    another address (the export of this search)."""
    params = request.GET.copy()
    for key in (*drop, *changes):
        params.pop(key, None)
    for key, value in changes.items():
        if value:
            params[key] = str(value)
    return with_query(path or escape_uri_path(request.path), params)


def pager_links(request, next_token, previous_token=""):
    """The links of a paged result (core/_pager.html): first page when not on it, previous, next."""
    return {
        "next_url": page_url(request, page=next_token) if next_token else "",
        "previous_url": page_url(request, page=previous_token) if previous_token else "",
        "first_url": page_url(request, page="") if request.GET.get("page") else "",
    }


def safe_next(request, candidate, default):
    """Where to send the user back to: ``candidate`` when it is a path on this site (never another
    host, a scheme, ``//host`` or an unprintable character), else ``default``. Always a URL, never a
    view name, so it can go straight into a redirect."""
    candidate = candidate if isinstance(candidate, str) else ""
    if (
        candidate.startswith("/")
        and not candidate.startswith("//")
        and candidate.isprintable()
        and url_has_allowed_host_and_scheme(candidate, {request.get_host()}, request.is_secure())
    ):
        return candidate
    return default
