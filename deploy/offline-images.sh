#!/usr/bin/env bash
# Local stand-ins for the images that docker-compose.yml and the Dockerfile name, for a machine
# with a Docker engine but no image registry. Each image is left alone when it is here already or
# `docker pull` brings it; only otherwise is a stand-in built, under the official name and
# labelled org.expense-tracker.stand-in (tests/support.py never mistakes one for the real image):
#
#   python:3.11-slim-bookworm  Debian bookworm's python3.11, pip and venv
#   node:20-bookworm-slim      this machine's Node.js (20 or later) and npm
#   rabbitmq:3.13-management   Debian's rabbitmq-server (3.10) with the management plugin
#   mongo:8.0                  SecantusDB at uv.lock's version, behind a mongod-compatible start
#
# All start from a Debian bookworm root made by `debootstrap --variant=minbase` and imported with
# `docker import`; its tarball is cached (OFFLINE_IMAGES_CACHE) so a rebuild skips debootstrap.
# Builds that reach PyPI or npm trust the host's CA bundle (CA_BUNDLE) in their build stages only:
# it is also made into the image expense-tracker-offline/build-ca, which the project's Dockerfile
# takes as BUILD_CA_IMAGE (deploy/docker-compose.offline.yml); no final image keeps it.
#
# Usage: deploy/offline-images.sh [--rebuild]   (as root, for debootstrap; needs docker, and
# debootstrap when the tarball is not cached). --rebuild replaces existing stand-ins.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
HERE="$ROOT/deploy/offline"
CACHE=${OFFLINE_IMAGES_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/expense-tracker/offline-images}
CA_BUNDLE=${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
SUITE=bookworm
LABEL=org.expense-tracker.stand-in

BASE=expense-tracker-offline/debian:$SUITE
BUILD_CA=expense-tracker-offline/build-ca:latest
PYTHON=python:3.11-slim-bookworm
NODE=node:20-bookworm-slim
RABBITMQ=rabbitmq:3.13-management
MONGO=mongo:8.0

rebuild=false
[ "${1:-}" = --rebuild ] && rebuild=true

say() { printf 'offline-images: %s\n' "$*" >&2; }
present() { docker image inspect "$1" >/dev/null 2>&1; }
stand_in() {
  docker image inspect --format "{{ index .Config.Labels \"$LABEL\" }}" "$1" 2>/dev/null |
    grep -qv '^<no value>$\|^$'
}

# True when a stand-in must be built: not here (or a stand-in to rebuild), and not pullable.
wanted() {
  local image=$1
  if present "$image"; then
    if $rebuild && stand_in "$image"; then return 0; fi
    say "$image: present"
    return 1
  fi
  if docker pull --quiet "$image" >/dev/null 2>&1; then
    say "$image: pulled"
    return 1
  fi
  say "$image: cannot be pulled; building a stand-in"
  return 0
}

work=$(mktemp -d)
trap 'rm -rf --one-file-system "$work"' EXIT

context() {  # a fresh build context holding the named files of deploy/offline/
  local dir="$work/$1"
  shift
  mkdir -p "$dir"
  for file in "$@"; do cp -a "$HERE/$file" "$dir/"; done
  printf '%s' "$dir"
}

build() {  # build IMAGE DOCKERFILE CONTEXT [docker build args...]
  local image=$1 dockerfile=$2 dir=$3
  shift 3
  local log="$work/build-${image//[:\/]/-}.log"
  docker build --tag "$image" --file "$HERE/$dockerfile" --build-arg "BASE=$BASE" \
    --build-arg "PYTHON_IMAGE=$PYTHON" "$@" "$dir" >"$log" 2>&1 || {
    tail -30 "$log" >&2
    say "$image: build failed"
    exit 1
  }
  say "$image: built ($(docker image inspect --format '{{.Size}}' "$image" |
    awk '{printf "%d MB", $1 / 1e6}'))"
}

