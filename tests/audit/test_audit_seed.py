"""audit_seed on PostgreSQL: as the tables' owner (the benchmark, the demos) it chains the events
itself with the triggers off and spreads them over --days; as the runtime role, which may not switch
the triggers off, the database chains and dates them at the time of seeding, and the command says so.
Both leave a chain that verifies."""

import io
from datetime import timedelta
from itertools import pairwise

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from investigations.audit.chain import audit_verify
from investigations.audit.services import audit_record
from investigations.models import AuditEvent

pytestmark = pytest.mark.django_db

FALLBACK_ROLE = "portal_test_runtime"
FALLBACK_LINE = "this role may not switch the audit triggers off"


def seeded(count, days, seed):
    out = io.StringIO()
    call_command("audit_seed", str(count), "--days", str(days), "--seed", str(seed), stdout=out)
    return out.getvalue()


def user_triggers():
    """Each user trigger on the audit table and whether it is on ('O': on, 'D': off)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tgname, tgenabled FROM pg_trigger"
            " WHERE tgrelid = 'investigations_auditevent'::regclass AND NOT tgisinternal"
        )
        return dict(cursor.fetchall())


@pytest.fixture
def runtime_role(db):
    """The role the portal runs as. Under make test the tests connect as it (unless a test of this
    module connected as the owner before); otherwise the grants are applied for a test role and the
    transaction takes it on, as tests/core/test_db_roles.py does."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_has_role(current_user, c.relowner, 'MEMBER') OR r.rolsuper"
            " FROM pg_class c, pg_roles r WHERE c.oid = 'investigations_auditevent'::regclass"
            " AND r.rolname = current_user"
        )
        (may_alter,) = cursor.fetchone()
    if may_alter:
        call_command("db_roles", FALLBACK_ROLE, "--apply", stdout=io.StringIO())
        with connection.cursor() as cursor:
            cursor.execute(f'SET LOCAL ROLE "{FALLBACK_ROLE}"')


def test_as_the_owner_events_are_spread_over_the_days_in_seq_order_and_the_chain_verifies(as_table_owner):
    out = seeded(2000, 30, 4)
    audit_record(actor=None, action="auth.login", target=None)  # a real event after them

    assert FALLBACK_LINE not in out
    events = list(AuditEvent.objects.order_by("seq").values_list("seq", "created_at"))
    assert [seq for seq, _ in events] == list(range(1, 2002))
    seeds = [at for _, at in events[:2000]]
    now = timezone.now()
    assert seeds[0] < now - timedelta(days=25)
    assert now - timedelta(days=1) < seeds[-1] <= now
    assert all(earlier < later for earlier, later in pairwise(seeds))
    # The triggers are on again: the real event was chained and dated by the database, after them.
    assert set(user_triggers().values()) == {"O"}
    assert events[-1][1] > seeds[-1]
    result = audit_verify()
    assert result.ok, result.problem
    assert result.checked == 2001


def test_as_the_runtime_role_the_database_dates_the_events_and_the_command_says_so(runtime_role):
    audit_record(actor=None, action="auth.login", target=None)
    out = seeded(300, 30, 5)

    assert f"{FALLBACK_LINE} (only the tables' owner or a superuser may)" in out
    assert "not over the last 30 days" in out
    assert AuditEvent.objects.count() == 301
    times = list(AuditEvent.objects.order_by("seq").values_list("created_at", flat=True))
    # Dated when they were seeded, not spread over the 30 days asked for.
    assert times[-1] - times[0] < timedelta(minutes=5)
    result = audit_verify()
    assert result.ok, result.problem
    assert result.checked == 301


def test_ending_days_ago_leaves_the_days_after_it_for_a_later_seed(as_table_owner):
    call_command("audit_seed", "400", "--days", "30", "--ending-days-ago", "30", "--seed", "8", stdout=io.StringIO())
    seeded(400, 30, 9)

    times = list(AuditEvent.objects.order_by("seq").values_list("created_at", flat=True))
    now = timezone.now()
    assert len(times) == 800
    assert now - timedelta(days=61) < times[0] and times[399] <= now - timedelta(days=30)
    # The later seed still spreads over its own 30 days, not crowded after the earlier one's end.
    assert times[400] < now - timedelta(days=29) and now - timedelta(days=1) < times[-1] <= now
    assert all(earlier < later for earlier, later in pairwise(times))
    result = audit_verify()
    assert result.ok, result.problem
    assert result.checked == 800


def test_a_negative_ending_is_refused(as_table_owner):
    with pytest.raises(CommandError, match="cannot be negative"):
        call_command("audit_seed", "5", "--ending-days-ago", "-1", stdout=io.StringIO())
