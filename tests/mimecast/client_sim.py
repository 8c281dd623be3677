"""Helpers for client tests against the simulator over loopback HTTP (not a test module)."""

from __future__ import annotations

from urllib.parse import urlsplit

from investigations.mimecast import MimecastClient, MimecastConfig


def start_simulator(**kwargs):
    from investigations.mimecast.simulator import SimulatorServer

    srv = SimulatorServer(host="127.0.0.1", port=0, seed=1, rate_limit_per_minute=None, latency_ms=0, **kwargs)
    srv.start()
    return srv


def creds():
    from investigations.mimecast.simulator import SIM_CREDENTIALS

    return SIM_CREDENTIALS


def sim_config(srv, mode: str = "login", **overrides) -> MimecastConfig:
    """mode: "login" (Basic-Cloud), "ad" (Basic-AD), "keys" (static keys) or "oauth" (API 2.0)."""
    c = creds()
    host = urlsplit(srv.base_url).hostname
    common = dict(
        base_url=srv.base_url,
        allowed_hosts=(host,),
        connect_timeout=2.0,
        read_timeout=5.0,
        max_retries=3,
        backoff_base=0.01,
        backoff_max=0.05,
    )
    if mode == "oauth":
        settings = dict(api_version=2, client_id=c.client_id, client_secret=c.client_secret)
    elif mode == "keys":
        settings = dict(app_id=c.app_id, app_key=c.app_key, access_key=c.access_key, secret_key=c.secret_key)
    elif mode == "ad":
        settings = dict(
            app_id=c.app_id, app_key=c.app_key, auth_type="Basic-AD", username=c.ad_username, password=c.ad_password
        )
    else:
        settings = dict(
            app_id=c.app_id, app_key=c.app_key, auth_type="Basic-Cloud", username=c.username, password=c.password
        )
    return MimecastConfig(**{**common, **settings, **overrides})


def sim_client(srv, mode: str = "login", **overrides) -> MimecastClient:
    return MimecastClient(sim_config(srv, mode, **overrides))


def call_value(call, name):
    return call[name] if isinstance(call, dict) else getattr(call, name)


def calls_to(srv, path):
    return [c for c in list(srv.calls) if call_value(c, "path") == path]
