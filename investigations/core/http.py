"""What every feature's views answer alike."""

from django.http import Http404


def found_or_404(found, message):
    """``found`` (what a selector returned), or a 404 saying ``message`` when it found nothing (None)."""
    if found is None:
        raise Http404(message)
    return found
