# The two commands a newcomer needs: `make run` and `make test`.
SHELL := /bin/bash
export PATH := $(HOME)/.cargo/bin:$(PATH)

.PHONY: run test setup lint fuzz

## Bring up PostgreSQL and OpenBLAS, then serve the API on 127.0.0.1:8080.
run: setup
	cargo run --release -- serve

## The same bring-up and the browser the dashboard tests drive, then the whole test suite (each
## test gets its own database), the Python client's tests against a real server, and the fuzzer,
## both on the binary the suite built (a plain `cargo build` would resolve other features and
## compile it again).
test:
	./scripts/setup-local.sh --drop-test-databases
	./scripts/setup-browser.sh
	if cargo nextest --version >/dev/null 2>&1; then \
		cargo nextest run --all-targets --no-fail-fast; \
	else \
		cargo test --all-targets --no-fail-fast; \
	fi
	SIMBENCH_BIN=$(CURDIR)/target/debug/simbench ./scripts/test-python-client.sh
	SIMBENCH_BIN=$(CURDIR)/target/debug/simbench ./scripts/fuzz.sh

## About two minutes of schemathesis against a real server on a scratch database.
fuzz: setup
	./scripts/fuzz.sh

setup:
	./scripts/setup-local.sh

## Formatting and lints, as CI checks them.
lint:
	cargo fmt --all -- --check
	cargo clippy --all-targets -- -D warnings
