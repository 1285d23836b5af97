#!/usr/bin/env bash
# Installs everything meshproof needs on a Debian machine, idempotently:
# Debian packages, a running Docker engine, the Go tools (Toxiproxy, Fortio) in .tools/bin,
# and the Python virtualenv .venv. A second run with everything in place takes seconds.
#
# Also kube-apiserver, etcd and the other Kubernetes binaries, built into a cache outside
# the clone ($MESHPROOF_CACHE, default ~/.cache/meshproof) and linked into .tools/bin, and
# the CRDs the tests install (.tools/kube/crds). `bash .ci/setup.sh kubernetes` runs that
# step alone.
#
# Also the `jaeger` program (the forwarding tests' tracing backend), built the same way;
# `bash .ci/setup.sh jaeger` runs that step alone.
#
# In CI (CI=true) a missing prometheus, toxiproxy-server, haproxy, fortio, jaeger, etcd,
# Kubernetes binary or CRD set is an error.
set -euo pipefail

# --- pinned versions -------------------------------------------------------------------
TOXIPROXY_MODULE=github.com/Shopify/toxiproxy/v2
TOXIPROXY_VERSION=v2.5.0
FORTIO_MODULE=fortio.org/fortio
# v1.69.0 and later import grol.io/grol, which the Go module proxy we can reach does not serve.
FORTIO_VERSION=v1.68.2

# Kubernetes for the tests' API server (and issue 15's single-node cluster): built from the
# wrapper modules in .ci/kube/ (their go.mod pins the same versions; setup checks they agree)
# into a cache outside the clone, keyed by version, shared by every clone on the machine.
KUBERNETES_VERSION=v1.36.3 # k8s.io/kubernetes; its 33 staging modules replaced by v0.36.3
KUBERNETES_BINARIES=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy)
ETCD_VERSION=v3.6.16 # go.etcd.io/etcd/server/v3 (k8s.io/kubernetes v1.36.3 is tested with 3.6)
# The tests' single-node cluster (harness.kube.localnode): its DNS is CoreDNS (wrapper module
# .ci/kube/coredns/: CoreDNS's main with the plugins the node's Corefile uses), its pod
# sandbox image meshproof/pause is one static program (.ci/kube/pause/) made into an image
# FROM scratch; the node runs Debian's containerd + runc and containernetworking-plugins.
COREDNS_VERSION=v1.15.0
PAUSE_IMAGE=meshproof/pause:3.10 # harness.kube.nodeconfig.PAUSE_IMAGE
# Prometheus in the cluster (the kubernetes runtime's, which finds the sidecars by Kubernetes
# discovery; Debian's prometheus is built without it, prom/prometheus cannot be pulled):
# github.com/prometheus/prometheus v0.53.0 is Prometheus 2.53.0, prom/prometheus' version in
# the compose files, built from the wrapper module .ci/kube/prometheus/ (no web UI assets:
# the API is what meshproof uses), made into an image FROM scratch.
# NetworkPolicy on the tests' node (the kubernetes runtime's network_disconnect is one): the
# bridge CNI plugin does not enforce it, so the node runs kube-router's network policy
# controller alone (--run-firewall), built from the wrapper module .ci/kube/kube-router/.
# v2.1.0 is the only v2 release the Go module proxy we can reach serves (later ones: 403),
# and security flaws are reported for it: it runs only on the tests' own throw-away node,
# its router and service proxy off, listening on no port (health and metrics off). Its
# iptables rules need ipset (Debian's package).
KUBE_ROUTER_VERSION=v2.1.0
PROMETHEUS_MODULE_VERSION=v0.53.0
PROMETHEUS_IMAGE=meshproof/prometheus:v2.53.0 # mesh_runtime.runtimes.kubernetes.prometheus.IMAGE
# Jaeger (the tests' tracing backend that runs forward spans to): the `jaeger` program of
# github.com/jaegertracing/jaeger, a Go tool of the wrapper module .ci/jaeger/ (same version).
JAEGER_VERSION=v1.75.0
# CRDs the tests' API server installs, each from its project's own Go module, taken with
# `go mod download`: "<set> <module>@<version> <file in the module>...".
ISTIO_API_VERSION=v1.31.4
GATEWAY_API_VERSION=v1.6.3
# github.com/linkerd/linkerd2 has no semver tags; the Go module proxy we can reach answers
# 403 "This module version is not available" for its current commits, and serves the one
# linkerd/linkerd-smi's go.mod requires (edge-23.5.1~23: Linkerd 2.13's policy CRDs). Its
# install_crds.golden is `linkerd install --crds` rendered (the chart is Helm templates).
LINKERD2_VERSION=v0.0.0-20230502184307-e1ba0e039074
# Likewise consul-k8s's control-plane module (no tags of its own): the proxy refuses `main`
# and commits, and serves the version consul-k8s's acceptance/go.mod requires (v1.5 line).
CONSUL_K8S_VERSION=v0.0.0-20240821160356-557f7c37e108
CRD_SOURCES=(
    "istio istio.io/api@$ISTIO_API_VERSION kubernetes/customresourcedefinitions.gen.yaml"
    "gateway-api sigs.k8s.io/gateway-api@$GATEWAY_API_VERSION config/crd/standard/gateway.networking.k8s.io_httproutes.yaml"
    "linkerd github.com/linkerd/linkerd2@$LINKERD2_VERSION cli/cmd/testdata/install_crds.golden"
    "consul github.com/hashicorp/consul-k8s/control-plane@$CONSUL_K8S_VERSION $(printf 'config/crd/bases/consul.hashicorp.com_%s.yaml ' \
        servicedefaults serviceresolvers servicerouters servicesplitters serviceintentions \
        proxydefaults meshes exportedservices ingressgateways terminatinggateways)"
)

