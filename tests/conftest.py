import functools
import uuid
from collections.abc import Mapping
from contextlib import contextmanager

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.db import connection
from django.test import TransactionTestCase, override_settings

from investigations.core.roles import ALL_ROLES
from tests.factories import UserFactory

# Slow by definition, so `make test` runs them and `make test-fast` leaves them out: a test with a real
# Celery worker waits on real round trips through Redis (and the worker's own start and stop); one
# with the SAML provider drives another process and signs or checks XML with the xmlsec1 binary,
# about a second a test.
SLOW_FIXTURES = {"worker", "saml_idp"}


def pytest_collection_modifyitems(items):
    for item in items:
        if SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


# ---- the database roles ----
# With DATABASE_OWNER_URL set (make test), DATABASE_URL is the runtime role `manage.py db_roles`
# grants: the owner creates and migrates the test database, the tests run as the runtime role, and
# the owner comes back only to empty the database after a transactional test and to drop it at the
# end. Without it, one role does everything.


def _credentials(url):
    import dj_database_url

    parsed = dj_database_url.parse(url)
    return {"USER": parsed["USER"], "PASSWORD": parsed.get("PASSWORD") or ""}


_RUNTIME_CREDENTIALS = {}


def _owner_credentials():
    from django.conf import settings

    if not settings.DATABASE_OWNER_URL or _credentials(settings.DATABASE_OWNER_URL) == _credentials(
        settings.DATABASE_URL
    ):
        return None
    return _credentials(settings.DATABASE_OWNER_URL)


def _connect_as(credentials):
    if credentials and any(connection.settings_dict.get(k) != v for k, v in credentials.items()):
        connection.close()
        connection.settings_dict.update(credentials)


@contextmanager
def _as_owner():
    owner = _owner_credentials()
    # Back to whoever was connected (the runtime role, or the owner in a module that runs as it).
    previous = {k: connection.settings_dict.get(k) or "" for k in owner} if owner else None
    _connect_as(owner)
    try:
        yield
    finally:
        _connect_as(previous)


@pytest.fixture(scope="module")
def as_table_owner(django_db_setup, django_db_blocker):
    """The module's tests connected as the owner of the tables (with one role, they are already): for
    tests that stage the audit trail as only an owner can, inside each test's own transaction."""
    owner = _owner_credentials()
    with django_db_blocker.unblock():
        _connect_as(owner)
    yield
    with django_db_blocker.unblock():
        _connect_as(_RUNTIME_CREDENTIALS or None)


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix):
    owner = _owner_credentials()
    if owner:
        _RUNTIME_CREDENTIALS.update({k: connection.settings_dict.get(k) or "" for k in owner})
        _connect_as(owner)


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """The test database as migrated by the owner, then the runtime role's grants on it, and the
    tests connected as that role."""
    if not _RUNTIME_CREDENTIALS:
        yield
        return
    from io import StringIO

    with django_db_blocker.unblock():
        call_command("db_roles", _RUNTIME_CREDENTIALS["USER"], "--apply", stdout=StringIO())
    _connect_as(_RUNTIME_CREDENTIALS)
    yield
    _connect_as(_owner_credentials())


@contextmanager
def _emptying_as_owner():
    """Django empties the database with TRUNCATE (after a transactional test, or at the end of a
    module's committed personas): as the owner (the runtime role may not truncate), with the audit
    triggers off for just that moment. The role groups the data migration made go with it, so they
    are put back, as the next test expects them."""
    with _as_owner():
        with connection.cursor() as cursor:
            cursor.execute("ALTER TABLE investigations_auditevent DISABLE TRIGGER USER")
        try:
            yield
        finally:
            with connection.cursor() as cursor:
                cursor.execute("ALTER TABLE investigations_auditevent ENABLE TRIGGER USER")
            Group.objects.bulk_create([Group(name=name) for name in ALL_ROLES], ignore_conflicts=True)


def _flush_as_owner(original):
    def teardown(self):
        if connection.vendor != "postgresql":
            return original(self)
        with _emptying_as_owner():
            return original(self)

    return teardown


TransactionTestCase._fixture_teardown = _flush_as_owner(TransactionTestCase._fixture_teardown)


@pytest.fixture(scope="session")
def _checkpoint_base(tmp_path_factory):
    return tmp_path_factory.mktemp("checkpoints")


