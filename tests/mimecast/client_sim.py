"""Helpers for client tests against the simulator over loopback HTTP (not a test module)."""

from __future__ import annotations

from urllib.parse import urlsplit

from investigations.mimecast import MimecastClient, MimecastConfig


def start_simulator(**kwargs):
    from mimecast_simulator import SimulatorServer

    srv = SimulatorServer(host="127.0.0.1", port=0, seed=1, rate_limit_per_minute=None, latency_ms=0, **kwargs)
    srv.start()
    return srv


def creds():
    from mimecast_simulator import SIM_CREDENTIALS

    return SIM_CREDENTIALS


def sim_config(srv, mode: str = "login", **overrides) -> MimecastConfig:
    """mode: "login" (Basic-Cloud), "ad" (Basic-AD), "keys" (static keys) or "oauth" (API 2.0)."""
    c = creds()
    host = urlsplit(srv.base_url).netloc  # host:port: a bare host would allow port 443 only
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


def self_signed_cert(directory) -> tuple[str, str]:
    """Write a throwaway self-signed certificate for 127.0.0.1 (for the simulator's TLS mode);
    returns (certfile, keyfile). No client trusts it unless told to skip verification."""
    from saml_simulator.keys import key_pair

    keyfile, certfile = key_pair(directory, "sim", "mimecast-simulator.test", ip_address="127.0.0.1")
    return certfile, keyfile


def serve_download(srv, path, content, filename):
    """The simulator's next answer on `path`: `content` as a download named `filename`, as given (a
    hostile name reaches the client as a real server could send it)."""
    srv.faults.add(
        path=path,
        kind="raw",
        content=content,
        content_type="application/octet-stream",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        count=1,
    )
