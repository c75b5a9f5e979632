# The two commands of the README: `make run` (the main job) and `make test` (lint, types, tests).
# Both bootstrap first; the bootstrap skips whatever is already in place.
.PHONY: run test bootstrap lint types unit integration bench clean

PY := .venv/bin/python


bootstrap:
	@scripts/bootstrap

run: bootstrap
	@scripts/run

test: bootstrap lint types
	$(PY) -m pytest

lint:
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

types:
	$(PY) -m mypy

bench: bootstrap
	$(PY) benchmarks/card_ops.py

clean:
	rm -rf .venv .mypy_cache .ruff_cache .pytest_cache .hypothesis
