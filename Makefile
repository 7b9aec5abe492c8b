# The verbs people type. `make serve` and `make test` install and start what they need (Debian 12, root).
VENV := .venv
BIN := $(VENV)/bin
export NNGRADE_DATA_DIR ?= $(CURDIR)/var/data

.PHONY: setup lock serve stack stack-down test test-fast lint typecheck check messages bench data image prune-images clean

setup:
	bash scripts/setup.sh

# Refresh the lock on purpose: re-resolve pyproject.toml, moving transitive dependencies to their newest
# allowed releases. Every environment installs from uv.lock only (scripts/setup.d/20-python.sh, deploy/).
lock:
	bash scripts/setup.d/20-python.sh --uv-only
	var/tools/uv/bin/uv lock --upgrade
	var/tools/uv/bin/uv sync --locked

serve: setup
	bash scripts/serve.sh

# The same service as containers: web, worker, Redis, PostgreSQL (see README, "Deployment").
stack: setup
	deploy/build.sh
	docker-compose up -d
	docker-compose exec -T web nngrade demo seed

stack-down:
	docker-compose down

# CI runs this: every real component is required, so a missing one fails instead of skipping.
test: setup check
	NNGRADE_REQUIRE_DATA=1 NNGRADE_REQUIRE_DOCKER=1 NNGRADE_REQUIRE_SERVICES=1 NNGRADE_REQUIRE_BROWSER=1 \
		$(BIN)/pytest

# Pure tests only, no services: seconds, for the edit loop.
test-fast:
	$(BIN)/pytest -m "not slow and not docker and not redis and not postgres and not browser"

lint:
	$(BIN)/ruff check .
	$(BIN)/lint-imports

# grader/ also runs in the sandbox on CPython 3.9: mypy checks it against the oldest stdlib it can target
# (3.10), vermin against 3.9 (APIs and keyword arguments newer than 3.9, e.g. zip(strict=...)).
typecheck:
	$(BIN)/mypy grader sandbox gradebook worker web cli nngrade
	$(BIN)/mypy --python-version 3.10 grader
	$(BIN)/vermin --quiet --violations --no-tips --target=3.9- grader

check: lint typecheck

# After changing a user-facing string: re-extract the catalog template and merge it into each language's
# catalog (translate the new entries, then `make setup` compiles them; tests/test_i18n.py names any left out).
messages:
	$(BIN)/pybabel -q extract -F web/translations/babel.cfg -o web/translations/messages.pot -w 120 --sort-output \
		--add-location=file -k _l -k N_ -k lazy_gettext -k CheckFailed --project nngrade .
	$(BIN)/pybabel -q update -i web/translations/messages.pot -d web/translations -D messages --no-fuzzy-matching --ignore-obsolete -w 120

bench:
	$(BIN)/python bench/bench_nn_step.py
	$(BIN)/python bench/bench_dataset_load.py
	$(BIN)/python bench/bench_grade.py
	$(BIN)/python bench/bench_sandbox.py

data:
	bash scripts/setup.sh data

image:
	$(BIN)/python -m sandbox.image build

# Remove the sandbox images of other grader versions (never one a container still uses).
prune-images:
	$(BIN)/python -m sandbox.image build --prune

clean:
	rm -rf .pytest_cache .mypy_cache .ruff_cache artifacts
