"""Each pytest-xdist worker on a Redis database of its own (`make test-fast` runs on every core).

pytest-django already gives each worker its own test database (test_<name>_gw0, _gw1, ...). Redis is
shared state too: the Mimecast pacer's buckets, the cached sessions and the Celery queues. Two
workers on one Redis database would empty each other's pacer between tests and pace each other's
simulator calls. Loaded with `-p` (pyproject's addopts), so that this runs before pytest-django
reads the settings, which take the broker, the session cache and the result backend from
CELERY_BROKER_URL.
"""

import os
from urllib.parse import urlsplit, urlunsplit

REDIS_DATABASES = 16  # Redis's default `databases`


def worker_redis_url(url, worker):
    """url with its database number moved up by the worker's index (gw0 keeps it, gw1 takes the next)."""
    parts = urlsplit(url)
    base = int(parts.path.lstrip("/") or 0)
    database = base + int(worker.removeprefix("gw"))
    if database >= REDIS_DATABASES:
        raise ValueError(
            f"{worker} would need Redis database {database}; start from a lower one than {base} or run fewer workers"
        )
    return urlunsplit(parts._replace(path=f"/{database}"))


_worker = os.environ.get("PYTEST_XDIST_WORKER")
for _name in ("CELERY_BROKER_URL", "CELERY_RESULT_BACKEND"):
    if _worker and os.environ.get(_name, "").startswith(("redis://", "rediss://")):
        os.environ[_name] = worker_redis_url(os.environ[_name], _worker)
