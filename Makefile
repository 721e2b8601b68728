.PHONY: test emulators run lint package

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

# Lambda artefacts: sam build of every function into .aws-sam/build (arm64; ARCH=x86_64 for
# x86_64). Installs its pinned tools into infra/.venv-package. Then `sam deploy --guided`.
package:
	ARCH="$(ARCH)" bash infra/package.sh
