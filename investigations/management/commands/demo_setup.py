from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

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


def demo_password(username):
    return f"{username}-demo-pass"


class Command(BaseCommand):
    help = "Create (or reset) one demo user per role and print their logins. Demo only."

    def handle(self, *args, **options):
        User = get_user_model()
        with audit_context(system_actor="demo-setup"):
            for username, roles in DEMO_USERS:
                user = User.objects.filter(username=username).first()
                if user is None:
                    user_create(
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
        # The demo's trail starts anchored: verify_audit fails on events no checkpoint vouches for.
        audit_checkpoint_write()
        self.stdout.write("Demo logins (username / password / roles):")
        for username, roles in DEMO_USERS:
            self.stdout.write(f"  {username:<10} {demo_password(username):<22} {', '.join(roles)}")
