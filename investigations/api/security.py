"""Who is calling the API: an integration token, presented as `Authorization: Bearer <token>`.

`token_auth(scope)` is what a router or an operation passes as `auth=`: it finds the live token,
checks it holds the scope, and makes the token's service identity the request's user, so the
services the pages use see it as the actor and audit it under its own name.
"""

from django.core.exceptions import PermissionDenied
from ninja.security import HttpBearer

from investigations.integrations.services import token_for_secret


class TokenAuth(HttpBearer):
    def __init__(self, scope):
        super().__init__()
        self.scope = scope

    def authenticate(self, request, token):
        found = token_for_secret(token)
        if found is None:
            return None
        if self.scope not in found.scopes:
            raise PermissionDenied(f"This token lacks the {self.scope!r} scope.")
        request.user = found.service_user
        request.integration_token = found
        return found


def token_auth(scope):
    return TokenAuth(scope)
