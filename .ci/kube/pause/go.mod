// The wrapper module of the pod sandbox program (.ci/setup.sh, install_node).
module meshproof.dev/ci/kube/pause

go 1.26.0
