import pytest
from django.contrib.auth.models import Group
from django.db import connection

from investigations.core.roles import ALL_ROLES
from tests.factories import UserFactory

TRANSACTIONAL_FIXTURES = {"transactional_db", "live_server", "django_db_serialized_rollback"}


def _is_transactional(request):
    marker = request.node.get_closest_marker("django_db")
    return bool(TRANSACTIONAL_FIXTURES & set(request.fixturenames)) or bool(marker and marker.kwargs.get("transaction"))


def _uses_db(request):
    return request.node.get_closest_marker("django_db") is not None or bool(
        {"db", *TRANSACTIONAL_FIXTURES} & set(request.fixturenames)
    )


@pytest.fixture(autouse=True)
def _database_as_migrated(request):
    """Django empties the database with TRUNCATE after a transactional test, which removes the
    role groups the data migration made, and which the audit triggers refuse. So every test gets
    the roles back and the triggers on, and the triggers are off only for that clean-up."""
    if not _uses_db(request) or connection.vendor != "postgresql":
        yield
        return
    transactional = _is_transactional(request)
    request.getfixturevalue("transactional_db" if transactional else "db")
    for name in ALL_ROLES:
        Group.objects.get_or_create(name=name)
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE investigations_auditevent ENABLE TRIGGER USER")
    yield
    if transactional:
        connection.close()
        with connection.cursor() as cursor:
            cursor.execute("ALTER TABLE investigations_auditevent DISABLE TRIGGER USER")


@pytest.fixture(autouse=True)
def _checkpoints_in_tmp(settings, tmp_path):
    settings.AUDIT_CHECKPOINT_DIR = tmp_path / "checkpoints"


# Named personas (design §9).
@pytest.fixture
def analyst(db):
    return UserFactory(username="alice", roles=["analyst"])


@pytest.fixture
def second_analyst(db):
    return UserFactory(username="bob", roles=["analyst"])


@pytest.fixture
def approver(db):
    return UserFactory(username="carol", roles=["approver"])


@pytest.fixture
def auditor(db):
    return UserFactory(username="dave", roles=["auditor"])


@pytest.fixture
def admin_user(db):
    return UserFactory(username="erin", roles=["admin"])


@pytest.fixture
def outsider(db):
    return UserFactory(username="mallory", roles=[])


@pytest.fixture
def personas(analyst, second_analyst, approver, auditor, admin_user, outsider):
    return {
        "analyst": analyst,
        "approver": approver,
        "auditor": auditor,
        "admin": admin_user,
        "outsider": outsider,
    }


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # PBKDF2 at production strength costs ~0.3 s a user; tests create hundreds of users.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(scope="session")
def simulator():
    """Our Mimecast simulator, a real HTTP server on loopback, shared by the whole session."""
    from mimecast_simulator import SimulatorServer

    server = SimulatorServer(host="127.0.0.1", port=0, seed=1).start()
    yield server
    server.stop()


@pytest.fixture
def mimecast_env(settings, simulator):
    """The portal configured through MIMECAST_* exactly as an operator would, pointing at the simulator."""
    from mimecast_simulator import SIM_CREDENTIALS as sim

    simulator.reset()
    host_port = simulator.base_url.removeprefix("http://")
    settings.MIMECAST_ENV = {
        "MIMECAST_API_VERSION": "1",
        "MIMECAST_BASE_URL": simulator.base_url,
        "MIMECAST_ALLOWED_HOSTS": host_port,
        "MIMECAST_APP_ID": sim.app_id,
        "MIMECAST_APP_KEY": sim.app_key,
        "MIMECAST_AUTH_TYPE": "Basic-Cloud",
        "MIMECAST_USERNAME": sim.username,
        "MIMECAST_PASSWORD": sim.password,
        "MIMECAST_MAX_RETRIES": "1",
    }
    return simulator


@pytest.fixture(autouse=True)
def _fresh_mimecast_client():
    # The portal keeps one client per process (keys and token cached); each test starts like a new
    # process, since tests re-seed the simulator, which forgets every binding and token.
    from investigations.connection.services import mimecast_client_forget

    mimecast_client_forget()
    yield
    mimecast_client_forget()
