# The two commands: `make run` and `make test`. Everything else is a helper.
PRESET ?= release
BUILD_DIR := build/$(PRESET)
JOBS ?= $(shell nproc)
CONFIG ?= examples/demo.yaml

.PHONY: all deps build run test test-asan bench docs clean

all: build

deps:
	@scripts/install-deps

build: deps
	@cmake --preset $(PRESET) >/dev/null
	@cmake --build --preset $(PRESET) -j $(JOBS)

run: build
	$(BUILD_DIR)/edgeflow run -c $(CONFIG)

test: build
	@cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS) --timeout 300

test-asan:
	@$(MAKE) test PRESET=asan

bench: build
	@scripts/bench-replay $(BUILD_DIR)/edgeflow

docs: build
	@$(BUILD_DIR)/edgeflow docs > docs/configuration.md

clean:
	rm -rf build
