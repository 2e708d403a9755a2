# Pinned versions of the test bed's parts; install.sh builds each once and caches it by version.
GO_MIN=1.24
KUBERNETES_VERSION=v1.34.4   # kube-apiserver and kubectl
ETCD_VERSION=v3.6.16         # the etcd line Kubernetes 1.34 is tested with
CRANE_VERSION=v0.22.1
COSIGN_VERSION=v3.1.3
DEBIAN_PACKAGES="docker-registry skopeo apache2-utils openssl ca-certificates"
