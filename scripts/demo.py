"""`make demo`: the whole portal on one machine with nothing but Python.

SQLite, Celery's file-system broker (with atomic writes: investigations/core/broker.py), a worker
(with beat) and gunicorn, plus the Mimecast simulator when it is present. Prints the URL and the demo
logins, and stops everything on Ctrl-C. PORTAL_VAR_DIR moves the demo's files (default var/), as
scripts/demo_soak.py does to run a demo of its own beside yours.
"""

import base64
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
VAR = Path(os.environ.get("PORTAL_VAR_DIR") or ROOT / "var").resolve()
PORT = int(os.environ.get("DEMO_PORT", "8000"))
SIM_PORT = int(os.environ.get("DEMO_SIMULATOR_PORT", "8025"))
PY = sys.executable


def _persistent_secret(name, make=lambda: secrets.token_urlsafe(48)):
    # Kept in var/ so sessions, audit checkpoints and stored credentials survive demo restarts.
    path = VAR / name
    if not path.exists():
        path.write_text(make())
        path.chmod(0o600)
    return path.read_text().strip()


def _env():
    VAR.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    for key in ("DATABASE_URL", "CELERY_BROKER_URL", "CELERY_RESULT_BACKEND"):
        env.pop(key, None)  # the demo is SQLite and the file-system broker, whatever the shell says
    env.update(
        DJANGO_SETTINGS_MODULE="mimecast_portal.settings",
        PORTAL_VAR_DIR=str(VAR),
        DEBUG="false",
        HTTPS="false",
        ALLOWED_HOSTS="127.0.0.1,localhost",
        SECRET_KEY=_persistent_secret("demo-secret-key"),
        AUDIT_CHECKPOINT_KEY=_persistent_secret("demo-checkpoint-key"),
        AUDIT_CHECKPOINT_INTERVAL="60",
        FIELD_ENCRYPTION_KEYS=_persistent_secret(
            "demo-field-key", lambda: base64.urlsafe_b64encode(os.urandom(32)).decode()
        ),
        PYTHONUNBUFFERED="1",
    )
    return env


def _run(env, *args):
    subprocess.run([PY, "manage.py", *args], cwd=ROOT, env=env, check=True)


def wait_for(url, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return True
        except OSError:
            time.sleep(0.5)
    return False


def _start_simulator(env, start):
    # The simulator is its own top-level package, in a checkout but not in an installed wheel.
    if (ROOT / "mimecast_simulator" / "__init__.py").exists():
        start("simulator", [PY, "manage.py", "mimecast_simulator", "--host", "127.0.0.1", "--port", str(SIM_PORT)])
        from mimecast_simulator import SIM_CREDENTIALS as sim

        # The portal reaches the simulator exactly as it would reach Mimecast. API 2.0, because only
        # 2.0 has the event stream the web security page ingests; 1.0 works too (see the README).
        env.update(
            MIMECAST_API_VERSION="2",
            MIMECAST_BASE_URL=f"http://127.0.0.1:{SIM_PORT}",
            MIMECAST_ALLOWED_HOSTS=f"127.0.0.1:{SIM_PORT}",
            MIMECAST_CLIENT_ID=sim.client_id,
            MIMECAST_CLIENT_SECRET=sim.client_secret,
        )


WORKER = [PY, "-m", "celery", "-A", "mimecast_portal", "worker", "-B", "--concurrency", "2", "-l", "info"]


def start_demo():
    """Migrate, then start the simulator, the worker and the web server. Returns the environment
    they run with, the (name, process) children, the demo logins and `start` to add a child."""
    env = _env()
    _run(env, "migrate", "--noinput", "-v", "0")
    _run(env, "collectstatic", "--noinput", "-v", "0")
    children = []
    log_dir = VAR / "log"
    log_dir.mkdir(exist_ok=True)

    def start(name, argv):
        with open(log_dir / f"{name}.log", "ab") as log:  # the child keeps its own copy of the descriptor
            proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        children.append((name, proc))
        return proc

    _start_simulator(env, start)
    logins = subprocess.run(
        [PY, "manage.py", "demo_setup"], cwd=ROOT, env=env, check=True, capture_output=True, text=True
    ).stdout
    start("worker", WORKER)
    start(
        "web",
        [PY, "-m", "gunicorn", "mimecast_portal.wsgi", "-b", f"127.0.0.1:{PORT}", "-w", "2", "--access-logfile", "-"],
    )
    return env, children, logins, start


def main():
    _, children, logins, _ = start_demo()
    log_dir = VAR / "log"

    def stop(*_):
        for _name, proc in children:
            proc.terminate()
        for _name, proc in children:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        sys.exit(0)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    url = f"http://127.0.0.1:{PORT}/"
    if not wait_for(url + "accounts/login/", 60):
        print(f"The web server did not answer; see {log_dir}/web.log", file=sys.stderr)
        stop()
    print(
        f"\nMimecast Investigation Portal is running at {url}\n\n{logins}\n"
        f"Logs in {log_dir}; Ctrl-C stops everything.\n",
        flush=True,
    )
    while True:
        for name, proc in children:
            if proc.poll() is not None:
                print(f"{name} exited with {proc.returncode}; see {log_dir}/{name}.log", file=sys.stderr)
                stop()
        time.sleep(1)


if __name__ == "__main__":
    main()
