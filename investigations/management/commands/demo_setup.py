import hashlib

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from investigations.accounts import mfa
from investigations.accounts.services import user_create, user_set_password, user_set_roles
from investigations.audit.chain import audit_checkpoint_write
from investigations.core.context import audit_context

# Demo only: fixed, printed logins so anyone can try every role. Never run this in production.
DEMO_USERS = (
    ("analyst", ["analyst"]),
    ("analyst2", ["analyst"]),
    ("approver", ["approver"]),
    ("auditor", ["auditor"]),
    ("admin", ["admin"]),
)


# The demo users whose roles require two-step sign-in get an authenticator app with a fixed key, printed
# with the logins (add it to any authenticator app), and a set of recovery codes.
DEMO_MFA_USERS = ("approver", "admin")


def demo_password(username):
    return f"{username}-demo-pass"


# Prints the current code for a base32 key with the standard library only (RFC 6238, SHA-1, 30 s, six
# digits): the demo's code without an authenticator app.
CODE_NOW = (
    'import base64,hmac,struct,time;h=hmac.digest(base64.b32decode("%s"),struct.pack(">Q",int(time.time())//30),'
    '"sha1");o=h[-1]&15;print("%%06d"%%((int.from_bytes(h[o:o+4],"big")&0x7fffffff)%%10**6))'
)


def demo_totp_key(username):
    """A fixed 20-byte key (hex, as django-otp stores it) per demo user: the same after every reset."""
    return hashlib.sha1(f"mimecast-portal-demo-totp:{username}".encode(), usedforsecurity=False).hexdigest()


class Command(BaseCommand):
    help = "Create (or reset) one demo user per role and print their logins. Demo only."

    def handle(self, *args, **options):
        User = get_user_model()
        recovery = {}
        with audit_context(system_actor="demo-setup"):
            for username, roles in DEMO_USERS:
                user = User.objects.filter(username=username).first()
                if user is None:
                    user = user_create(
                        actor=None,
                        username=username,
                        roles=roles,
                        password=demo_password(username),
                        email=f"{username}@demo.invalid",
                        validate=False,
                    )
                else:
                    user_set_roles(actor=None, user=user, roles=roles)
                    user_set_password(actor=None, user=user, password=demo_password(username), validate=False)
                if username in DEMO_MFA_USERS:
                    mfa.totp_device_create_confirmed(actor=None, user=user, key_hex=demo_totp_key(username))
                    recovery[username] = mfa.recovery_codes_create(actor=user)
        # The demo's trail starts anchored: verify_audit fails on events no checkpoint vouches for.
        audit_checkpoint_write()
        self.stdout.write("Demo logins (username / password / roles):")
        for username, roles in DEMO_USERS:
            self.stdout.write(f"  {username:<10} {demo_password(username):<22} {', '.join(roles)}")
        self.stdout.write(
            "\nSecond step for approver and admin (after the password, and before a decision once the sign-in is\n"
            "older than 10 minutes): a recovery code below (each works once), or a code from an authenticator app\n"
            "given the key, or the code of the moment from the one-liner."
        )
        for username in DEMO_MFA_USERS:
            device = mfa.totp_devices(User.objects.get(username=username)).first()
            key = mfa.totp_secret_base32(device)
            self.stdout.write(f"  {username:<10} recovery codes: {' '.join(recovery[username][:5])}")
            self.stdout.write(f"  {'':<10} authenticator key: {key}")
            self.stdout.write(f"  {'':<10} code now: python3 -c '{CODE_NOW % key}'")
