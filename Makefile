# The two commands: `make run` and `make test`. Everything else is a helper.
PRESET ?= release
BUILD_DIR := build/$(PRESET)
JOBS ?= $(shell nproc)
CONFIG ?=

# Paths under the source tree are hashed relative to it: the release, lean and
# other build directories share compiler-cache entries.
export CCACHE_BASEDIR := $(CURDIR)

.PHONY: all deps configure build run test test-native test-lean test-asan cross-arm64 bench bench-peers bench-p99 bench-bandwidth package docs clean

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

# Every test: the native build's, the lean build's, then the aarch64 build's
# unit tests under qemu.
test: test-native test-lean cross-arm64

test-native: build
	@cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS) --timeout 300

# aarch64 cross build (Debian's cross compiler, arm64 libraries unpacked into
# build/sysroot-arm64) and its unit tests under qemu-aarch64.
cross-arm64: deps
	@scripts/arm64-sysroot
	@cmake --preset arm64 >/dev/null
	@cmake --build --preset arm64 -j $(JOBS)
	@ctest --preset arm64 -j $(JOBS)

# The lean build: API, Modbus and GPIO left out (docs/packaging.md).
test-lean: deps
	@cmake --preset lean >/dev/null
	@cmake --build --preset lean -j $(JOBS)
	@ctest --preset lean -j $(JOBS)

test-asan:
	@$(MAKE) test-native PRESET=asan

bench-peers: build
	@scripts/bench-peers $(BUILD_DIR)/edgeflow

bench-p99: build
	@scripts/bench-p99 $(BUILD_DIR)/edgeflow

bench: build
	@scripts/bench-replay $(BUILD_DIR)/edgeflow

bench-bandwidth: build
	@scripts/bench-bandwidth $(BUILD_DIR)

# The Debian packages (build/release/package/edgeflow{,-ml,-vision}_<version>_<arch>.deb).
package: build
	@cd $(BUILD_DIR) && cpack -G DEB

docs: build
	@$(BUILD_DIR)/edgeflow docs > docs/configuration.md

clean:
	rm -rf build
