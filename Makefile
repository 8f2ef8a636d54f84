# The verbs of the project. `make run` and `make test` are all a newcomer needs.
SHELL := /bin/bash
VENV := .venv
PY_TOOLS := 'moto[server]>=5.0,<6' 'cfn-lint>=1,<2' 'schemathesis>=4.30,<5' 'aws-sam-translator>=1.115,<2' \
	'pyjwt[crypto]>=2.10,<3'
# aws-sam-cli pins its own boto3, cfn-lint and translator: it gets a virtual environment of its own.
SAM_VENV := .venv-sam
SAM_TOOLS := 'aws-sam-cli>=1.170,<2' 'cargo-lambda>=1.9,<2' 'ziglang>=0.13,<0.15'
SAM := PATH=$(CURDIR)/$(SAM_VENV)/bin:$$PATH SAM_CLI_TELEMETRY=0 sam
LAMBDA_TOOLS := 'cargo-lambda>=1.9,<2' 'ziglang>=0.13,<0.15'
# The bench's Python peer of the loans function (tests/peer/), under the same CPU quota.
PEER_VENV := .venv-peer
PEER_TOOLS := 'aws-lambda-powertools>=3,<4' 'boto3>=1.35,<2' 'pyjwt[crypto]>=2.10,<3'
CARGO_TEST := cargo test --locked
MOTO := MOTO_PYTHON=$(CURDIR)/$(VENV)/bin/python
# Local configuration for `cargo lambda watch` / `make invoke`: the same files `make run` uses.
LOCAL_ENV := BACKEND=embedded DATABASE_PATH=$(CURDIR)/.local/api.db OUTBOX_PATH=$(CURDIR)/.local/outbox.jsonl \
	BLOB_DIR=$(CURDIR)/.local/blobs LOCAL_SECRET=$$(cat $(CURDIR)/.local/secret) \
	PUBLIC_BASE_URL=http://127.0.0.1:3000
