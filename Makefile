# Milestone Triggers operator. `make help` lists the targets.

# Tool and control-plane versions, pinned.
CONTROLLER_TOOLS_VERSION ?= v0.23.0
GOLANGCI_LINT_VERSION ?= v2.15.0
KUBERNETES_VERSION ?= v1.37.2
ETCD_VERSION ?= v3.6.16

LOCALBIN ?= $(CURDIR)/bin
CONTROLLER_GEN ?= $(LOCALBIN)/controller-gen-$(CONTROLLER_TOOLS_VERSION)
GOLANGCI_LINT ?= $(LOCALBIN)/golangci-lint-$(GOLANGCI_LINT_VERSION)
# envtest and the local system read kube-apiserver and etcd from here.
CONTROL_PLANE_DIR ?= $(LOCALBIN)/k8s
export KUBEBUILDER_ASSETS ?= $(CONTROL_PLANE_DIR)

IMG ?= ghcr.io/leadvibe/milestone-triggers-operator:dev
GO_TEST_FLAGS ?= -race -count=1
FUZZTIME ?= 10s

SHELL := /usr/bin/env bash -o pipefail
.SHELLFLAGS := -ec

.PHONY: all
all: build

##@ General

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"; printf "Usage: make <target>\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  %-16s %s\n", $$1, $$2 } /^##@/ { printf "\n%s\n", substr($$0, 5) }' $(MAKEFILE_LIST)

##@ Development

.PHONY: manifests
manifests: $(CONTROLLER_GEN) ## Generate the CRD and the RBAC role from the API markers.
	$(CONTROLLER_GEN) rbac:roleName=manager-role crd paths="./..." output:crd:artifacts:config=config/crd/bases

.PHONY: generate
generate: $(CONTROLLER_GEN) ## Generate the DeepCopy methods.
	$(CONTROLLER_GEN) object:headerFile="hack/boilerplate.go.txt" paths="./..."

.PHONY: fmt
fmt: ## Run gofmt.
	gofmt -l -w .

.PHONY: vet
vet: ## Run go vet.
	go vet ./...

.PHONY: lint
lint: $(GOLANGCI_LINT) ## Run golangci-lint (configured in .golangci.yml) on the whole tree, tests included.
	$(GOLANGCI_LINT) run ./...

.PHONY: lint-fix
lint-fix: $(GOLANGCI_LINT) ## Run golangci-lint and apply the fixes it can make.
	$(GOLANGCI_LINT) run --fix ./...

.PHONY: test
test: control-plane ## Run all tests: unit, envtest suites against the source-built kube-apiserver and etcd, then the end-to-end and fault suite.
	go test $(GO_TEST_FLAGS) $$(go list ./... | grep -v /test/e2e)
	@# Verbose, so that the fault tests' counts show in the output.
	go test $(GO_TEST_FLAGS) -v ./test/e2e/

.PHONY: fuzz
fuzz: ## Run every fuzz target for FUZZTIME (default 10s) each, after `make test` has run their seed corpora.
	FUZZTIME=$(FUZZTIME) hack/fuzz.sh

##@ Build

.PHONY: build
build: ## Build the operator binary into bin/manager.
	go build -buildvcs=auto -o $(LOCALBIN)/manager .

.PHONY: local
local: build control-plane ## Bring up a complete local system (control plane, CRD, demo OU, operator, SMTP sink, webhook receiver); Ctrl-C stops it.
	go build -buildvcs=auto -o $(LOCALBIN)/local ./hack/local
	$(LOCALBIN)/local --assets $(CONTROL_PLANE_DIR) --manager $(LOCALBIN)/manager --state-dir $(LOCALBIN)/local-state

.PHONY: docker-build
docker-build: ## Build the container image (needs a Docker engine, which this machine has not).
	docker build -t $(IMG) .

##@ Tools

.PHONY: control-plane
control-plane: $(CONTROL_PLANE_DIR)/kube-apiserver $(CONTROL_PLANE_DIR)/etcd ## Build kube-apiserver and etcd from source when missing.

$(CONTROL_PLANE_DIR)/kube-apiserver $(CONTROL_PLANE_DIR)/etcd:
	KUBERNETES_VERSION=$(KUBERNETES_VERSION) ETCD_VERSION=$(ETCD_VERSION) hack/build-control-plane.sh $(CONTROL_PLANE_DIR)

$(CONTROLLER_GEN):
	GOBIN=$(LOCALBIN) go install sigs.k8s.io/controller-tools/cmd/controller-gen@$(CONTROLLER_TOOLS_VERSION)
	mv $(LOCALBIN)/controller-gen $(CONTROLLER_GEN)

.PHONY: golangci-lint
golangci-lint: $(GOLANGCI_LINT) ## Build golangci-lint from source when missing.

$(GOLANGCI_LINT):
	GOBIN=$(LOCALBIN) go install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)
	mv $(LOCALBIN)/golangci-lint $(GOLANGCI_LINT)
