"""Render a page, or for an htmx request the {% partialdef %} partial it swaps in; redirect either way.

A partial always answers 200: htmx swaps only successful answers, and a form with its errors must
replace itself. A boosted request wants the whole page, like a plain one.
"""

from django.shortcuts import redirect, render
from django_htmx.http import HttpResponseClientRedirect


def _partial_for(request, partial):
    if not request.htmx or request.htmx.boosted or not partial:
        return None
    if isinstance(partial, dict):
        # The partial depends on which element the page asked htmx to swap.
        return partial.get(request.htmx.target)
    return partial


def render_page(request, template, context=None, *, partial=None, status=200):
    """``partial``: the partial's name, or {hx-target id: partial name} when one page has several."""
    name = _partial_for(request, partial)
    if name:
        return render(request, f"{template}#{name}", context)
    return render(request, template, context, status=status)


def client_redirect(request, url):
    """Where to go after a form: htmx follows HX-Redirect (204: nothing to swap), a browser a 302."""
    if request.htmx:
        return HttpResponseClientRedirect(url, status=204)
    return redirect(url)
