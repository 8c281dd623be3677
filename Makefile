# The two commands that matter: `make demo` (needs only Python 3.11+) and `make test`
# (PostgreSQL and Redis, defaulting to the local services).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

TEST_ENV := \
	DATABASE_URL=$${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/mimecast_portal} \
	CELERY_BROKER_URL=$${CELERY_BROKER_URL:-redis://127.0.0.1:6379/1} \
	SECRET_KEY=$${SECRET_KEY:-test-only-secret-key-not-for-production-0123456789} \
	AUDIT_CHECKPOINT_KEY=$${AUDIT_CHECKPOINT_KEY:-test-only-checkpoint-key} \
	FIELD_ENCRYPTION_KEYS=$${FIELD_ENCRYPTION_KEYS:-W3t6Rhxy-J6LKsKO30bCtGjBRHw7K0sTE1_ZHexxo3Y=} \
	ALLOWED_HOSTS=testserver,127.0.0.1,localhost \
	HTTPS=false STATIC_MANIFEST=false

.PHONY: venv demo test bench lint format migrations-check check-deploy worker beat web clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is required")'
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(PY) scripts/demo.py

test: $(STAMP)
	$(TEST_ENV) $(PY) -m pytest $(PYTEST_ARGS)

# The six benchmark scenarios side by side (issue 7): bench/results/<date>-<commit>.json and a table.
# Needs PostgreSQL and Redis like `make test`; the bench sets its own environment and database.
# BENCH_ARGS="--tiny" or "--only fanout,overhead" passes arguments through.
bench: $(STAMP)
	$(PY) -m bench $(BENCH_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

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