APT_PACKAGES=(
    prometheus haproxy chromium chromium-driver fonts-liberation
    docker.io iptables debootstrap iproute2 procps python3-venv python3-dev
    containerd runc containernetworking-plugins ipset
)
# Debian services a postinst may start; our runtime starts its own on ephemeral ports.
SYSTEM_DAEMONS=(prometheus prometheus-node-exporter)

GO=${GO:-/usr/local/go/bin/go}
PYTHON=${PYTHON:-} # empty: venv_python picks the distribution's interpreter

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TOOLS=$REPO/.tools
BIN=$TOOLS/bin
STAMPS=$TOOLS/stamps
VENV=$REPO/.venv
CI=${CI:-false}
# Outside the clone, so a second clone (CI's) or a second set-up reuses the builds.
CACHE=${MESHPROOF_CACHE:-${XDG_CACHE_HOME:-${HOME:-$(cd ~ && pwd)}/.cache}/meshproof}
KUBE_LINKS=$TOOLS/kube # crds -> the cached CRD set of the versions above

log() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }
warn() { printf '\033[1;33m[setup] warning:\033[0m %s\n' "$*" >&2; }
die() { printf '\033[1;31m[setup] error:\033[0m %s\n' "$*" >&2; exit 1; }

is_ci() { [[ $CI == true || $CI == 1 ]]; }

# --- Debian packages -------------------------------------------------------------------
missing_apt_packages() {
    local pkg
    for pkg in "${APT_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' \
            || echo "$pkg"
    done
}

