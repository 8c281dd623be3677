"""The storages that serve static files, with each file's URL worked out once per process.

Every page names ten or more static files, and working out a URL (quoting the name, joining it to
STATIC_URL and, in production, finding the hashed name in the manifest) costs a few microseconds
each time: on the sign-in page that was a tenth of the server's time. A file's URL cannot change
while the process runs (the manifest is read at start-up, and without one the URL is the name
under STATIC_URL), so each storage remembers the URLs it gave. A changed STATIC_URL or STORAGES
setting makes Django build a new storage, which starts with an empty memory.
"""

from django.contrib.staticfiles.storage import StaticFilesStorage as _StaticFilesStorage
from whitenoise.storage import CompressedManifestStaticFilesStorage as _ManifestStorage


class _RemembersUrls:
    def url(self, name, *args, **kwargs):
        if args or kwargs:
            # Only the plain question is remembered: `force` (collectstatic asking for a hashed name
            # while it writes the manifest) is answered afresh each time.
            return super().url(name, *args, **kwargs)
        urls = self.__dict__.setdefault("_remembered_urls", {})
        try:
            return urls[name]
        except KeyError:
            # A missing file raises here (the manifest is strict), and nothing is remembered.
            url = urls[name] = super().url(name)
            return url


class StaticFilesStorage(_RemembersUrls, _StaticFilesStorage):
    """Files under STATIC_URL by their own names (development, the demo and the tests)."""


class ManifestStaticFilesStorage(_RemembersUrls, _ManifestStorage):
    """Production: hashed, compressed copies listed in a manifest, served by WhiteNoise."""