@pytest.fixture(autouse=True)
def _checkpoints_in_tmp(settings, _checkpoint_base):
    # A directory of each test's own, named but not made: the checkpoint writer makes it when a test
    # writes one, and readers take a missing directory as no checkpoints. Most tests write none, and
    # a tmp_path for each of thousands of tests cost seconds to make and, at the next run, to delete.
    settings.AUDIT_CHECKPOINT_DIR = _checkpoint_base / uuid.uuid4().hex


# Named personas (fixture: username, roles): one user per role, and a second analyst and approver for
# the four-eyes checks.
PERSONA_USERS = {
    "analyst": ("alice", ["analyst"]),
    "second_analyst": ("bob", ["analyst"]),
    "approver": ("carol", ["approver"]),
    "second_approver": ("cyril", ["approver"]),
    "auditor": ("dave", ["auditor"]),
    "admin_user": ("erin", ["admin"]),
    "outsider": ("mallory", []),
}


def _persona(fixture):
    username, roles = PERSONA_USERS[fixture]

    @pytest.fixture
    def persona(db):
        return UserFactory(username=username, roles=roles)

    return persona


analyst = _persona("analyst")
second_analyst = _persona("second_analyst")
approver = _persona("approver")
second_approver = _persona("second_approver")
auditor = _persona("auditor")
admin_user = _persona("admin_user")
outsider = _persona("outsider")


class _Personas(Mapping):
    """Each role's persona, created when a test first asks for it: a test about one role does not pay
    for the other users (hundreds of parametrised cases would)."""

    FIXTURES = {
        "analyst": "analyst",
        "approver": "approver",
        "auditor": "auditor",
        "admin": "admin_user",
        "outsider": "outsider",
    }

    def __init__(self, request):
        self._request = request

    def __getitem__(self, role):
        return self._request.getfixturevalue(self.FIXTURES[role])

    def __iter__(self):
        return iter(self.FIXTURES)

    def __len__(self):
        return len(self.FIXTURES)


@pytest.fixture
def personas(request, db):
    return _Personas(request)


@pytest.fixture(scope="module")
def persona_clients(django_db_setup, django_db_blocker):
    """A test client signed in as each persona, made once for the module and committed, for the
    permission matrices: hundreds of cases that only look at what each role gets, and would each
    spend most of their time making the user and signing in. A test's own transaction still rolls
    back what its requests write; at the module's end the database is emptied, as after a
    transactional test."""
    from django.test import Client

    clients = {}
    with django_db_blocker.unblock():
        for persona, fixture in _Personas.FIXTURES.items():
            username, roles = PERSONA_USERS[fixture]
            clients[persona] = Client()
            clients[persona].force_login(UserFactory(username=username, roles=roles))
    yield clients
    with django_db_blocker.unblock(), _emptying_as_owner():
        call_command("flush", verbosity=0, interactive=False)


@pytest.fixture(autouse=True, scope="session")
def _test_settings():
    """Settings every test starts from, set once for the session (a test's own `settings` changes
    still come back to these):
    - the personas sign in with force_login and no second factor: two-step sign-in is required of no
      role here, except in the tests about it (tests/accounts/test_mfa*.py, tests/accounts/test_stepup*.py,
      tests/browser/test_mfa*.py), which require it again with the `mfa_required` fixture;
    - PBKDF2 at production strength costs ~0.3 s a user, and tests create hundreds of users."""
    with override_settings(MFA_REQUIRED_ROLES=[], PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]):
        yield


@pytest.fixture(scope="session")
def simulator():
    """Our Mimecast simulator, a real HTTP server on loopback, shared by the whole session."""
    from mimecast_simulator import SimulatorServer

    server = SimulatorServer(host="127.0.0.1", port=0, seed=1).start()
    yield server
    server.stop()


def simulator_settings(simulator, auth: str) -> dict:
    """MIMECAST_* exactly as an operator would give them, pointing at the simulator. auth: "login"
    (API 1.0, Basic-Cloud), "keys" (API 1.0 with static keys) or "oauth" (API 2.0)."""
    from mimecast_simulator import SIM_CREDENTIALS as sim

    credentials = {
        "login": {
            "MIMECAST_API_VERSION": "1",
            "MIMECAST_APP_ID": sim.app_id,
            "MIMECAST_APP_KEY": sim.app_key,
            "MIMECAST_AUTH_TYPE": "Basic-Cloud",
            "MIMECAST_USERNAME": sim.username,
            "MIMECAST_PASSWORD": sim.password,
        },
        "keys": {
            "MIMECAST_API_VERSION": "1",
            "MIMECAST_APP_ID": sim.app_id,
            "MIMECAST_APP_KEY": sim.app_key,
            "MIMECAST_ACCESS_KEY": sim.access_key,
            "MIMECAST_SECRET_KEY": sim.secret_key,
        },
        "oauth": {
            "MIMECAST_API_VERSION": "2",
            "MIMECAST_CLIENT_ID": sim.client_id,
            "MIMECAST_CLIENT_SECRET": sim.client_secret,
        },
    }[auth]
    return {
        "MIMECAST_BASE_URL": simulator.base_url,
        "MIMECAST_ALLOWED_HOSTS": simulator.base_url.removeprefix("http://"),
        "MIMECAST_MAX_RETRIES": "1",
        # A retried 5xx or timeout waits milliseconds, not the production second; the tests of the
        # backoff itself build their clients with their own settings.
        "MIMECAST_RETRY_BACKOFF_SECONDS": "0.01",
        **credentials,
    }


