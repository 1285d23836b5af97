#!/usr/bin/env bash
# Installs everything meshproof needs on a Debian machine, idempotently:
# Debian packages, a running Docker engine, the Go tools (Toxiproxy, Fortio) in .tools/bin,
# and the Python virtualenv .venv. A second run with everything in place takes seconds.
#
# In CI (CI=true) a missing prometheus, toxiproxy-server, haproxy or fortio is an error.
set -euo pipefail

# --- pinned versions -------------------------------------------------------------------
TOXIPROXY_MODULE=github.com/Shopify/toxiproxy/v2
TOXIPROXY_VERSION=v2.5.0
FORTIO_MODULE=fortio.org/fortio
# v1.69.0 and later import grol.io/grol, which the Go module proxy we can reach does not serve.
FORTIO_VERSION=v1.68.2

APT_PACKAGES=(
    prometheus haproxy chromium chromium-driver fonts-liberation
    docker.io iptables debootstrap iproute2 procps python3-venv
)
# Debian services a postinst may start; our runtime starts its own on ephemeral ports.
SYSTEM_DAEMONS=(prometheus prometheus-node-exporter)

GO=${GO:-/usr/local/go/bin/go}
PYTHON=${PYTHON:-python3}

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TOOLS=$REPO/.tools
BIN=$TOOLS/bin
STAMPS=$TOOLS/stamps
VENV=$REPO/.venv
CI=${CI:-false}

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
venv_fingerprint() {
    { sha256sum "$REPO/pyproject.toml"; "$PYTHON" --version; } | sha256sum | cut -d' ' -f1
}

install_venv() {
    local stamp=$VENV/.meshproof-stamp fingerprint
    fingerprint=$(venv_fingerprint)
    if [[ -f $stamp && $(<"$stamp") == "$fingerprint" ]] \
        && "$VENV/bin/python" -c '' >/dev/null 2>&1; then
        log "Python venv: up to date"
        return
    fi
    "$VENV/bin/python" -c '' >/dev/null 2>&1 || {
        log "Python venv: creating $VENV"
        rm -rf "$VENV"
        "$PYTHON" -m venv "$VENV"
    }
    log "Python venv: installing meshproof[dev] (editable)"
    # compat mode puts the repo root on sys.path, so packages added after this install import.
    PIP_DISABLE_PIP_VERSION_CHECK=1 "$VENV/bin/python" -m pip install -q \
        --config-settings editable_mode=compat -e "$REPO[dev]"
    printf '%s' "$fingerprint" >"$stamp"
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
        printf '  %-18s %-10s %s\n' "$name" "MISSING" ""
    else
        printf '  %-18s %-10s %s  (%s)\n' "$name" "ok" "$(first_line "$@")" "$path"
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
    tool_row chromium "$(which_or_empty chromium)" chromium --version
    tool_row chromedriver "$(which_or_empty chromedriver)" chromedriver --version
    tool_row debootstrap "$(which_or_empty debootstrap)" \
        dpkg-query -W -f='${Version}' debootstrap
    tool_row dockerd "$(which_or_empty dockerd)" dockerd --version
    local engine=down
    docker info >/dev/null 2>&1 && engine=running
    printf '  %-18s %-10s\n' "docker engine" "$engine"
    tool_row python "$VENV/bin/python" "$VENV/bin/python" --version
    tool_row playwright "$VENV/bin/python" "$VENV/bin/python" -m playwright --version
}

require_in_ci() {
    is_ci || return 0
    local missing=()
    command -v prometheus >/dev/null 2>&1 || missing+=(prometheus)
    command -v haproxy >/dev/null 2>&1 || missing+=(haproxy)
    [[ -x $BIN/toxiproxy-server ]] || missing+=(toxiproxy-server)
    [[ -x $BIN/fortio ]] || missing+=(fortio)
    ((${#missing[@]} == 0)) || die "CI=true and still missing after setup: ${missing[*]}"
    docker info >/dev/null 2>&1 || die "CI=true but the Docker engine is not running"
}

main() {
    local start=$SECONDS
    export PATH=$PATH:/usr/sbin:/sbin
    install_apt_packages
    start_docker
    build_base_image
    install_go_tools
    enable_tcp_migrate_req
    install_venv
    print_summary
    require_in_ci
    log "done in $((SECONDS - start)) s"
}

main "$@"
