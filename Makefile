# Hoard — see README.md. `make help` lists the targets.
SHELL := /usr/bin/env bash -o pipefail
.SHELLFLAGS := -ec
.DEFAULT_GOAL := help

ROOT := $(abspath .)
BIN  := $(ROOT)/bin
export PATH := $(BIN):$(PATH)

# Each feature area lives in mk/<area>.mk and adds its test target to TEST_TARGETS, so that
# `make test` runs every tier.
TEST_TARGETS :=
include $(sort $(wildcard mk/*.mk))

##@ General

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"} /^[a-zA-Z0-9_.-]+:.*?##/ { printf "  \033[36m%-22s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) }' $(MAKEFILE_LIST)

##@ Test

.PHONY: test
test: $(TEST_TARGETS) ## Run every test tier (what CI runs).
	@echo "make test: all tiers passed ($(TEST_TARGETS))"
