"""Encryption at rest for Mimecast credentials.

FIELD_ENCRYPTION_KEYS is a comma list of Fernet keys: the first encrypts, all decrypt, so a key is
rotated by putting a new one first and running `manage.py rotate_encryption_key`."""

import json

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class DecryptionFailed(Exception):
    pass


def _fernet():
    keys = settings.FIELD_ENCRYPTION_KEYS
    if not keys:
        raise ImproperlyConfigured("FIELD_ENCRYPTION_KEYS is not set; stored credentials cannot be encrypted.")
    try:
        return MultiFernet([Fernet(key.encode()) for key in keys])
    except ValueError:
        raise ImproperlyConfigured("FIELD_ENCRYPTION_KEYS must hold Fernet keys (Fernet.generate_key()).") from None


def encrypt_json(values):
    return _fernet().encrypt(json.dumps(values, sort_keys=True).encode()).decode()


def decrypt_json(token):
    if not token:
        return {}
    try:
        return json.loads(_fernet().decrypt(token.encode()))
    except InvalidToken:
        raise DecryptionFailed(
            "Stored credentials cannot be decrypted with FIELD_ENCRYPTION_KEYS (was a key removed?)."
        ) from None


def rotate(token):
    return _fernet().rotate(token.encode()).decode() if token else token


def mask(secret):
    """Enough to recognise a credential, never enough to use it."""
    if not secret:
        return ""
    return "•" * 8 + secret[-4:] if len(secret) > 8 else "•" * 8
