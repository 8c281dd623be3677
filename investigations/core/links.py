from urllib.parse import urlencode

from django.urls import reverse


def portal_url(name, *args, **query):
    """A portal URL with a query string, for pivots from one page to another."""
    url = reverse(name, args=args)
    return f"{url}?{urlencode(query, doseq=True)}" if query else url
