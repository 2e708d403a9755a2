#!/usr/bin/env bash
# Installs every part of Hoist's test bed, idempotently, into a per-machine cache:
#   Debian: docker-registry (CNCF distribution), skopeo, htpasswd, openssl, lua5.4, zsh and fish,
#   prometheus (promtool)
#   Go modules, pinned: crane, cosign, helm, fulcio, timestamp-server, rekor-server-posix (Rekor v2),
#   tesseract-posix (CT log), etcd, kube-apiserver (built once, cached per version)
#   kpromo-edges: kpromo's own manifest parser (sigs.k8s.io/promo-tools/v4), for the parity test
#   optional, not in `all`: `install.sh bench` adds peer tools only the benchmarks use (regsync)
# A second run finds everything cached and takes a few seconds.
#
# Cache: $HOIST_TESTBED_CACHE (default ~/.cache/hoist-testbed); binaries land in $CACHE/bin.
# First run on 2 cores: ~15-20 min (kube-apiserver dominates), ~4 GB of Go caches.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=versions.sh
. "$here/versions.sh"

cache=${HOIST_TESTBED_CACHE:-$HOME/.cache/hoist-testbed}
bin="$cache/bin"
mkdir -p "$bin" "$cache/build"

log() { printf '[testbed] %s\n' "$*" >&2; }

need_go() {
  command -v go >/dev/null || { log "go is not installed: install Go ${GO_MIN} or newer"; exit 1; }
}

