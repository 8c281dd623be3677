import getpass
import sys

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from investigations.accounts.selectors import users_with_roles
from investigations.accounts.services import UnknownRole, user_create, user_set_password, user_set_roles
from investigations.core.context import audit_context
from investigations.core.roles import ALL_ROLES


def _roles(value):
    return [r.strip() for r in (value or "").split(",") if r.strip()]


class Command(BaseCommand):
    help = "Create users, change their roles or passwords, and list them. Every change is audited."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create", help="Create a user with roles.")
        create.add_argument("username")
        create.add_argument("--roles", required=True, help=f"Comma list of: {', '.join(ALL_ROLES)}")
        create.add_argument("--email", default="")
        create.add_argument("--time-zone", default="")
        create.add_argument("--password-stdin", action="store_true", help="Read the password from standard input.")
        roles = sub.add_parser("roles", help="Change a user's roles.")
        roles.add_argument("username")
        group = roles.add_mutually_exclusive_group(required=True)
        group.add_argument("--set", help="Replace the roles with this comma list (empty for none).")
        group.add_argument("--add", help="Add these roles.")
        group.add_argument("--remove", help="Remove these roles.")
        password = sub.add_parser("password", help="Set a user's password.")
        password.add_argument("username")
        password.add_argument("--password-stdin", action="store_true")
        sub.add_parser("list", help="List users and their roles.")

    def _read_password(self, from_stdin):
        if from_stdin:
            return sys.stdin.readline().rstrip("\n")
        first = getpass.getpass("Password: ")
        if first != getpass.getpass("Password (again): "):
            raise CommandError("The passwords did not match.")
        return first

    def _user(self, username):
        try:
            return get_user_model().objects.get(username=username)
        except get_user_model().DoesNotExist:
            raise CommandError(f"No user named {username!r}.") from None

    def handle(self, *args, action, **options):
        operator = f"operator:{getpass.getuser()}"
        with audit_context(system_actor=operator):
            try:
                getattr(self, f"_{action}")(**options)
            except (UnknownRole, ValidationError) as error:
                messages = error.messages if isinstance(error, ValidationError) else [str(error)]
                raise CommandError(" ".join(messages)) from None

    def _create(self, username, roles, email, time_zone, password_stdin, **_):
        if get_user_model().objects.filter(username=username).exists():
            raise CommandError(f"A user named {username!r} already exists; use 'roles' to change it.")
        user = user_create(
            actor=None,
            username=username,
            roles=_roles(roles),
            password=self._read_password(password_stdin),
            email=email,
            time_zone=time_zone,
        )
        self.stdout.write(f"created {user.username} with roles: {', '.join(sorted(_roles(roles))) or 'none'}")

    def _roles(self, username, set=None, add=None, remove=None, **_):
        user = self._user(username)
        current = {g for g in user.groups.values_list("name", flat=True) if g in ALL_ROLES}
        if set is not None:
            set_ = _roles(set)
        elif add is not None:
            set_ = current | {*_roles(add)}
        else:
            set_ = current - {*_roles(remove)}
        user_set_roles(actor=None, user=user, roles=sorted(set_))
        self.stdout.write(f"{user.username} now holds: {', '.join(sorted(set_)) or 'no role'}")

    def _password(self, username, password_stdin, **_):
        user = self._user(username)
        user_set_password(actor=None, user=user, password=self._read_password(password_stdin))
        self.stdout.write(f"password set for {user.username}")

    def _list(self, **_):
        for row in users_with_roles():
            state = "" if row["user"].is_active else " (inactive)"
            self.stdout.write(f"{row['user'].username}{state}: {', '.join(row['roles']) or '-'}")
