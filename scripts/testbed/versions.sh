# Pinned versions of the test bed's parts; install.sh builds each once and caches it by version.
GO_MIN=1.24
KUBERNETES_VERSION=v1.34.4   # kube-apiserver and kubectl
ETCD_VERSION=v3.6.16         # the etcd line Kubernetes 1.34 is tested with
CRANE_VERSION=v0.22.1
COSIGN_VERSION=v3.1.3
FULCIO_VERSION=v1.8.8        # github.com/sigstore/fulcio: go.mod has no replace directives; run with an ephemeral CA for keyless tests
TIMESTAMP_AUTHORITY_VERSION=v2.1.3   # github.com/sigstore/timestamp-authority/v2: RFC 3161 TSA, in-memory signer in tests; v2.1.4+ needs Go 1.27
REKOR_TILES_VERSION=v2.3.0   # github.com/sigstore/rekor-tiles/v2: Rekor v2 on POSIX storage (no Trillian, no database); v2.4+ needs Go 1.27
TESSERACT_VERSION=v0.1.1     # github.com/transparency-dev/tesseract: a static-ct-api CT log on POSIX storage, for Fulcio's SCTs
HELM_VERSION=v4.3.1          # helm.sh/helm/v4: go.mod has no replace directives, so `go install` builds it
DEBIAN_PACKAGES="docker-registry skopeo apache2-utils openssl ca-certificates lua5.4 zsh fish prometheus"   # zsh, fish: hoist completion is tested in them; prometheus: alert and dashboard tests
KPROMO_VERSION=v4.5.1        # sigs.k8s.io/promo-tools/v4: its parser, built into scripts/testbed/kpromo-edges for the parity test
REGSYNC_VERSION=v0.11.7      # github.com/regclient/regclient/cmd/regsync: the benchmarks' peer (install.sh bench, not in all); needs Go 1.26
