"""Plain HTTP to the simulator for its own tests (not a test module).

Signatures are computed here from Mimecast's published signing recipe, not with the client's or the
simulator's code, so these tests check the simulator against the contract independently."""

import base64
import hashlib
import hmac
import uuid
from datetime import UTC, datetime

import requests

from mimecast_simulator import SIM_CREDENTIALS as C


def mc_date(dt=None):
    return (dt or datetime.now(UTC)).strftime("%a, %d %b %Y %H:%M:%S UTC")


def signature(secret_key, date, req_id, path, app_key=C.app_key):
    mac = hmac.new(base64.b64decode(secret_key), f"{date}:{req_id}:{path}:{app_key}".encode(), hashlib.sha1)
    return base64.b64encode(mac.digest()).decode()


def signed_headers(
    path, access_key=C.access_key, secret_key=C.secret_key, app_id=C.app_id, app_key=C.app_key, date=None
):
    date = date or mc_date()
    req_id = str(uuid.uuid4())
    return {
        "Authorization": f"MC {access_key}:{signature(secret_key, date, req_id, path, app_key)}",
        "x-mc-date": date,
        "x-mc-req-id": req_id,
        "x-mc-app-id": app_id,
        "Content-Type": "application/json",
        "Accept": "application/json",
    }


def post(srv, path, data=None, meta=None, timeout=10, **sign_kw):
    """A signed API 1.0 call with the standard envelope. Redirects are not followed (a test sees them)."""
    body = {"data": data if data is not None else []}
    if meta:
        body["meta"] = meta
    return requests.post(
        srv.base_url + path,
        json=body,
        headers=signed_headers(path, **sign_kw),
        timeout=timeout,
        allow_redirects=False,
    )


def token_response(srv):
    """The API 2.0 token endpoint's answer to the simulator's client credentials."""
    return requests.post(
        srv.base_url + "/oauth/token",
        data={"client_id": C.client_id, "client_secret": C.client_secret, "grant_type": "client_credentials"},
        timeout=10,
    )
