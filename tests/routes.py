"""The portal's page routes as the URL resolver holds them, for the tests that visit every one."""

from django.urls import URLPattern, URLResolver, get_resolver

# The REST API answers integration tokens, not browser sessions: its routes are checked against its
# own schema (tests/api/test_api_contract.py) and per token scope (tests/api/test_api_permissions.py).
TOKEN_NAMESPACES = {"api-v1"}


def page_routes(patterns=None, namespace=""):
    """(name as reverse() takes it, or None for an unnamed route; pattern) for every page route:
    names inside a namespaced include get its prefix."""
    for entry in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(entry, URLResolver):
            if entry.namespace in TOKEN_NAMESPACES:
                continue
            inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from page_routes(entry.url_patterns, inner)
        elif isinstance(entry, URLPattern):
            yield (namespace + entry.name if entry.name else None), entry