install_apt_packages() {
    local missing
    mapfile -t missing < <(missing_apt_packages)
    if ((${#missing[@]} == 0)); then
        log "Debian packages: all present"
        return
    fi
    log "Debian packages: installing ${missing[*]}"
    local sudo=()
    ((EUID == 0)) || sudo=(sudo)
    # Keep postinst scripts from starting system daemons (a system Prometheus on :9090, ...).
    local policy=/usr/sbin/policy-rc.d made_policy=false
    if [[ ! -e $policy ]]; then
        printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null
        "${sudo[@]}" chmod 755 "$policy"
        made_policy=true
    fi
    local rc=0
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq || rc=$?
    if ((rc == 0)); then
        "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
            --no-install-recommends "${missing[@]}" || rc=$?
    fi
    if $made_policy; then "${sudo[@]}" rm -f "$policy"; fi
    ((rc == 0)) || die "apt-get failed (exit $rc) installing: ${missing[*]}"
    quiet_system_daemons
}

# Stops and disables the system Prometheus services that installing the package set up.
quiet_system_daemons() {
    local svc pid
    for svc in "${SYSTEM_DAEMONS[@]}"; do
        [[ -e /etc/init.d/$svc || -e /lib/systemd/system/$svc.service ]] || continue
        if [[ -d /run/systemd/system ]]; then
            systemctl disable --now "$svc" >/dev/null 2>&1 || true
        else
            service "$svc" stop >/dev/null 2>&1 || true
            update-rc.d "$svc" disable >/dev/null 2>&1 || true
        fi
    done
    # Belt and braces: one still running as Debian's service user is a system daemon.
    for svc in "${SYSTEM_DAEMONS[@]}"; do
        id -u "$svc" >/dev/null 2>&1 || continue
        for pid in $(pgrep -u "$svc" -x "$svc" || true); do
            log "stopping system $svc daemon (pid $pid)"
            kill "$pid" 2>/dev/null || true
            wait_for_exit "$pid"
        done
    done
}

wait_for_exit() { # wait_for_exit <pid>: up to 10 s, then SIGKILL
    local deadline=$((SECONDS + 10))
    while kill -0 "$1" 2>/dev/null; do
        if ((SECONDS >= deadline)); then
            kill -KILL "$1" 2>/dev/null || true
            return
        fi
        sleep 0.2
    done
}

# --- Docker engine ---------------------------------------------------------------------
start_docker() {
    if docker info >/dev/null 2>&1; then
        log "Docker engine: running"
        return
    fi
    if ! command -v dockerd >/dev/null 2>&1; then
        warn "dockerd not found; the docker runtime and its tests will not work"
        return
    fi
    mkdir -p "$TOOLS"
    local logfile=$TOOLS/dockerd.log
    log "Docker engine: starting dockerd (log: $logfile)"
    setsid dockerd >"$logfile" 2>&1 </dev/null &
    local pid=$! deadline=$((SECONDS + 60))
    until docker info >/dev/null 2>&1; do
        if ! kill -0 "$pid" 2>/dev/null; then
            warn "dockerd exited at start; last lines of $logfile:"
            tail -n 15 "$logfile" >&2 || true
            return
        fi
        if ((SECONDS >= deadline)); then
            warn "dockerd did not become ready within 60 s; see $logfile"
            return
        fi
        sleep 0.5
    done
    log "Docker engine: ready"
}

# The docker runtime's base image, made from Debian packages (nothing is pulled).
build_base_image() {
    docker info >/dev/null 2>&1 || return 0 # no engine: require_in_ci says so in CI
    bash "$REPO/compose/make-base-image.sh" && return 0
    is_ci && die "could not build the docker runtime's base image"
    warn "could not build the docker runtime's base image; see compose/README.md"
}

# --- Go tools --------------------------------------------------------------------------
stamp_matches() { [[ -f $STAMPS/$1 && $(<"$STAMPS/$1") == "$2" ]]; }
write_stamp() { mkdir -p "$STAMPS" && printf '%s' "$2" >"$STAMPS/$1"; }

go_install() { # go_install <package@version> [go build flags...]
    local pkg=$1
    shift
    GOBIN=$BIN GOFLAGS=-buildvcs=false "$GO" install "$@" "$pkg"
}

install_toxiproxy() {
    if stamp_matches toxiproxy "$TOXIPROXY_VERSION" \
        && [[ -x $BIN/toxiproxy-server && -x $BIN/toxiproxy-cli ]]; then
        log "toxiproxy $TOXIPROXY_VERSION: present"
        return
    fi
    log "toxiproxy $TOXIPROXY_VERSION: building"
    # Without the ldflag the binaries call themselves "version git".
    local ldflags="-X $TOXIPROXY_MODULE.Version=${TOXIPROXY_VERSION#v}"
    go_install "$TOXIPROXY_MODULE/cmd/server@$TOXIPROXY_VERSION" -ldflags "$ldflags"
    go_install "$TOXIPROXY_MODULE/cmd/cli@$TOXIPROXY_VERSION" -ldflags "$ldflags"
    mv -f "$BIN/server" "$BIN/toxiproxy-server"
    mv -f "$BIN/cli" "$BIN/toxiproxy-cli"
    write_stamp toxiproxy "$TOXIPROXY_VERSION"
}

install_fortio() {
    if stamp_matches fortio "$FORTIO_VERSION" && [[ -x $BIN/fortio ]]; then
        log "fortio $FORTIO_VERSION: present"
        return
    fi
    log "fortio $FORTIO_VERSION: building"
    go_install "$FORTIO_MODULE@$FORTIO_VERSION"
    write_stamp fortio "$FORTIO_VERSION"
}

install_go_tools() {
    if [[ ! -x $GO ]]; then
        warn "Go not found at $GO; cannot build toxiproxy and fortio"
        return
    fi
    mkdir -p "$BIN"
    install_toxiproxy
    install_fortio
}

# --- Jaeger: a tracing backend for the forwarding tests -------------------------------
install_jaeger() {
    if [[ ! -x $GO ]]; then
        warn "Go not found at $GO; cannot build jaeger"
        return
    fi
    check_pinned "$REPO/.ci/jaeger/go.mod" github.com/jaegertracing/jaeger "$JAEGER_VERSION"
    local version=github.com/jaegertracing/jaeger/internal/version
    cached_build "jaeger $JAEGER_VERSION" "$REPO/.ci/jaeger" "$CACHE/jaeger/$JAEGER_VERSION" \
        "-s -w -X $version.latestVersion=$JAEGER_VERSION" github.com/jaegertracing/jaeger/cmd/jaeger
}

# --- Kubernetes: kube-apiserver, etcd, the other control-plane binaries, CRDs -----------
KUBE_SRC=$REPO/.ci/kube

go_env() { # go_env <go args...>: the Go command as the cached builds run it
    CGO_ENABLED=0 GOFLAGS=-buildvcs=false GOTOOLCHAIN=local "$GO" "$@"
}

# The version in the wrapper's go.mod must be the one the cache is keyed by.
check_pinned() { # check_pinned <go.mod> <module> <version>
    grep -Eq "^[[:space:]]*(require )?$2 $3( |$)" "$1" \
        || die "$1 does not require $2 $3 (the version pinned in .ci/setup.sh); run go mod tidy there"
}

# What a cached build was made from: the Go version and the wrapper module's files.
build_fingerprint() { # build_fingerprint <wrapper dir>
    local sources
    mapfile -t sources < <(compgen -G "$1/*.go" || true)
    { "$GO" version; cat "$1/go.mod" "$1/go.sum" "${sources[@]}"; } | sha256sum | cut -d' ' -f1
}

# Builds `packages` of the wrapper module into <cache dir>/bin unless the cache already
# holds that build; then links each binary into .tools/bin (not with LINK=false). Under a
# lock: two clones may set up at once.
cached_build() { # cached_build <label> <wrapper dir> <cache dir> <ldflags> <package...>
    local label=$1 src=$2 dir=$3 ldflags=$4
    shift 4
    local fingerprint pkg name missing=false
    fingerprint=$(build_fingerprint "$src")
    for pkg in "$@"; do [[ -x $dir/bin/${pkg##*/} ]] || missing=true; done
    mkdir -p "$dir"
    (
        flock 9
        if $missing || [[ ! -f $dir/stamp || $(<"$dir/stamp") != "$fingerprint" ]]; then
            log "$label: building ${*##*/} into $dir (several minutes the first time)"
            local start=$SECONDS staging=$dir/bin.new
            rm -rf "$staging"
            (cd "$src" && go_env build -trimpath -ldflags "$ldflags" -o "$staging/" "$@") \
                || die "$label: go build failed"
            rm -rf "$dir/bin" && mv "$staging" "$dir/bin"
            printf '%s' "$fingerprint" >"$dir/stamp"
            log "$label: built in $((SECONDS - start)) s"
        else
            log "$label: cached in $dir"
        fi
    ) 9>"$dir/.lock"
    [[ ${LINK:-true} == true ]] || return 0
    mkdir -p "$BIN"
    for pkg in "$@"; do
        name=${pkg##*/}
        ln -sfn "$dir/bin/$name" "$BIN/$name"
    done
}

kube_ldflags() { # version stamps `kube-apiserver --version` and /version report
    local major minor flags="-s -w" pkg
    IFS=. read -r major minor _ <<<"${KUBERNETES_VERSION#v}"
    for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
        flags+=" -X $pkg.gitVersion=$KUBERNETES_VERSION -X $pkg.gitMajor=$major"
        flags+=" -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
    done
    printf '%s' "$flags"
}

install_kube_binaries() {
    check_pinned "$KUBE_SRC/kubernetes/go.mod" k8s.io/kubernetes "$KUBERNETES_VERSION"
    check_pinned "$KUBE_SRC/etcd/go.mod" go.etcd.io/etcd/server/v3 "$ETCD_VERSION"
    cached_build "etcd $ETCD_VERSION" "$KUBE_SRC/etcd" "$CACHE/etcd/$ETCD_VERSION" "-s -w" \
        meshproof.dev/ci/kube/etcd
    cached_build "kubernetes $KUBERNETES_VERSION" "$KUBE_SRC/kubernetes" \
        "$CACHE/kubernetes/$KUBERNETES_VERSION" "$(kube_ldflags)" \
        "${KUBERNETES_BINARIES[@]/#/k8s.io/kubernetes/cmd/}"
    check_pinned "$KUBE_SRC/coredns/go.mod" github.com/coredns/coredns "$COREDNS_VERSION"
    cached_build "coredns $COREDNS_VERSION" "$KUBE_SRC/coredns" "$CACHE/coredns/$COREDNS_VERSION" \
        "-s -w" meshproof.dev/ci/kube/coredns
    cached_build "pause" "$KUBE_SRC/pause" "$CACHE/pause" "-s -w" meshproof.dev/ci/kube/pause
    check_pinned "$KUBE_SRC/kube-router/go.mod" github.com/cloudnativelabs/kube-router/v2 \
        "$KUBE_ROUTER_VERSION"
    cached_build "kube-router $KUBE_ROUTER_VERSION" "$KUBE_SRC/kube-router" \
        "$CACHE/kube-router/$KUBE_ROUTER_VERSION" \
        "-s -w -X github.com/cloudnativelabs/kube-router/v2/pkg/version.Version=$KUBE_ROUTER_VERSION" \
        meshproof.dev/ci/kube/kube-router
    # Not linked: .tools/bin/prometheus would take the place of Debian's on the host.
    check_pinned "$KUBE_SRC/prometheus/go.mod" github.com/prometheus/prometheus \
        "$PROMETHEUS_MODULE_VERSION"
    local common=github.com/prometheus/common/version
    LINK=false cached_build \
        "prometheus $PROMETHEUS_MODULE_VERSION" "$KUBE_SRC/prometheus" \
        "$CACHE/prometheus/$PROMETHEUS_MODULE_VERSION" \
        "-s -w -X $common.Version=${PROMETHEUS_IMAGE##*:v} -X $common.Branch=HEAD" \
        github.com/prometheus/prometheus/cmd/prometheus
}

# The pod sandbox image of the tests' node and the in-cluster Prometheus, each made in the
# Docker engine from one cached program alone (FROM scratch: nothing is pulled); the node
# imports them into its containerd. Rebuilt only when the program or the Dockerfile changed
# (their sha256 is a label of the image).
build_program_image() { # build_program_image <image> <program>: its entrypoint
    local image=$1 program=$2 name=${2##*/} dockerfile key have context out
    docker info >/dev/null 2>&1 || return 0 # no engine: require_in_ci says so in CI
    [[ -x $program ]] || return 0
    dockerfile=$(printf 'FROM scratch\nCOPY %s /bin/%s\nUSER 65535:65535\nENTRYPOINT ["/bin/%s"]' \
        "$name" "$name" "$name")
    key=$({ sha256sum <"$program"; printf '%s' "$dockerfile"; } | sha256sum | cut -d' ' -f1)
    have=$(docker image inspect -f '{{index .Config.Labels "meshproof.build.sha256"}}' \
        "$image" 2>/dev/null || true)
    if [[ $have == "$key" ]]; then
        log "$image: present"
        return
    fi
    context=$(mktemp -d)
    cp "$program" "$context/$name"
    printf '%s\nLABEL meshproof.build.sha256=%s\n' "$dockerfile" "$key" >"$context/Dockerfile"
    out=$(docker build -q -t "$image" "$context" 2>&1) || die "could not build $image: $out"
    rm -rf "$context"
    log "$image: built"
}

build_node_images() {
    build_program_image "$PAUSE_IMAGE" "$CACHE/pause/bin/pause"
    build_program_image "$PROMETHEUS_IMAGE" \
        "$CACHE/prometheus/$PROMETHEUS_MODULE_VERSION/bin/prometheus"
}

module_dir() { # module_dir <module@version>: where `go mod download` put it
    local json dir
    json=$(cd "$CACHE" && go_env mod download -json "$1" 2>&1) || true
    dir=$(sed -n 's/^[[:space:]]*"Dir": "\(.*\)",*$/\1/p' <<<"$json")
    if [[ -z $dir || ! -d $dir ]]; then
        die "go mod download $1 failed: $(sed -n 's/^[[:space:]]*"Error": "\(.*\)",*$/\1/p' <<<"$json" | head -n 1)"
    fi
    printf '%s' "$dir"
}

# Copies each set's files into <dir>/<set>/, with SOURCES.tsv saying where each came from.
take_crds() { # take_crds <dir>
    local dir=$1 staging=$1.new line group module files file src name
    log "CRDs: taking ${#CRD_SOURCES[@]} sets from their Go modules"
    rm -rf "$staging" && mkdir -p "$staging"
    printf 'set\tmodule\tversion\tfile\tsha256\n' >"$staging/SOURCES.tsv"
    for line in "${CRD_SOURCES[@]}"; do
        read -r group module files <<<"$line"
        src=$(module_dir "$module")
        mkdir -p "$staging/$group"
        for file in $files; do
            [[ -f $src/$file ]] || die "CRDs: $module has no $file"
            name=$(basename "$file")
            cp "$src/$file" "$staging/$group/${name%.*}.yaml"
            printf '%s\t%s\t%s\t%s\t%s\n' "$group" "${module%@*}" "${module#*@}" "$file" \
                "$(sha256sum <"$src/$file" | cut -d' ' -f1)" >>"$staging/SOURCES.tsv"
        done
    done
    rm -rf "$dir" && mv "$staging" "$dir"
}

# The CRD set of CRD_SOURCES, cached under a hash of that list; .tools/kube/crds links to it.
install_crds() {
    local key dir
    key=$(printf '%s\n' "${CRD_SOURCES[@]}" | sha256sum | cut -c1-16)
    dir=$CACHE/crds/$key
    mkdir -p "$CACHE/crds"
    (
        flock 9
        if [[ -f $dir/SOURCES.tsv ]]; then
            log "CRDs: cached in $dir"
        else
            take_crds "$dir"
        fi
    ) 9>"$CACHE/crds/.lock"
    mkdir -p "$KUBE_LINKS"
    ln -sfn "$dir" "$KUBE_LINKS/crds"
}

install_kubernetes() {
    if [[ ! -x $GO ]]; then
        warn "Go not found at $GO; cannot build kube-apiserver and etcd"
        return
    fi
    mkdir -p "$CACHE"
    install_kube_binaries
    install_crds
    build_node_images
}

# --- Kernel: hot restarts of sidecars -------------------------------------------------
# A hot-restarted sidecar's old process closes its SO_REUSEPORT listeners while the new one
# serves on the same ports; with tcp_migrate_req=1 (Linux >= 5.14) the kernel moves the
# connections still queued on the closed listener to the new one instead of resetting them.
MIGRATE_REQ=/proc/sys/net/ipv4/tcp_migrate_req

enable_tcp_migrate_req() {
    if [[ ! -e $MIGRATE_REQ ]]; then
        warn "net.ipv4.tcp_migrate_req not available (Linux < 5.14?); hot restarts may reset queued connections"
        return
    fi
    if [[ $(<"$MIGRATE_REQ") == 1 ]]; then
        log "net.ipv4.tcp_migrate_req: 1"
        return
    fi
    local sudo=()
    ((EUID == 0)) || sudo=(sudo -n)
    if echo 1 | "${sudo[@]}" tee "$MIGRATE_REQ" >/dev/null 2>&1 && [[ $(<"$MIGRATE_REQ") == 1 ]]; then
        log "net.ipv4.tcp_migrate_req: set to 1"
    else
        warn "cannot set net.ipv4.tcp_migrate_req=1; hot restarts of sidecars may reset queued connections"
    fi
}

# --- Python virtualenv -----------------------------------------------------------------
# The venv's interpreter: $PYTHON when set, else the distribution's python3 when it is 3.11
# or newer with ensurepip (python3-venv), else python3 on the PATH. Debian builds its
# CPython with PGO and LTO and links libpython into the executable; pyenv's default build
# has neither, and the sidecar's request path costs 10-15 % more CPU on it (DEVELOPING.md,
# "Cost curves", session 29).
venv_python() {
    if [[ -n $PYTHON ]]; then
        printf '%s' "$PYTHON"
    elif /usr/bin/python3 -c 'import sys, ensurepip; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
        printf '%s' /usr/bin/python3
    else
        printf '%s' python3
    fi
}

venv_fingerprint() {
    { sha256sum "$REPO/pyproject.toml"; "$PYTHON" --version; } | sha256sum | cut -d' ' -f1
}

# The venv at $VENV was made from $PYTHON (the same file, links and pyenv's shims followed).
REAL_BASE='import os, sys; print(os.path.realpath(sys._base_executable))'
venv_made_from_python() {
    local base
    base=$("$VENV/bin/python" -c "$REAL_BASE" 2>/dev/null) || return 1
    [[ $base == "$("$PYTHON" -c "$REAL_BASE")" ]]
}

install_venv() {
    local stamp=$VENV/.meshproof-stamp fingerprint
    PYTHON=$(venv_python)
    fingerprint=$(venv_fingerprint)
    if [[ -f $stamp && $(<"$stamp") == "$fingerprint" ]] && venv_made_from_python; then
        log "Python venv: up to date ($PYTHON)"
        return
    fi
    venv_made_from_python || {
        log "Python venv: creating $VENV from $PYTHON ($("$PYTHON" --version 2>&1))"
        rm -rf "$VENV"
        "$PYTHON" -m venv "$VENV"
    }
    log "Python venv: installing meshproof[dev] (editable)"
    # compat mode puts the repo root on sys.path, so packages added after this install import.
    PIP_DISABLE_PIP_VERSION_CHECK=1 "$VENV/bin/python" -m pip install -q \
        --config-settings editable_mode=compat -e "$REPO[dev]"
    printf '%s' "$fingerprint" >"$stamp"
}

# The sidecar's request path compiled with mypyc (mesh_runtime/sidecar/native.py), cached
# in $CACHE/sidecar-native under a digest of its sources: a second run is a look-up. A failed
# build is a warning, never an error: the sidecar then runs the same code as Python.
build_sidecar_native() {
    if (cd "$REPO" && MESHPROOF_CACHE=$CACHE "$VENV/bin/python" -m mesh_runtime.sidecar.native build); then
        return
    fi
    warn "the sidecar's request path is not compiled: sidecars run it as Python (slower)"
}

# --- Summary ---------------------------------------------------------------------------
first_line() { # the first line a command prints on stdout, else on stderr
    local out
    out=$("$@" 2>/dev/null | head -n 1) || true
    [[ -n $out ]] || out=$("$@" 2>&1 | head -n 1) || true
    printf '%s' "$out"
}

tool_row() { # tool_row <name> <path or empty> <version command...>
    local name=$1 path=$2
    shift 2
    if [[ -z $path || ! -x $path ]]; then
        printf '  %-24s %-8s %s\n' "$name" "MISSING" ""
    else
        printf '  %-24s %-8s %s  (%s)\n' "$name" "ok" "$(first_line "$@")" "$path"
    fi
}

which_or_empty() { command -v "$1" 2>/dev/null || true; }

print_summary() {
    log "installed:"
    tool_row prometheus "$(which_or_empty prometheus)" prometheus --version
    tool_row haproxy "$(which_or_empty haproxy)" haproxy -v
    tool_row toxiproxy-server "$BIN/toxiproxy-server" "$BIN/toxiproxy-server" -version
    tool_row toxiproxy-cli "$BIN/toxiproxy-cli" "$BIN/toxiproxy-cli" --version
    tool_row fortio "$BIN/fortio" "$BIN/fortio" version
    tool_row jaeger "$BIN/jaeger" "$BIN/jaeger" version
    tool_row chromium "$(which_or_empty chromium)" chromium --version
    tool_row chromedriver "$(which_or_empty chromedriver)" chromedriver --version
    tool_row debootstrap "$(which_or_empty debootstrap)" \
        dpkg-query -W -f='${Version}' debootstrap
    tool_row dockerd "$(which_or_empty dockerd)" dockerd --version
    local engine=down
    docker info >/dev/null 2>&1 && engine=running
    printf '  %-24s %-8s\n' "docker engine" "$engine"
    tool_row python "$VENV/bin/python" "$VENV/bin/python" --version
    tool_row playwright "$VENV/bin/python" "$VENV/bin/python" -m playwright --version
    print_kube_summary
}

print_kube_summary() {
    local name crds=$KUBE_LINKS/crds
    tool_row etcd "$BIN/etcd" "$BIN/etcd" --version
    for name in "${KUBERNETES_BINARIES[@]}"; do
        tool_row "$name" "$BIN/$name" "$BIN/$name" --version
    done
    tool_row coredns "$BIN/coredns" "$BIN/coredns" -version
    tool_row kube-router "$BIN/kube-router" "$BIN/kube-router" --version
    tool_row ipset "$(which_or_empty ipset)" ipset --version
    tool_row containerd "$(which_or_empty containerd)" containerd --version
    tool_row "CNI bridge plugin" /usr/lib/cni/bridge dpkg-query -W -f='${Version}' \
        containernetworking-plugins
    local image state
    for image in "$PAUSE_IMAGE" "$PROMETHEUS_IMAGE"; do
        state=MISSING
        docker image inspect "$image" >/dev/null 2>&1 && state=ok
        printf '  %-28s %-8s\n' "$image" "$state"
    done
    if [[ -f $crds/SOURCES.tsv ]]; then
        local set counts=()
        for set in $(tail -n +2 "$crds/SOURCES.tsv" | cut -f1 | uniq); do
            counts+=("$set $(cat "$crds/$set"/*.yaml | grep -c '^kind: CustomResourceDefinition')")
        done
        printf '  %-24s %-8s %s  (%s)\n' CRDs ok "$(IFS=,; echo "${counts[*]}" | sed 's/,/, /g')" \
            "$(readlink -f "$crds")"
    else
        printf '  %-24s %-8s\n' CRDs MISSING
    fi
}

require_in_ci() {
    is_ci || return 0
    local missing=()
    command -v prometheus >/dev/null 2>&1 || missing+=(prometheus)
    command -v haproxy >/dev/null 2>&1 || missing+=(haproxy)
    [[ -x $BIN/toxiproxy-server ]] || missing+=(toxiproxy-server)
    [[ -x $BIN/fortio ]] || missing+=(fortio)
    [[ -x $BIN/jaeger ]] || missing+=(jaeger)
    [[ -x $BIN/etcd ]] || missing+=(etcd)
    local name
    for name in "${KUBERNETES_BINARIES[@]}"; do
        [[ -x $BIN/$name ]] || missing+=("$name")
    done
    [[ -f $KUBE_LINKS/crds/SOURCES.tsv ]] || missing+=(CRDs)
    [[ -x $BIN/coredns ]] || missing+=(coredns)
    [[ -x $BIN/kube-router ]] || missing+=(kube-router)
    command -v ipset >/dev/null 2>&1 || missing+=(ipset)
    command -v containerd >/dev/null 2>&1 || missing+=(containerd)
    [[ -x /usr/lib/cni/bridge ]] || missing+=(containernetworking-plugins)
    docker image inspect "$PAUSE_IMAGE" >/dev/null 2>&1 || missing+=("$PAUSE_IMAGE")
    docker image inspect "$PROMETHEUS_IMAGE" >/dev/null 2>&1 || missing+=("$PROMETHEUS_IMAGE")
    ((${#missing[@]} == 0)) || die "CI=true and still missing after setup: ${missing[*]}"
    docker info >/dev/null 2>&1 || die "CI=true but the Docker engine is not running"
}

main() {
    local start=$SECONDS
    export PATH=$PATH:/usr/sbin:/sbin
    if [[ ${1:-} == jaeger ]]; then # that step alone: bash .ci/setup.sh jaeger
        install_jaeger
        tool_row jaeger "$BIN/jaeger" "$BIN/jaeger" version
        log "done in $((SECONDS - start)) s"
        return
    fi
    if [[ ${1:-} == kubernetes ]]; then # that step alone: bash .ci/setup.sh kubernetes
        install_kubernetes
        print_kube_summary
        log "done in $((SECONDS - start)) s"
        return
    fi
    install_apt_packages
    start_docker
    build_base_image
    install_go_tools
    install_jaeger
    install_kubernetes
    enable_tcp_migrate_req
    install_venv
    build_sidecar_native
    print_summary
    require_in_ci
    log "done in $((SECONDS - start)) s"
}

main "$@"
