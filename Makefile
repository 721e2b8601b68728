.PHONY: test emulators run lint

# Full suite: emulators + fmt + clippy + build + cargo test + cfn-lint (what CI runs).
test:
	bash infra/test.sh

# Start the local stand-ins only; `source target/emulators/env.sh` in another shell.
emulators:
	bash infra/test.sh --emulators-only

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

run:
	cargo run -p authgate -- serve
