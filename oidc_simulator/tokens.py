"""The provider's signing key, its JWKS, and ID tokens: good ones, and on demand each bad kind a relying
party must refuse."""

from __future__ import annotations

import base64
import json
import secrets

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

ID_TOKEN_LIFETIME_S = 300
# Each names what is wrong with the ID token it produces; the relying party must refuse every one.
FAULTS = (
    "wrong_aud",
    "wrong_iss",
    "wrong_nonce",
    "missing_nonce",
    "bad_signature",
    "alg_none",
    "expired",
    "missing_auth_time",
)


def _new_rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Signer:
    """One RS256 key, published in the JWKS under ``kid``."""

    def __init__(self):
        self.key = _new_rsa_key()
        self.kid = secrets.token_hex(8)
        # An impostor's key under the same kid: its signatures look right and verify against nothing.
        self._impostor: rsa.RSAPrivateKey | None = None

    def jwks(self) -> dict:
        jwk = jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key(), as_dict=True)
        return {"keys": [{**jwk, "kid": self.kid, "use": "sig", "alg": "RS256"}]}

    def id_token(self, claims: dict, fault: str | None = None, *, issuer: str, now: int) -> str:
        """``claims`` as the provider means them; ``fault`` (one of FAULTS, or None) spoils exactly one
        thing. ``issuer``/``now`` are what the spoiling needs (a wrong issuer, a time long past)."""
        claims = dict(claims)
        if fault == "wrong_aud":
            claims["aud"] = "some-other-client"
        elif fault == "wrong_iss":
            claims["iss"] = issuer.rstrip("/") + "/impostor"
        elif fault == "wrong_nonce":
            claims["nonce"] = secrets.token_urlsafe(16)
        elif fault == "missing_nonce":
            claims.pop("nonce", None)
        elif fault == "missing_auth_time":
            claims.pop("auth_time", None)
        elif fault == "expired":
            # Well past any clock-skew leeway a relying party allows.
            claims.update(iat=now - 3600, exp=now - 3600 + ID_TOKEN_LIFETIME_S)
        elif fault is not None and fault not in FAULTS:
            raise ValueError(f"unknown fault {fault!r}")
        if fault == "alg_none":
            header = _b64url(json.dumps({"alg": "none", "typ": "JWT"}).encode())
            return f"{header}.{_b64url(json.dumps(claims).encode())}."
        key = self.key
        if fault == "bad_signature":
            self._impostor = self._impostor or _new_rsa_key()
            key = self._impostor
        return jwt.encode(claims, key, algorithm="RS256", headers={"kid": self.kid})
