# NeedleSafe: `make run` to try it, `make test` to check it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 5000
export FLASK_APP := wsgi
export NEEDLESAFE_ENV ?= development

.PHONY: run test install lint format bench bench-load clean translations-extract translations-update translations-compile

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/activate
	@# Quiet: a newcomer's `make run` should show the app starting, not pip's notices.
	@PIP_ROOT_USER_ACTION=ignore $(BIN)/python -m pip install --quiet --quiet \
		--disable-pip-version-check --upgrade pip
	@echo "Installing NeedleSafe and its dependencies into $(VENV) (once, about 30 s)..."
	@PIP_ROOT_USER_ACTION=ignore $(BIN)/python -m pip install --quiet --quiet \
		--disable-pip-version-check -e '.[dev]'
	touch $@

install: $(VENV)/.installed

run: install
	$(BIN)/flask db upgrade
	$(BIN)/flask demo seed
	@echo ""
	@echo "NeedleSafe is starting at http://127.0.0.1:$(PORT)"
	@echo "Sign in with one of the demo accounts above (password: needlesafe-demo)."
	@echo "Patient follow-up messages appear at http://127.0.0.1:$(PORT)/dev/messages"
	@echo "The reminder worker runs beside it; its lines count what a pass did, for example"
	@echo "'sent=3' (follow-up messages sent), 'escalated=1' (patient answers nobody"
	@echo "acknowledged in time, sent to the clinic's duty address), 'signed audit checkpoint 4'."
	@echo "Stop both with Ctrl-C. To run a command beside them, in another terminal:"
	@echo "  NEEDLESAFE_ENV=development $(BIN)/flask --app wsgi audit verify"
	@echo ""
	@# The reminder worker runs beside the server and stops with it. Ctrl-C (or a TERM) is
	@# how a developer stops the server: it ends the recipe cleanly, not with "Error 130/143".
	@BASE_URL=http://127.0.0.1:$(PORT) $(BIN)/flask reminders work & worker=$$!; \
	trap 'kill $$worker 2>/dev/null' EXIT; \
	trap 'kill $$worker 2>/dev/null; exit 0' INT TERM; \
	BASE_URL=http://127.0.0.1:$(PORT) $(BIN)/flask run --host 127.0.0.1 --port $(PORT); \
	status=$$?; case $$status in 130|143) exit 0;; *) exit $$status;; esac

# The whole suite (unit, integration, functional, browser) on SQLite, one worker per core and
# one more when the browser journeys are among them (tests/conftest.py says why); a worker
# takes whole modules, so each builds its world (tests/conftest.py) once. TESTS picks some
# (make test TESTS=tests/unit); TEST_DATABASE_URL runs them on PostgreSQL.
# The test databases (a copy per test), worlds and Chromium's profile go on a RAM disk where
# there is one with room (2 GiB free: a container's default 64 MiB /dev/shm would fill up):
# nothing there must survive a crash, so the disk's syncs are time spent for nothing.
# Workers take the modules in the order tests/conftest.py gives (the browser journeys, which
# cost seconds a test, first), not pytest-xdist's own by number of tests, which left the
# journeys for last and one core idle at the end. Bytecode is written even where the
# environment says not to (PYTHONDONTWRITEBYTECODE): otherwise every worker compiles the app
# and rewrites the asserts of a hundred test modules again on every run.
TESTS ?=
WORKERS ?= auto
RAM_DISK := $(shell df -Pk /dev/shm 2>/dev/null | awk 'NR == 2 && $$4 > 2097152 { print "/dev/shm" }')
TEST_TMPDIR ?= $(or $(RAM_DISK),$(TMPDIR),/tmp)
test: install
	TMPDIR=$(TEST_TMPDIR) NEEDLESAFE_ENV=testing PYTHONDONTWRITEBYTECODE= $(BIN)/python -m pytest -n $(WORKERS) --dist loadscope --no-loadscope-reorder $(TESTS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Not part of `make test`: builds (or reuses) 1,000,000-session databases under bench/data/
# and needlesafe_bench on a local PostgreSQL, then writes bench/RESULTS.md (see bench/README.md).
bench: install
	$(BIN)/python bench/run.py $(BENCH_ARGS)

# Not part of `make test`: NeedleSafe under gunicorn on a PostgreSQL database of its own
# (needlesafe_load, dropped afterwards), driven from 127.0.0.1 beside a bare Flask app; writes
# bench/LOAD.md (see bench/README.md, "Load"). LOAD_ARGS=--quick checks the tooling in minutes.
$(VENV)/.bench-installed: pyproject.toml $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	touch $@

bench-load: $(VENV)/.bench-installed
	$(BIN)/python bench/load.py $(LOAD_ARGS)

# The staff interface's catalogues (safety/translations). Extract the English strings, merge
# them into each language's .po for translating, then compile. The compiled .mo files are
# committed, so a clean clone needs no compile step (tests/unit/test_translations.py holds
# them in step with the .po files). The patient's texts are Python (safety/followup/texts*.py).
POT := safety/translations/messages.pot
translations-extract: install
	$(BIN)/pybabel extract -F safety/babel.cfg -k _l -k lazy_gettext -k N_ --no-location --sort-output -o $(POT) .

translations-update: translations-extract
	$(BIN)/pybabel update -i $(POT) -d safety/translations --ignore-obsolete --no-fuzzy-matching

translations-compile: install
	$(BIN)/pybabel compile -d safety/translations --statistics

clean:
	rm -rf $(VENV) instance .pytest_cache