slim() {  # as Docker's official Debian images: no manuals, translations or recommended packages
  local rootfs=${1:?}
  case $rootfs in "$work"/?*) ;; *) exit 1 ;; esac # only ever the new root, never the host's
  printf '%s\n' 'path-exclude=/usr/share/doc/*' 'path-include=/usr/share/doc/*/copyright' \
    'path-exclude=/usr/share/man/*' 'path-exclude=/usr/share/info/*' \
    'path-exclude=/usr/share/locale/*' >"$rootfs/etc/dpkg/dpkg.cfg.d/slim"
  printf '%s\n' 'APT::Install-Recommends "false";' 'APT::Install-Suggests "false";' \
    >"$rootfs/etc/apt/apt.conf.d/90slim"
  find "$rootfs/usr/share/doc" -type f ! -name copyright -delete
  rm -rf "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* "$rootfs"/usr/share/locale/* \
    "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/cache/apt/*.bin
}

base_image() {
  if present "$BASE" && ! $rebuild; then return; fi
  local tarball="$CACHE/debian-$SUITE-minbase-slim.tar.gz"
  if [ ! -s "$tarball" ]; then
    command -v debootstrap >/dev/null || {
      say "debootstrap is missing: apt-get install debootstrap"
      exit 1
    }
    say "debootstrap --variant=minbase $SUITE (a few minutes, once; cached in $CACHE)"
    local rootfs="$work/rootfs"
    debootstrap --variant=minbase "$SUITE" "$rootfs" "$MIRROR" >"$work/debootstrap.log" 2>&1 || {
      tail -20 "$work/debootstrap.log" >&2
      exit 1
    }
    cat >"$rootfs/etc/apt/sources.list" <<EOF
deb $MIRROR $SUITE main
deb $MIRROR $SUITE-updates main
deb ${MIRROR%/debian}/debian-security $SUITE-security main
EOF
    slim "$rootfs"
    mkdir -p "$CACHE"
    tar -C "$rootfs" --numeric-owner -czf "$tarball.part" . && mv "$tarball.part" "$tarball"
  fi
  docker import --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["bash"]' "$tarball" "$BASE" >/dev/null
  say "$BASE: imported from $tarball"
}

build_ca_image() {  # the host's CA bundle, for build stages that reach PyPI or npm
  [ -r "$CA_BUNDLE" ] || {
    say "no CA bundle at $CA_BUNDLE (set CA_BUNDLE)"
    exit 1
  }
  local dir="$work/build-ca"
  mkdir -p "$dir"
  cp "$CA_BUNDLE" "$dir/ca-certificates.crt"
  printf 'FROM scratch\nCOPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt\n' >"$dir/Dockerfile"
  docker build --quiet --tag "$BUILD_CA" "$dir" >/dev/null 2>&1
}

secantusdb_requirements() {  # SecantusDB and what it needs, at uv.lock's versions, with hashes
  local uv
  uv=$(command -v "$ROOT/.venv/bin/uv" || command -v uv || true)
  if [ -n "$uv" ]; then
    (cd "$ROOT" && "$uv" export --quiet --frozen --only-group embedded --no-emit-project)
  else
    say "uv not found (make install): SecantusDB's version from pyproject.toml, without hashes"
    grep -o '"secantusdb==[^"]*"' "$ROOT/pyproject.toml" | tr -d '"'
  fi
}

main() {
  if ! docker info >/dev/null 2>&1; then
    say "no Docker engine answers 'docker info'"
    exit 1
  fi
  local python=false node=false rabbitmq=false mongo=false
  wanted "$PYTHON" && python=true
  wanted "$NODE" && node=true
  wanted "$RABBITMQ" && rabbitmq=true
  wanted "$MONGO" && mongo=true
  build_ca_image
  if $python || $node || $rabbitmq; then base_image; fi

  if $python; then build "$PYTHON" python.Dockerfile "$(context python)"; fi
  if $node; then
    local node_bin npm_dir dir
    node_bin=$(command -v node || true)
    npm_dir=$(dirname "$(dirname "$(readlink -f "$(command -v npm || echo /nonexistent/x/y)")")")
    if [ -z "$node_bin" ] || [ ! -f "$npm_dir/package.json" ] ||
      [ "$("$node_bin" -p 'process.versions.node.split(".")[0]')" -lt 20 ]; then
      say "$NODE needs Node.js 20+ and npm on this machine to copy in"
      exit 1
    fi
    dir=$(context node)
    cp "$(readlink -f "$node_bin")" "$dir/node"
    cp -a "$npm_dir" "$dir/npm"
    build "$NODE" node.Dockerfile "$dir"
  fi
  if $rabbitmq; then
    build "$RABBITMQ" rabbitmq.Dockerfile "$(context rabbitmq rabbitmq.conf rabbitmq-entrypoint.sh)"
  fi
  if $mongo; then
    local dir
    dir=$(context mongo mongod.py)
    cp "$ROOT/devstack/secantusd.py" "$dir/"
    cp "$CA_BUNDLE" "$dir/build-ca.crt"
    secantusdb_requirements >"$dir/secantusdb.txt"
    build "$MONGO" mongo.Dockerfile "$dir"
  fi
}

main "$@"
