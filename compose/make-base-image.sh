#!/usr/bin/env bash
# Builds meshproof's base image without pulling from any registry: a Debian bookworm root
# filesystem made with debootstrap (minbase + python3 + python3-venv), `docker import`ed.
#
#   compose/make-base-image.sh [IMAGE]        (default meshproof/base:bookworm)
#
# Skips when the image exists. The Debian mirror is the one apt on this machine uses (read
# from /etc/apt/sources.list.d/*.sources or /etc/apt/sources.list); override with
# $DEBIAN_MIRROR. Needs root (or sudo), debootstrap and a running Docker engine.
set -euo pipefail

IMAGE=${1:-meshproof/base:bookworm}
SUITE=${DEBIAN_SUITE:-bookworm}
INCLUDE=python3,python3-venv,ca-certificates

log() { printf '\033[1m[base-image]\033[0m %s\n' "$*"; }
die() { printf '\033[1;31m[base-image] error:\033[0m %s\n' "$*" >&2; exit 1; }

# The first http(s) archive apt uses for plain Debian packages ("main" of the suite).
apt_mirror() {
    local file uri
    for file in /etc/apt/sources.list.d/*.sources; do
        [[ -f $file ]] || continue
        # deb822 stanzas: take URIs of a stanza whose Suites name the suite itself.
        uri=$(awk -v suite="$SUITE" '
            /^[[:space:]]*$/ { if (uris != "" && ok) { print uris; exit } uris=""; ok=0; next }
            /^URIs:/ { uris=$2 }
            /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == suite) ok=1 }
            END { if (uris != "" && ok) print uris }' "$file" | head -n 1)
        [[ -n $uri ]] && { printf '%s' "$uri"; return; }
    done
    if [[ -f /etc/apt/sources.list ]]; then
        uri=$(awk -v suite="$SUITE" '$1 == "deb" && $3 == suite { print $2; exit }' \
            /etc/apt/sources.list)
        [[ -n $uri ]] && { printf '%s' "$uri"; return; }
    fi
    return 1
}

main() {
    export PATH=$PATH:/usr/sbin:/sbin
    if docker image inspect "$IMAGE" >/dev/null 2>&1; then
        log "$IMAGE: present"
        return
    fi
    command -v debootstrap >/dev/null 2>&1 || die "debootstrap not found (apt-get install debootstrap)"
    docker info >/dev/null 2>&1 || die "the Docker engine is not running"
    local mirror=${DEBIAN_MIRROR:-}
    [[ -n $mirror ]] || mirror=$(apt_mirror) \
        || die "no Debian mirror for $SUITE in apt's sources; set DEBIAN_MIRROR"
    local sudo=()
    ((EUID == 0)) || sudo=(sudo)
    local root
    root=$(mktemp -d "${TMPDIR:-/tmp}/meshproof-rootfs.XXXXXX")
    # shellcheck disable=SC2064  # expand now: the trap must remove this very directory
    trap "${sudo[*]} rm -rf '$root'" EXIT
    log "debootstrap $SUITE (minbase, $INCLUDE) from $mirror"
    "${sudo[@]}" debootstrap --variant=minbase --include="$INCLUDE" "$SUITE" "$root" "$mirror" \
        >"$root.log" 2>&1 || { tail -n 20 "$root.log" >&2; die "debootstrap failed (log $root.log)"; }
    rm -f "$root.log"
    "${sudo[@]}" rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
    log "docker import -> $IMAGE"
    "${sudo[@]}" tar -C "$root" -c . | docker import \
        --change 'ENV LANG=C.UTF-8' \
        --change 'CMD ["/bin/bash"]' \
        --message "meshproof base: debootstrap $SUITE minbase + $INCLUDE" \
        - "$IMAGE" >/dev/null
    log "$IMAGE: built ($(docker run --rm "$IMAGE" python3 --version 2>&1))"
}

main "$@"
