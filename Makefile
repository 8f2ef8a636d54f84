# The verbs of the project. `make run` and `make test` are all a newcomer needs.
SHELL := /bin/bash
VENV := .venv
PY_TOOLS := 'moto[server]>=5.0,<6'
CARGO_TEST := cargo test --locked

.PHONY: run test test-unit test-embedded test-aws lint fmt setup clean

## Serve every route on http://127.0.0.1:3000 with the embedded backend and demo data.
run:
	cargo run --locked -p local --bin local-gateway

## Unit tests, static checks, and the acceptance suite on both backends.
test: $(VENV)/.ready
	$(CARGO_TEST) --workspace --exclude acceptance
	$(CARGO_TEST) -p acceptance -- --skip ::embedded:: --skip ::aws::
	@echo "== acceptance suite on the embedded backend (SQLite) =="
	$(CARGO_TEST) -p acceptance -- ::embedded::
	@echo "== acceptance suite on the AWS backend (DynamoDB in moto_server) =="
	MOTO_PYTHON=$(CURDIR)/$(VENV)/bin/python $(CARGO_TEST) -p acceptance -- ::aws::

test-embedded:
	$(CARGO_TEST) -p acceptance -- ::embedded::

test-aws: $(VENV)/.ready
	MOTO_PYTHON=$(CURDIR)/$(VENV)/bin/python $(CARGO_TEST) -p acceptance -- ::aws::

## Python tools (the AWS emulator) in a virtual environment inside the repository.
setup: $(VENV)/.ready

$(VENV)/.ready:
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check $(PY_TOOLS)
	touch $@

lint:
	cargo fmt --all -- --check
	cargo clippy --locked --all-targets -- -D warnings

fmt:
	cargo fmt --all

clean:
	rm -rf target .local $(VENV)