install_debian() {
  local missing=()
  for pkg in $DEBIAN_PACKAGES; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "apt-get install ${missing[*]}"
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# go install a tool at a pinned version into $cache/tools/<name>-<version>/, link it into $bin.
# A package whose last path element is not the tool's name (rekor-tiles' .../posix) is renamed.
install_go_tool() {
  local name=$1 pkg=$2 version=$3
  local dir="$cache/tools/$name-$version"
  if [ ! -x "$dir/$name" ]; then
    need_go
    log "go install $pkg@$version"
    mkdir -p "$dir"
    GOBIN="$dir" CGO_ENABLED=0 GOFLAGS=-trimpath go install "$pkg@$version"
    local built=${pkg##*/}
    [ "$built" = "$name" ] || mv "$dir/$built" "$dir/$name"
  fi
  ln -sf "$dir/$name" "$bin/$name"
}

# etcd's server module carries local replace directives, so it cannot be go-installed;
# a throwaway module that requires it builds fine because its requires are real versions.
install_etcd() {
  local dir="$cache/tools/etcd-$ETCD_VERSION"
  if [ ! -x "$dir/etcd" ]; then
    need_go
    log "building etcd $ETCD_VERSION (a few minutes the first time)"
    local mod="$cache/build/etcd-$ETCD_VERSION"
    rm -rf "$mod" && mkdir -p "$mod" "$dir"
    (
      cd "$mod"
      go mod init hoist.dev/testbed/etcd >/dev/null 2>&1
      go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION" >/dev/null 2>&1
      CGO_ENABLED=0 go build -trimpath -o "$dir/etcd" go.etcd.io/etcd/server/v3
    )
  fi
  ln -sf "$dir/etcd" "$bin/etcd"
}

# k8s.io/kubernetes requires its staging modules at v0.0.0 with replace directives that only
# work in the main module (kubernetes/kubernetes#79384). A throwaway main module replaces each
# of them with its published v0.N.P, read from the release's own go.mod.
install_kube_apiserver() {
  local version=$KUBERNETES_VERSION
  local dir="$cache/tools/kube-apiserver-$version"
  if [ ! -x "$dir/kube-apiserver" ]; then
    need_go
    log "building kube-apiserver and kubectl $version (10-15 minutes the first time on 2 cores)"
    local mod="$cache/build/kube-apiserver-$version"
    rm -rf "$mod" && mkdir -p "$mod" "$dir"
    local staging="v0.${version#v1.}"
    (
      cd "$mod"
      go mod init hoist.dev/testbed/kube-apiserver >/dev/null 2>&1
      local gomod
      gomod=$(go mod download -json "k8s.io/kubernetes@$version" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
      [ -f "$gomod" ] || { log "could not download k8s.io/kubernetes@$version"; exit 1; }
      local args=()
      while read -r m; do args+=("-replace=$m=$m@$staging"); done \
        < <(awk '/^\t?k8s\.io\/[a-z0-9-]+ v0\.0\.0$/ {print $1}' "$gomod" | sort -u)
      [ ${#args[@]} -gt 10 ] || { log "found only ${#args[@]} staging modules in $gomod"; exit 1; }
      go mod edit "${args[@]}"
      go mod edit -require="k8s.io/kubernetes@$version"
      cat > tools.go <<'EOF'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
EOF
      go mod tidy >/dev/null 2>&1 || go mod tidy
      local pkg=k8s.io/component-base/version cpkg=k8s.io/client-go/pkg/version
      local major=1 minor=${version#v1.}; minor=${minor%%.*}
      local ld="-s -w"
      for p in $pkg $cpkg; do
        ld+=" -X $p.gitVersion=$version -X $p.gitMajor=$major -X $p.gitMinor=$minor -X $p.gitTreeState=clean"
      done
      CGO_ENABLED=0 go build -trimpath -ldflags "$ld" -o "$dir/kubectl" k8s.io/kubernetes/cmd/kubectl
      CGO_ENABLED=0 go build -trimpath -ldflags "$ld" -o "$dir/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver
    )
  fi
  # kubectl of the cluster's own version, so tests never depend on whatever the machine has.
  ln -sf "$dir/kube-apiserver" "$bin/kube-apiserver"
  ln -sf "$dir/kubectl" "$bin/kubectl"
}

# kpromo-edges (scripts/testbed/kpromo-edges): a small program around kpromo's own parser,
# built against the promo-tools version pinned in its go.mod and cached by a hash of its
# sources. kpromo's testdata comes with the module; it is copied next to the binary so the
# parity test does not depend on the Go module cache.
install_kpromo_edges() {
  local src="$here/kpromo-edges"
  grep -q "sigs.k8s.io/promo-tools/v4 $KPROMO_VERSION\$" "$src/go.mod" \
    || { log "$src/go.mod does not require sigs.k8s.io/promo-tools/v4 $KPROMO_VERSION (versions.sh)"; exit 1; }
  local hash
  hash=$(cat "$src/main.go" "$src/go.mod" "$src/go.sum" | sha256sum | cut -c1-12)
  local dir="$cache/tools/kpromo-edges-$KPROMO_VERSION-$hash"
  if [ ! -x "$dir/kpromo-edges" ]; then
    need_go
    log "building kpromo-edges against sigs.k8s.io/promo-tools/v4 $KPROMO_VERSION"
    rm -rf "$dir.tmp" && mkdir -p "$dir.tmp/testdata"
    (cd "$src" && CGO_ENABLED=0 go build -mod=readonly -trimpath -o "$dir.tmp/kpromo-edges" .)
    local module
    module=$(cd "$src" && go list -m -f '{{.Dir}}' sigs.k8s.io/promo-tools/v4)
    [ -d "$module" ] || { log "sigs.k8s.io/promo-tools/v4 is not in the Go module cache"; exit 1; }
    cp -r "$module/canary" "$dir.tmp/testdata/canary"
    cp -r "$module/image/manifest/testdata/." "$dir.tmp/testdata/"
    chmod -R u+w "$dir.tmp"
    rm -rf "$dir" && mv "$dir.tmp" "$dir"
  fi
  ln -sfn "$dir/kpromo-edges" "$bin/kpromo-edges"
  ln -sfn "$dir/testdata" "$cache/kpromo-testdata"
}

# Sigstore's services beyond Fulcio, for signatures others can verify later: an RFC 3161
# timestamp authority, a Rekor v2 transparency log and a CT log, all on local files.
install_sigstore() {
  install_go_tool timestamp-server "github.com/sigstore/timestamp-authority/v2/cmd/timestamp-server" "$TIMESTAMP_AUTHORITY_VERSION"
  install_go_tool rekor-server-posix "github.com/sigstore/rekor-tiles/v2/cmd/rekor-server/posix" "$REKOR_TILES_VERSION"
  install_go_tool tesseract-posix "github.com/transparency-dev/tesseract/cmd/tesseract/posix" "$TESSERACT_VERSION"
}

# Usage: install.sh [all|tools|sigstore|kube|registries|kpromo|bench]
#   registries: the Debian packages only; bench: peer tools for bench/ (regsync), not part of `all`
main() {
  local only=${1:-all}
  install_debian
  case "$only" in
    all|tools|sigstore|kube|registries|kpromo|bench) ;;
    *) log "unknown part \"$only\": use all, tools, sigstore, kube, registries, kpromo or bench"; exit 2 ;;
  esac
  case "$only" in
    all|tools)
      install_go_tool crane github.com/google/go-containerregistry/cmd/crane "$CRANE_VERSION"
      install_go_tool cosign "github.com/sigstore/cosign/v3/cmd/cosign" "$COSIGN_VERSION"
      install_go_tool helm "helm.sh/helm/v4/cmd/helm" "$HELM_VERSION"
      install_go_tool fulcio "github.com/sigstore/fulcio" "$FULCIO_VERSION"
      ;;&
    all|tools|sigstore)
      install_sigstore
      ;;&
    all|tools|kpromo)
      install_kpromo_edges
      ;;&
    all|kube)
      install_etcd
      install_kube_apiserver
      ;;
    bench)
      # regclient's regsync, a peer of bench/promote.ts and bench/replicate.ts.
      install_go_tool regsync github.com/regclient/regclient/cmd/regsync "$REGSYNC_VERSION"
      ;;
  esac
  log "ready: $(ls "$bin" | tr '\n' ' ')"
  echo "$bin"
}

main "$@"
