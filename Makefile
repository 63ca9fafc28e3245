# Release Passport — build, test and generate.
# `make test` is the one command that decides green (CI runs it through .ci/run).

CARGO ?= cargo
CRD_DIRS := crds config/crd/bases charts/release-passport/crds

.PHONY: test lint unit deps crds demo bench

## Everything CI runs: formatting, lints, then every test tier on one debug build.
test: deps lint unit

## Installs what the tests need when it is missing (a fresh machine of this kind has cargo,
## rustfmt, clippy and kubectl; later tiers add their packages here).
deps:
	@command -v kubectl >/dev/null || { echo "kubectl is required (it ships with this machine's image)"; exit 1; }

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets -- -D warnings

unit:
	$(CARGO) test

## Regenerates the CRDs from the Rust types into every place that carries them.
crds:
	$(CARGO) build --bin passport
	for d in $(CRD_DIRS); do ./target/debug/passport crd --out-dir $$d; done

demo:
	$(CARGO) run --release -- demo

bench:
	$(CARGO) bench --bench engine
