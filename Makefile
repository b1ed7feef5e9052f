# The two commands: `make run` and `make test`. Everything else is a helper.
PRESET ?= release
BUILD_DIR := build/$(PRESET)
JOBS ?= $(shell nproc)
CONFIG ?=

.PHONY: all deps configure build run test test-asan bench bench-peers bench-bandwidth package docs clean

all: build

deps:
	@scripts/install-deps

configure: deps
	@cmake --preset $(PRESET) >/dev/null

build: configure
	@cmake --build --preset $(PRESET) -j $(JOBS)

# `make run` builds only the daemon; CONFIG=path runs another configuration.
run: configure
	@cmake --build --preset $(PRESET) -j $(JOBS) --target edgeflow
	$(BUILD_DIR)/edgeflow run $(if $(CONFIG),-c $(CONFIG))

test: build
	@cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS) --timeout 300

test-asan:
	@$(MAKE) test PRESET=asan

bench-peers: build
	@scripts/bench-peers $(BUILD_DIR)/edgeflow

bench: build
	@scripts/bench-replay $(BUILD_DIR)/edgeflow

bench-bandwidth: build
	@scripts/bench-bandwidth $(BUILD_DIR)

# The Debian package (build/release/package/edgeflow_<version>_<arch>.deb).
package: build
	@cd $(BUILD_DIR) && cpack -G DEB

docs: build
	@$(BUILD_DIR)/edgeflow docs > docs/configuration.md

clean:
	rm -rf build
