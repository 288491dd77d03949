#!/usr/bin/env bash
# Builds the control-plane binaries that envtest and the local system use,
# from source, through the Go module proxy: kube-apiserver from
# k8s.io/kubernetes and etcd from go.etcd.io/etcd/server/v3. Nothing is
# downloaded as a binary. Each binary is built only when it is missing from
# the output directory, so a warm machine pays nothing.
#
# Usage: hack/build-control-plane.sh [output-dir]   (default: bin/k8s)
set -euo pipefail

KUBERNETES_VERSION="${KUBERNETES_VERSION:-v1.37.2}"
STAGING_VERSION="${STAGING_VERSION:-v0.${KUBERNETES_VERSION#v1.}}"
ETCD_VERSION="${ETCD_VERSION:-v3.6.16}"

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${1:-${root}/bin/k8s}"
mkdir -p "${out}"
out="$(cd "${out}" && pwd)"

work="$(mktemp -d)"
trap 'rm -rf "${work}"' EXIT

# Static, stripped binaries; the Go build cache makes a rebuild cheap.
export CGO_ENABLED=0 GOFLAGS="${GOFLAGS:-} -mod=mod"
ldflags="-s -w"

build_kube_apiserver() {
  local dir="${work}/kube-apiserver"
  mkdir -p "${dir}"
  echo ">> building kube-apiserver ${KUBERNETES_VERSION} (staging modules ${STAGING_VERSION}); a cold build takes several minutes"
  # k8s.io/kubernetes requires its staging modules at v0.0.0 and points them
  # at ./staging with replace directives that do not apply to a dependent
  # module. Read that list from the published go.mod and pin each staging
  # module to its published release instead.
  local gomod
  gomod="$(cd "${dir}" && go mod download -json "k8s.io/kubernetes@${KUBERNETES_VERSION}" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')"
  local staging
  staging="$(sed -n 's#^[[:space:]]*\(k8s\.io/[a-z0-9-]*\) => \./staging/.*#\1#p' "${gomod}")"
  {
    echo "module localbuild/kube-apiserver"
    echo
    echo "go $(go env GOVERSION | sed 's/^go\([0-9]*\.[0-9]*\).*/\1/')"
    echo
    echo "require k8s.io/kubernetes ${KUBERNETES_VERSION}"
    echo
    echo "replace ("
    for m in ${staging}; do echo "	${m} => ${m} ${STAGING_VERSION}"; done
    echo ")"
  } > "${dir}/go.mod"
  # The wrapper has no code of its own: with -mod=mod, building the
  # dependency's main package fills in the requirements it needs.
  # Stamp the version, as the Kubernetes release build does, so that
  # /version and kubectl report v1.37.2 rather than v0.0.0-master.
  local minor="${KUBERNETES_VERSION#v1.}"; minor="${minor%%.*}"
  local v="k8s.io/component-base/version"
  local stamp="-X ${v}.gitVersion=${KUBERNETES_VERSION} -X ${v}.gitMajor=1 -X ${v}.gitMinor=${minor} -X ${v}.gitTreeState=clean"
  (cd "${dir}" && go build -trimpath -ldflags "${ldflags} ${stamp}" -o "${out}/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver)
}

build_etcd() {
  local dir="${work}/etcd"
  mkdir -p "${dir}"
  echo ">> building etcd ${ETCD_VERSION}"
  cat > "${dir}/go.mod" <<GOMOD
module localbuild/etcd

go $(go env GOVERSION | sed 's/^go\([0-9]*\.[0-9]*\).*/\1/')

require go.etcd.io/etcd/server/v3 ${ETCD_VERSION}
GOMOD
  cat > "${dir}/main.go" <<'GO'
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
  (cd "${dir}" && go mod tidy && go build -trimpath -ldflags "${ldflags}" -o "${out}/etcd" .)
}

[[ -x "${out}/etcd" ]] || build_etcd
[[ -x "${out}/kube-apiserver" ]] || build_kube_apiserver
echo ">> control plane binaries in ${out}"
