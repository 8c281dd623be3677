"""What the connection tests share."""


def keys_form(base_url, **overrides):
    """The connection form's fields for API 1.0 with the simulator's static keys, at base_url."""
    from mimecast_simulator import SIM_CREDENTIALS as sim

    values = {
        "api_version": "1",
        "base_url": base_url,
        "auth_type": "",
        "app_id": sim.app_id,
        "app_key": sim.app_key,
        "access_key": sim.access_key,
        "secret_key": sim.secret_key,
        "verify_ssl": "on",
        "active": "on",
    }
    values.update(overrides)
    return values
