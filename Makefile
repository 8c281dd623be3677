# The two commands that matter: `make demo` (needs only Python 3.11+) and `make test`
# (PostgreSQL and Redis, defaulting to the local services).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# Two locks with hashes, generated from pyproject.toml by `make lock`: what the portal runs on, and
# that plus the test and lint tools. Each stamp is rebuilt when its lock or pyproject.toml changes.
RUNTIME_LOCK := requirements/runtime.txt
DEV_LOCK := requirements/dev.txt
RUNTIME_STAMP := $(VENV)/.installed-runtime
STAMP := $(VENV)/.installed-dev
# The browser tests' JavaScript (axe-core, pinned with its integrity hash in package-lock.json); the demo
# never needs npm. Rebuilt when the lock changes.
NODE_STAMP := node_modules/.installed

# The suite runs as the runtime role (DATABASE_URL), which owns nothing and may only read and append
# to the audit table; the owner (DATABASE_OWNER_URL) creates and migrates the test database and
# `manage.py db_roles` creates the runtime role and its grants on it (tests/conftest.py).
TEST_ENV := \
	DATABASE_URL=$${DATABASE_URL:-postgres://mimecast_portal_app@127.0.0.1:5432/mimecast_portal} \
	DATABASE_OWNER_URL=$${DATABASE_OWNER_URL:-postgres://postgres@127.0.0.1:5432/mimecast_portal} \
	CELERY_BROKER_URL=$${CELERY_BROKER_URL:-redis://127.0.0.1:6379/1} \
	SECRET_KEY=$${SECRET_KEY:-test-only-secret-key-not-for-production-0123456789} \
	AUDIT_CHECKPOINT_KEY=$${AUDIT_CHECKPOINT_KEY:-test-only-checkpoint-key} \
	FIELD_ENCRYPTION_KEYS=$${FIELD_ENCRYPTION_KEYS:-W3t6Rhxy-J6LKsKO30bCtGjBRHw7K0sTE1_ZHexxo3Y=} \
	ALLOWED_HOSTS=testserver,127.0.0.1,localhost \
	HTTPS=false STATIC_MANIFEST=false \
	PYTHONDONTWRITEBYTECODE=
# (PYTHONDONTWRITEBYTECODE emptied: a machine that sets it would recompile every module, and pytest
# rewrite every test file, on each run: 9 s more to collect.)

.PHONY: venv demo test test-fast bench bench-readme profile lint format lock migrations-check check-deploy worker beat web clean

# install-lock LOCK: the pinned, hash-checked dependencies, then the project itself without them.
define install-lock
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is required")'
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet --require-hashes -r $(1)
	$(PY) -m pip install --quiet --no-deps -e .
endef

# The demo's environment: the runtime lock only, no development tools.
$(RUNTIME_STAMP): $(RUNTIME_LOCK) pyproject.toml
	$(call install-lock,$(RUNTIME_LOCK))
	touch $@

# Everything else (tests, lint, bench): the dev lock, which holds the runtime lock's exact pins.
$(STAMP): $(DEV_LOCK) pyproject.toml
	$(call install-lock,$(DEV_LOCK))
	touch $@ $(RUNTIME_STAMP)

venv: $(STAMP)

demo: $(RUNTIME_STAMP)
	$(PY) scripts/demo.py

$(NODE_STAMP): package-lock.json
	npm ci --ignore-scripts --no-audit --no-fund
	touch $@

test: $(STAMP) $(NODE_STAMP)
	$(TEST_ENV) $(PY) -m pytest $(PYTEST_ARGS)

# The inner loop: everything but the tests marked slow and the browser tests (make test runs those too).
# In parallel (pytest-xdist; each worker has its own test database and Redis database), a test file to
# a worker so that a module's simulator starts once. One worker more than the cores, at most 8: the
# tests also wait on PostgreSQL, Redis and the simulator's thread, and on 2 cores a third worker fills
# those waits (2 workers took 130-143 s, 3 took 124 s, 4 took 129 s).
TEST_WORKERS ?= $(shell $(PYTHON) -c 'import os; print(min(8, os.cpu_count() + 1))')
test-fast: $(STAMP)
	$(TEST_ENV) $(PY) -m pytest -m "not slow" --ignore=tests/browser -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

# The benchmark scenarios side by side: bench/results/<date>-<commit>.json and a table.
# Needs PostgreSQL and Redis like `make test`; the bench sets its own environment and database.
# BENCH_ARGS="--tiny" or "--only fanout,overhead" passes arguments through.
bench: $(STAMP)
	$(PY) -m bench $(BENCH_ARGS)

# The README's bench table, rewritten from the results of HEAD (or BENCH_RESULTS=bench/results/FILE.json).
bench-readme: $(STAMP)
	$(PY) -m bench.table --readme $(BENCH_RESULTS)

# Where the 100-row results page spends the portal's own time (cProfile, by phase and by function).
profile: $(STAMP)
	$(PY) -m bench.profile $(PROFILE_ARGS)

# ruff, then the import contracts in pyproject.toml ([tool.importlinter]): imports run one way.
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# Regenerate both locks after changing the dependencies in pyproject.toml (needs PyPI). The dev lock
# is constrained by the runtime lock, so the demo and the tests run the same versions.
lock: $(STAMP)
	$(VENV)/bin/uv pip compile pyproject.toml --quiet --generate-hashes --universal --python-version 3.11 \
		--custom-compile-command "make lock" -o $(RUNTIME_LOCK)
	$(VENV)/bin/uv pip compile pyproject.toml --quiet --generate-hashes --universal --python-version 3.11 \
		--custom-compile-command "make lock" --extra dev -c $(RUNTIME_LOCK) -o $(DEV_LOCK)

migrations-check: $(STAMP)
	DEBUG=true $(PY) manage.py makemigrations --check --dry-run

# The production profile: DEBUG off, HTTPS on, real keys (dummy values here, only for the check).
check-deploy: $(STAMP)
	DEBUG=false HTTPS=true ALLOWED_HOSTS=portal.example.com \
	SECRET_KEY=$$($(PY) -c 'import secrets; print(secrets.token_urlsafe(50))') \
	AUDIT_CHECKPOINT_KEY=check-deploy-key FIELD_ENCRYPTION_KEYS=$$($(PY) -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())') DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \
	CELERY_BROKER_URL=redis://127.0.0.1:6379/0 \
	$(PY) manage.py check --deploy --fail-level WARNING

worker: $(STAMP)
	$(VENV)/bin/celery -A mimecast_portal worker -l info

beat: $(STAMP)
	$(VENV)/bin/celery -A mimecast_portal beat -l info

web: $(STAMP)
	$(VENV)/bin/gunicorn mimecast_portal.wsgi -b 127.0.0.1:8000 -w 3

clean:
	rm -rf var .pytest_cache
