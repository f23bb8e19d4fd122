# JSN — the two commands are `make run` and `make test`; everything else is optional.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test lint format setup migrate seed bench stress worker beat web clean

$(STAMP): requirements.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	@touch $(STAMP)

setup: $(STAMP)

migrate: setup
	@mkdir -p var
	$(PY) manage.py migrate --noinput --run-syncdb

seed: migrate
	$(PY) manage.py seed_demo

# A local .env (never committed) so that `manage.py …` run by hand sees the same demo settings as `make run`.
.env:
	@printf 'DEBUG=1\nDEMO_MODE=1\n' > .env
	@echo "wrote .env (DEBUG=1, DEMO_MODE=1) for local commands"

## make run: set up, migrate, load demo data, then serve web + Celery worker + Beat on http://127.0.0.1:8000 (BIND)
run: export DEBUG ?= 1
run: export DEMO_MODE ?= 1
run: .env seed
	bin/run-all

web: setup
	$(VENV)/bin/gunicorn jsn.wsgi -c jsn/gunicorn_conf.py

worker: setup
	$(VENV)/bin/celery -A jsn worker --loglevel=INFO

beat: setup
	$(VENV)/bin/celery -A jsn beat --loglevel=INFO

## make test: set up and run the whole suite (PostgreSQL when reachable, else SQLite with PG-only tests skipped)
test: setup
	@bin/test

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: setup
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

## make bench: benchmarks against PostgreSQL (see bench/README.md)
bench: setup
	@bin/bench

## make stress: fault tests R1 (PostgreSQL restarted under load) and R2 (Redis down 60 s), each with a private
## PostgreSQL + Redis and the app running (README "Fault tests"); not part of `make test`
stress: setup
	@bin/stress

clean:
	rm -rf var test-output
