"""The signed-in session's row kept current while it is used ("my sessions" shows when each was last
seen), and a session whose row has ended refused even if its store entry somehow survived."""

from django.contrib.auth.models import AnonymousUser

from investigations.accounts.services import user_session_seen
from investigations.core.context import current_context


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
