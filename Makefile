# sand-boxer: every target works on a fresh Debian machine where you are root.
SHELL := /bin/bash
APT_PACKAGES := bubblewrap util-linux e2fsprogs openssh-server openssh-client rsync zstd podman podman-compose runc packer busybox-static \
  postgresql chromium b3sum tmux openssl zsh fish
PREFIX ?= /usr/local

.PHONY: all setup deps apt npm build check lint format typecheck test bench demo install clean smoke-remote verify-remote-build registry examples screenshots

all: build

# One-time setup of a fresh machine: system packages, npm packages, the bundle.
setup: deps build

# Install the system packages the real components need (idempotent; skipped when present).
apt:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing" >&2; \
	  if [ "$$(id -u)" -ne 0 ]; then SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

# The lockfile is complete (package.json pins cbor-extract to a version whose
# per-platform packages all exist in the registry), so a fresh clone gets exactly it.
node_modules/.package-lock.json: package-lock.json package.json
	npm ci --no-audit --no-fund
	@touch $@

npm: node_modules/.package-lock.json

deps: apt npm

# Rebuilt only when a source, the build script or the installed packages change.
dist/cli.js: node_modules/.package-lock.json $(shell find src -name '*.ts') scripts/build.mjs
	node scripts/build.mjs

# Declarations for the package entry (the typed client and SDK); tsc takes about a minute.
dist/types/index.d.ts: $(shell find src -name '*.ts') tsconfig.json tsconfig.types.json scripts/build-types.mjs | dist/cli.js
	node scripts/build-types.mjs

build: dist/cli.js dist/types/index.d.ts

lint: npm
	npx biome check src test bench scripts
	node scripts/check-imports.mjs

# The formatter (biome; `make lint` checks it).
format: npm
	npx biome format --write src test bench scripts

typecheck: npm
	npx tsc --noEmit -p .

test: deps build
	npx vitest run

check: lint typecheck test

bench: deps build
	npx tsx bench/run.ts $(ARGS)

# The operators' remote-build shim, proven against a loopback "VM" (sshd on 127.0.0.1).
verify-remote-build: deps build
	sh integrations/custodian/verify-remote-build.sh

# The capability registry's machine-readable twin, regenerated from the code
# (registry/capabilities/execution.sandbox-provision.yaml; test/contracts/registry.test.ts checks it).
registry: build
	npx tsx scripts/registry.ts

# The JSON examples of docs/integrations/, produced by the contract tests and copied into the pages.
examples: deps build
	SANDBOXER_WRITE_EXAMPLES=1 npx vitest run test/contracts
	node scripts/integration-examples.mjs

# The dashboard screenshots of docs/ui/, taken by the browser tests.
screenshots: deps build
	SANDBOXER_WRITE_SCREENSHOTS=1 npx vitest run test/ui-browser.test.ts test/ui-pools-browser.test.ts

demo: deps build
	@bash scripts/demo.sh

install: build
	ln -sf "$(CURDIR)/bin/sandboxer" "$(PREFIX)/bin/sandboxer"
	@echo "sandboxer -> $(PREFIX)/bin/sandboxer"

clean:
	rm -rf dist

# The canary + one compose create/destroy against $SANDBOXER_HOST (an SSH host
# of the inventory). Runbooks: docs/runbooks/sandbox-canary.md, compose-e2e.md.
smoke-remote: build
	@bash scripts/smoke-remote.sh
