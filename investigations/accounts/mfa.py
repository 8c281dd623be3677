"""Two-step sign-in for local accounts: an authenticator app (TOTP, django-otp's TOTPDevice), passkeys
(django-otp-webauthn's credentials) and recovery codes (django-otp's StaticDevice, each code good
once). Single sign-on users are exempt: the provider asks them for its own second factor.

Every enrolment and removal is audited here, in the transaction of the change. A code is never
logged nor put in an audit event: events name the device and the method only."""

import base64
import hashlib
import hmac
import secrets
from urllib.parse import quote

import segno
from django.conf import settings
from django.db import transaction
from django.http.request import split_domain_port
from django.utils import timezone
from django_otp.oath import TOTP
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_otp_webauthn.helpers import WebAuthnHelper
from django_otp_webauthn.models import WebAuthnCredential

from investigations.accounts.sso_stepup import sso_session
from investigations.audit.services import audit_record
from investigations.core.roles import user_roles
from investigations.models import AuditOutcome

# How a second factor was given: the session's proof method, and the decision's audit event, say so.
TOTP_METHOD = "totp"
RECOVERY_METHOD = "recovery"
PASSKEY_METHOD = "passkey"
SECOND_FACTORS = frozenset((TOTP_METHOD, RECOVERY_METHOD, PASSKEY_METHOD))

# The audit actions of two-step sign-in.
MFA_DEVICE_ADDED = "auth.mfa_device_added"
MFA_DEVICE_REMOVED = "auth.mfa_device_removed"
MFA_RECOVERY_CODES_CREATED = "auth.mfa_recovery_codes_created"
MFA_VERIFIED = "auth.mfa_verified"
MFA_FAILED = "auth.mfa_failed"

RECOVERY_CODE_COUNT = 10
# Ten characters from an alphabet without look-alikes (no 0/O, 1/l/I): about 50 bits each.
_RECOVERY_ALPHABET = "23456789abcdefghjkmnpqrstuvwxyz"
RECOVERY_CODE_LENGTH = 10
# Bounds of what a form may submit as a code: longer input is refused before any device reads it.
CODE_MAX_LENGTH = 32


class MfaRefused(ValueError):
    pass


class PortalWebAuthnHelper(WebAuthnHelper):
    """Passkeys belong to the host the browser sees (ALLOWED_HOSTS has vetted it), and an assertion
    must come from this portal's own origin: the demo's http://localhost and a deployment's https
    name alike, without a setting to keep in step."""

    def get_relying_party_domain(self):
        return split_domain_port(self.request.get_host())[0]

    def get_relying_party_name(self):
        return settings.MFA_ISSUER

    def get_allowed_origins(self):
        return [f"{self.request.scheme}://{self.request.get_host()}"]


# ------------------------------------------------------------------------------------------ reads


def totp_devices(user, *, confirmed=True):
    return TOTPDevice.objects.filter(user=user, confirmed=confirmed)


def passkeys(user):
    return WebAuthnCredential.objects.filter(user=user, confirmed=True)


def recovery_codes_left(user):
    return StaticToken.objects.filter(device__user=user, device__confirmed=True).count()


def user_has_mfa(user):
    """Whether `user` has a second factor that is not a recovery code: an authenticator app or a
    passkey. Recovery codes alone are a way back in, not an enrolment."""
    if not getattr(user, "is_authenticated", False):
        return False
    return totp_devices(user).exists() or passkeys(user).exists()


def user_has_passkey(user):
    return getattr(user, "is_authenticated", False) and passkeys(user).exists()


def mfa_required(user):
    """Whether `user`'s roles require two-step sign-in (MFA_REQUIRED_ROLES)."""
    return bool(set(user_roles(user)) & set(settings.MFA_REQUIRED_ROLES))


def mfa_missing(request):
    """True when this signed-in user must have two-step sign-in and has none: they may not decide.
    A single sign-on session is exempt (the provider's MFA): an OpenID Connect session, or any session
    of a user without a usable password, which only a provider (OpenID Connect or SAML) signs in. So is
    an integration identity, which never decides."""
    user = request.user
    if not user.is_authenticated or getattr(user, "is_integration", False):
        return False
    if sso_session(request.session) or not user.has_usable_password():
        return False
    return mfa_required(user) and not user_has_mfa(user)


def mfa_summary(user):
    """What the security page lists."""
    return {
        "totp": list(totp_devices(user).order_by("id")),
        "passkeys": list(passkeys(user).order_by("id")),
        "recovery_left": recovery_codes_left(user),
        "has_mfa": user_has_mfa(user),
        "required": mfa_required(user),
    }


# ------------------------------------------------------------------------------- verification


def normalise_code(code):
    """A typed code as the devices compare it: spaces and dashes dropped, lower case; "" when it
    cannot be a code."""
    if not isinstance(code, str) or len(code) > CODE_MAX_LENGTH:
        return ""
    return "".join(code.split()).replace("-", "").lower()


def mfa_code_verify(*, user, code):
    """Check a code typed as a second factor: six digits against the user's authenticator apps, anything
    else against their recovery codes (used up when it matches). Returns the method it proved, or
    None. django-otp's own throttling and drift apply; the devices are locked for the check."""
    token = normalise_code(code)
    if not token:
        return None
    with transaction.atomic():
        if token.isdigit() and len(token) in (6, 8):
            for device in TOTPDevice.objects.select_for_update().filter(user=user, confirmed=True):
                if device.verify_token(token):
                    return TOTP_METHOD
            return None
        digest = _recovery_digest(token)
        for device in StaticDevice.objects.select_for_update().filter(user=user, confirmed=True):
            if device.verify_token(digest):
                return RECOVERY_METHOD
    return None


