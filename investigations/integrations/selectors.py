from investigations.models import IntegrationToken


def tokens_for_admin():
    """Every token, newest first, with who made and revoked it (the page shows both)."""
    return IntegrationToken.objects.select_related("created_by", "revoked_by").order_by("-created_at", "-id")


def token_get(token_id):
    return IntegrationToken.objects.filter(pk=token_id).first()
