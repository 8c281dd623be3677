"""The signed-in session's row kept current while it is used ("my sessions" shows when each was last
seen), and a session whose row has ended refused even if its store entry somehow survived; and the
session store itself (SESSION_ENGINE when a shared cache is configured)."""

import logging

from django.contrib.auth.models import AnonymousUser
from django.contrib.sessions.backends import cached_db

from investigations.accounts.services import user_session_seen
from investigations.core.context import current_context

logger = logging.getLogger(__name__)


class SessionStore(cached_db.SessionStore):
    """Django's cached_db store (read from the cache every web process shares, written through to the
    table that revocation and "my sessions" read), without its table write on every request.

    SESSION_SAVE_EVERY_REQUEST saves every session on every request to push the idle timeout back.
    Here an unchanged session renews only its cache entry, which is where it is read from; the table
    row is written when the data changes, and SessionActivityMiddleware changes a signed-in session at
    least once a minute, so the table's expiry trails the cache's by at most a minute. A cache that
    fails is read past (the table answers) and never fails the request; a revoked session whose cache
    entry survived such a failure is refused by SessionActivityMiddleware within the minute."""

    def load(self):
        try:
            data = self._cache.get(self.cache_key)
        except Exception:  # the cache server is down (or refused the key): the table knows every session
            logger.warning("session cache unavailable; reading the session from the database", exc_info=True)
            data = None
        if data is not None:
            return data
        row = self._get_session_from_db()
        if not row:
            return {}
        data = self.decode(row.session_data)
        self._cache_set(data, self.get_expiry_age(expiry=row.expire_date))
        return data

    def exists(self, session_key):
        try:
            if session_key and self.cache_key_prefix + session_key in self._cache:
                return True
        except Exception:
            logger.warning("session cache unavailable; asking the database alone", exc_info=True)
        return super(cached_db.SessionStore, self).exists(session_key)

    def save(self, must_create=False):
        if must_create or self.modified or self.session_key is None:
            super(cached_db.SessionStore, self).save(must_create=must_create)
        self._cache_set(self._session, self.get_expiry_age())

    def delete(self, session_key=None):
        super(cached_db.SessionStore, self).delete(session_key)
        key = session_key or self.session_key
        if key is None:
            return
        try:
            self._cache.delete(self.cache_key_prefix + key)
        except Exception:
            logger.warning("session cache unavailable; a deleted session may be read from it", exc_info=True)

    def _cache_set(self, data, seconds):
        try:
            self._cache.set(self.cache_key, data, seconds)
        except Exception:
            logger.warning("session cache unavailable; the session is kept in the database only", exc_info=True)


class SessionActivityMiddleware:
    """After the session, authentication and messages middleware. Most requests only read a timestamp
    kept in the session; the row is written at most once a minute per session."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            context = current_context()
            alive = user_session_seen(
                session=request.session, user=user, ip=context.client_ip, user_agent=context.user_agent
            )
            if not alive:
                # Revoked or signed out elsewhere: this request is anonymous, like any later one.
                request.session.flush()
                request.user = AnonymousUser()
        return self.get_response(request)