def mfa_verification_record(*, user, method, ok, purpose):
    """The audit event of a second factor given (or refused): the method and what for, never the code."""
    with transaction.atomic():
        audit_record(
            actor=user,
            action=MFA_VERIFIED if ok else MFA_FAILED,
            target=("user", user.pk),
            outcome=AuditOutcome.SUCCESS if ok else AuditOutcome.FAILURE,
            data={"method": method, "purpose": purpose},
        )


# ----------------------------------------------------------------------------------- enrolment


def totp_device_start(*, user):
    """A new, unconfirmed authenticator-app device (any earlier unconfirmed one replaced): it counts only
    once a code from it is typed back."""
    with transaction.atomic():
        TOTPDevice.objects.filter(user=user, confirmed=False).delete()
        return TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=False)


def totp_secret_base32(device):
    return base64.b32encode(device.bin_key).decode("ascii").rstrip("=")


def totp_provisioning_uri(device):
    issuer = settings.MFA_ISSUER
    label = quote(f"{issuer}:{device.user.get_username()}")
    return (
        f"otpauth://totp/{label}?secret={totp_secret_base32(device)}&issuer={quote(issuer)}"
        f"&digits={device.digits}&period={device.step}&algorithm=SHA1"
    )


def totp_qr_svg(device):
    """The provisioning URI as an inline SVG (no script, no style attribute the CSP would refuse)."""
    return segno.make(totp_provisioning_uri(device), error="m").svg_inline(scale=4, omitsize=False, dark="#111")


def totp_code_at(device, at):
    """The code `device` shows at `at` (a datetime): what the demo prints and the tests type."""
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = at.timestamp()
    return f"{totp.token():0{device.digits}d}"


def _device_added_record(*, actor, user, method, device):
    audit_record(
        actor=actor,
        action=MFA_DEVICE_ADDED,
        target=("user", user.pk),
        data={"method": method, "device": f"{method}:{device.pk}", "name": device.name},
    )


def totp_device_confirm(*, actor, device_id, code):
    """Confirm the unconfirmed device with a code from the app; audited. Raises MfaRefused."""
    token = normalise_code(code)
    with transaction.atomic():
        device = TOTPDevice.objects.select_for_update().filter(user=actor, pk=device_id, confirmed=False).first()
        if device is None:
            raise MfaRefused("This set-up has expired or was already confirmed; start again.")
        if not (token.isdigit() and device.verify_token(token)):
            raise MfaRefused("That code is not correct: type the six digits the app shows now.")
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        _device_added_record(actor=actor, user=actor, method=TOTP_METHOD, device=device)
    return device


def totp_device_create_confirmed(*, actor, user, key_hex, name="Authenticator app"):
    """An authenticator-app device with a given key, confirmed at once: the demo's fixed logins."""
    with transaction.atomic():
        TOTPDevice.objects.filter(user=user).delete()
        device = TOTPDevice.objects.create(user=user, name=name, key=key_hex, confirmed=True)
        _device_added_record(actor=actor, user=user, method=TOTP_METHOD, device=device)
    return device


def passkey_added_record(*, actor, credential):
    """A passkey registered through django-otp-webauthn's endpoint: audited."""
    _device_added_record(actor=actor, user=actor, method=PASSKEY_METHOD, device=credential)


def _recovery_digest(code):
    """What is stored of a recovery code: a keyed digest, so the table does not hold codes that work
    (django-otp's StaticToken holds 16 characters: 64 bits of HMAC-SHA-256 under SECRET_KEY)."""
    return hmac.new(settings.SECRET_KEY.encode(), f"recovery:{code}".encode(), hashlib.sha256).hexdigest()[:16]


def recovery_codes_create(*, actor):
    """A new set of recovery codes, replacing any earlier set; returned once, to be shown once (only
    their digests are kept)."""
    codes = ["".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(RECOVERY_CODE_LENGTH)) for _ in range(10)]
    with transaction.atomic():
        StaticDevice.objects.filter(user=actor).delete()
        device = StaticDevice.objects.create(user=actor, name="Recovery codes", confirmed=True)
        StaticToken.objects.bulk_create(StaticToken(device=device, token=_recovery_digest(code)) for code in codes)
        audit_record(
            actor=actor,
            action=MFA_RECOVERY_CODES_CREATED,
            target=("user", actor.pk),
            data={"count": len(codes), "at": timezone.now().isoformat()},
        )
    return [f"{code[:5]}-{code[5:]}" for code in codes]


_REMOVABLE = {"totp": TOTPDevice, "passkey": WebAuthnCredential, "recovery": StaticDevice}


def mfa_device_remove(*, actor, kind, device_id):
    """Remove one of the user's own devices; audited. False when there is no such device."""
    model = _REMOVABLE.get(kind)
    if model is None:
        return False
    with transaction.atomic():
        device = model.objects.filter(user=actor, pk=device_id).first()
        if device is None:
            return False
        name = device.name
        device.delete()
        audit_record(
            actor=actor,
            action=MFA_DEVICE_REMOVED,
            target=("user", actor.pk),
            data={"method": kind, "device": f"{kind}:{device_id}", "name": name, "has_mfa_left": user_has_mfa(actor)},
        )
    return True