@pytest.fixture
def mimecast_env(settings, simulator):
    """The portal pointed at the shared simulator, freshly seeded, on API 1.0 with a Basic-Cloud login;
    no fault is left behind for the next test."""
    simulator.reset()
    settings.MIMECAST_ENV = simulator_settings(simulator, "login")
    yield simulator
    simulator.faults.clear()


@pytest.fixture
def sim(mimecast_env):
    return mimecast_env


@pytest.fixture
def sim_v2(settings, simulator, db):
    """The portal on API 2.0 (the SIEM batch stream needs it), pointing at the freshly seeded simulator."""
    simulator.reset()
    settings.MIMECAST_ENV = simulator_settings(simulator, "oauth")
    yield simulator
    simulator.faults.clear()


@pytest.fixture
def sim_env(settings, simulator):
    """The portal pointed at the shared simulator without re-seeding it, for tests that only read:
    regenerating the seeded data for each of hundreds of cases would cost minutes."""
    simulator.faults.clear()
    settings.MIMECAST_ENV = simulator_settings(simulator, "keys")
    return simulator


@pytest.fixture(scope="module")
def srv(request):
    """A simulator of the test module's own, for tests that change its state or configuration. A module
    sets SIMULATOR_OPTIONS (SimulatorServer's keyword arguments) to start it differently."""
    from mimecast_simulator import SimulatorServer

    options = {"host": "127.0.0.1", "port": 0, "seed": 1, **getattr(request.module, "SIMULATOR_OPTIONS", {})}
    server = SimulatorServer(**options).start()
    yield server
    server.stop()


@pytest.fixture
def fresh_srv(srv):
    """The module's simulator freshly seeded for the test, and no fault left behind for the next."""
    srv.reset()
    yield srv
    srv.faults.clear()


@pytest.fixture
def _no_faults(srv):
    srv.faults.clear()
    yield
    srv.faults.clear()


@pytest.fixture
def worker(transactional_db, settings, request):
    """A real Celery worker (solo pool, in this process) on the real Redis broker. A module sets
    WORKER_SETTINGS (Django settings for the tasks it runs, e.g. shorter polls) to tune it."""
    from celery.contrib.testing.worker import start_worker

    from mimecast_portal.celery import app

    assert settings.CELERY_BROKER_URL.startswith("redis://"), "tests run against a real Redis broker"
    for name, value in getattr(request.module, "WORKER_SETTINGS", {}).items():
        setattr(settings, name, value)
    app.control.purge()
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10) as running:
        yield running
    app.control.purge()


@functools.cache
def _redis_store(url):
    import redis

    return redis.Redis.from_url(url)


@pytest.fixture(autouse=True)
def _fresh_mimecast_client():
    # The portal keeps one client per process (keys and token cached); each test starts like a new
    # process, since tests re-seed the simulator, which forgets every binding and token. The pacer
    # shared in Redis is forgotten too: a 429 one test provokes must not hold up the next.
    from django.conf import settings

    from investigations.connection.services import mimecast_client_forget

    mimecast_client_forget()
    if settings.CELERY_BROKER_URL.startswith("redis"):
        store = _redis_store(settings.CELERY_BROKER_URL)
        # One SCAN round trip, not one per ten keys: the database also holds the sessions that
        # earlier tests cached, thousands by the end of a run.
        stale = list(store.scan_iter("mimecast:pacer:*", count=100_000))
        if stale:
            store.delete(*stale)
    yield
    mimecast_client_forget()


@pytest.fixture(autouse=True)
def _empty_cache():
    # Django's cache (each process's memory) keeps Mimecast answers the portal may reuse, such as the
    # SAFE scores; each test starts like a new process, or one test's answer would hide the next
    # test's fault.
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()
