from investigations.core.roles import CAPABILITIES, user_roles


def roles(request):
    held = user_roles(request.user) if hasattr(request, "user") else frozenset()
    return {
        "user_roles": sorted(held),
        "can": {capability: bool(held & allowed) for capability, allowed in CAPABILITIES.items()},
    }