ADMIN := cargo run --locked -q -p local --bin fintract-admin --
# One Lambda function per binary in functions/src/bin/, named as in the route registry.
FUNCTIONS := $(basename $(notdir $(wildcard functions/src/bin/*.rs)))

.PHONY: rehearse rehearse-one chromium bench bench-full bench-tools run test test-embedded test-aws lint lint-template fmt setup setup-lambda build zip watch invoke deploy clean

## Serve every route on http://127.0.0.1:3000 with the embedded backend and demo data.
run:
	cargo run --locked -p local --bin local-gateway

## Unit tests, static checks and the deploy rehearsal, boot tests of every function binary, and
## the acceptance suite on both backends, then once more on AWS with each function's IAM policy.
test: $(VENV)/.ready chromium lint-template
	$(CARGO_TEST) --workspace --exclude acceptance
	cargo build --locked --workspace --bins
	@echo "== static checks, the deploy rehearsal, and boot tests of every function binary =="
	$(MOTO) $(CARGO_TEST) -p acceptance -- --skip ::embedded:: --skip ::aws:: --skip ::iam::
	@echo "== acceptance suite on the embedded backend (SQLite) =="
	$(CARGO_TEST) -p acceptance -- ::embedded::
	@echo "== acceptance suite on the AWS backend (DynamoDB, S3, SES, SNS in moto) =="
	$(MOTO) $(CARGO_TEST) -p acceptance -- ::aws::
	@echo "== the AWS backend again, IAM enforced: each function holds only its template policy =="
	$(MOTO) $(CARGO_TEST) -p acceptance -- ::iam::
	@echo "== sam validate --lint, and sam build of one function (LTO off) =="
	$(MAKE) --no-print-directory rehearse-one

test-embedded:
	$(CARGO_TEST) -p acceptance -- ::embedded::

test-aws: $(VENV)/.ready
	$(MOTO) $(CARGO_TEST) -p acceptance -- ::aws::

## The SAM template must lint clean (cfn-lint exits non-zero on errors and warnings).
lint-template: $(VENV)/.ready
	$(VENV)/bin/cfn-lint template.yaml

## Debian's Chromium for the browser tests: installed when missing and this user can (root with
## apt-get), else one line says what to run. Never a browser downloaded by a tool.
chromium:
	@command -v chromium >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; \
	  else echo "The browser tests need Chromium: run 'sudo apt-get install -y chromium' once, then make test."; exit 1; fi; }

## The SAM CLI, cargo-lambda and Zig in their own virtual environment, and the arm64 target.
$(SAM_VENV)/.ready: Makefile
	python3 -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install --quiet --disable-pip-version-check $(SAM_TOOLS)
	rustup target add aarch64-unknown-linux-gnu
	touch $@

## The deploy rehearsal's build: `sam validate --lint`, then `sam build` of every function as it
## is deployed (release, arm64, fat LTO): .aws-sam/build/<Function>/bootstrap. About an hour on
## 2 cores (17 fat-LTO links); `make test` checks the transformed template in seconds.
rehearse: $(SAM_VENV)/.ready
	$(SAM) validate --lint
	$(SAM) build
	@ls -l .aws-sam/build/*/bootstrap

## What `make test` runs of it: the same pipeline for one function with LTO off (minutes).
rehearse-one: $(SAM_VENV)/.ready
	$(SAM) validate --lint
	CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 \
		$(SAM) build TokenFunction --build-dir target/sam-one
	@test -x target/sam-one/TokenFunction/bootstrap && ls -l target/sam-one/TokenFunction/bootstrap

## Python tools (the AWS emulator, cfn-lint) in a virtual environment inside the repository.
setup: $(VENV)/.ready

# Re-run when the tool list changes, so an existing checkout gets new tools too.
$(VENV)/.ready: Makefile

	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check $(PY_TOOLS)
	touch $@

## cargo-lambda and Zig (for arm64 cross-builds), from PyPI, into the same environment.
setup-lambda: $(VENV)/.lambda-ready

$(VENV)/.lambda-ready: $(VENV)/.ready
	$(VENV)/bin/pip install --quiet --disable-pip-version-check $(LAMBDA_TOOLS)
	rustup target add aarch64-unknown-linux-gnu
	touch $@

## target/lambda/<fn>/bootstrap for every function: release, arm64 (provided.al2023).
build: $(VENV)/.lambda-ready
	PATH=$(CURDIR)/$(VENV)/bin:$$PATH cargo lambda build --release --arm64 -p functions $(addprefix --bin ,$(FUNCTIONS))

## Zipped artifacts and their sizes (the 5 MB budget).
zip: build
	@for f in $(FUNCTIONS); do (cd target/lambda/$$f && rm -f bootstrap.zip && zip -q -9 bootstrap.zip bootstrap && \
		printf '%-20s %8d bytes zipped\n' $$f $$(stat -c %s bootstrap.zip)); done

.local/secret:
	@mkdir -p .local && head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > $@ && chmod 600 $@

## Run the functions under cargo lambda's local Lambda emulator (then `make invoke FN=…`).
watch: $(VENV)/.lambda-ready .local/secret
	$(LOCAL_ENV) $(ADMIN) seed-demo
	$(LOCAL_ENV) PATH=$(CURDIR)/$(VENV)/bin:$$PATH cargo lambda watch

## Invoke one function with its events/ file; demo tokens are filled in from the local database.
invoke: $(VENV)/.lambda-ready .local/secret
	@test -n "$(FN)" || { echo "usage: make invoke FN=<one of: $(FUNCTIONS)>"; exit 2; }
	@mkdir -p target
	@$(LOCAL_ENV) $(ADMIN) seed-demo >/dev/null
	@sed -e "s|__ACCESS_TOKEN__|$$($(LOCAL_ENV) $(ADMIN) demo-token jblunt)|" \
	     -e "s|__REFRESH_TOKEN__|$$($(LOCAL_ENV) $(ADMIN) demo-token jblunt refresh)|" \
	     -e "s|__ADMIN_TOKEN__|$$($(LOCAL_ENV) $(ADMIN) demo-token admin)|" events/$(FN).json > target/invoke-$(FN).json
	PATH=$(CURDIR)/$(VENV)/bin:$$PATH cargo lambda invoke $(FN) --data-file target/invoke-$(FN).json

## Performance budgets (ARCHITECTURE.md §10): prints the table and writes target/bench/report.md.
## The production path (TLS, CPU quotas) covers loans here; `make bench-full` covers every function.
bench: bench-tools
	$(MOTO) target/perf/bench

bench-full: bench-tools
	$(MOTO) BENCH_FULL=1 target/perf/bench

bench-tools: $(VENV)/.ready $(PEER_VENV)/.ready
	@command -v wrk >/dev/null || { apt-get update -q && apt-get install -y -q wrk; }
	@command -v openssl >/dev/null || { apt-get update -q && apt-get install -y -q openssl; }
	cargo build --locked --profile perf --workspace --bins

$(PEER_VENV)/.ready: Makefile
	python3 -m venv $(PEER_VENV)
	$(PEER_VENV)/bin/pip install --quiet --disable-pip-version-check $(PEER_TOOLS)
	touch $@

## Deploy with SAM (from .venv-sam; AWS credentials of the target account); see README.
deploy: $(SAM_VENV)/.ready
	$(SAM) build && $(SAM) deploy

lint:
	cargo fmt --all -- --check
	cargo clippy --locked --all-targets -- -D warnings

fmt:
	cargo fmt --all

clean:
	rm -rf target .local .aws-sam $(VENV) $(SAM_VENV) $(PEER_VENV)
