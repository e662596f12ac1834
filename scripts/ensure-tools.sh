#!/usr/bin/env bash
# Installs the Debian packages the real-client tests and benchmarks use, when missing.
# Idempotent; a no-op when everything is present. Needs root (or passwordless sudo) to install.
set -uo pipefail
need=()
check() { command -v "$1" >/dev/null 2>&1 || need+=("$2"); }
check skopeo skopeo
check podman podman
check buildah buildah
check umoci umoci
check dockerd docker.io
check containerd containerd
check docker-registry docker-registry
check wrk wrk
check hyperfine hyperfine
check zstd zstd
if [ ${#need[@]} -eq 0 ]; then exit 0; fi
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo -n"; fi
echo "ensure-tools: installing ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null 2>&1 || true
$SUDO apt-get install -y -qq "${need[@]}" >/dev/null 2>&1 || {
  echo "ensure-tools: could not install ${need[*]}; the tests that need them will fail" >&2
  exit 1
}
