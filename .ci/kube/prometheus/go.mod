// The wrapper module `make setup` builds the in-cluster Prometheus from (.ci/setup.sh,
// install_kube_binaries): github.com/prometheus/prometheus v0.53.0 (Prometheus 2.53.0),
// its cmd/prometheus with every service discovery it registers, the kubernetes one
// included. The requirements are those `go build -mod=mod` of that package resolved.

module meshproof.dev/ci/kube/prometheus

go 1.26.0

require github.com/prometheus/prometheus v0.53.0

// Prometheus' own replaces (a dependency's replace directives do not apply here).
replace (
	k8s.io/klog => github.com/simonpasquier/klog-gokit v0.3.0
	k8s.io/klog/v2 => github.com/simonpasquier/klog-gokit/v3 v3.3.0
)

exclude github.com/linode/linodego v1.0.0
