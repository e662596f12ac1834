#!/usr/bin/env bash
# Builds (once) the root filesystem of `debootstrap --variant=minbase bookworm` as a tar file for
# the scanner's end-to-end tests, cached in ${WHARF_TEST_CACHE:-~/.cache/wharf-test}. About two
# minutes the first time (needs root and Debian's archive); a no-op afterwards. Prints the path.
set -euo pipefail
CACHE="${WHARF_TEST_CACHE:-$HOME/.cache/wharf-test}"
OUT="$CACHE/bookworm-minbase.tar"
if [ -s "$OUT" ]; then echo "$OUT"; exit 0; fi
mkdir -p "$CACHE"
if ! command -v debootstrap >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" != 0 ] && SUDO="sudo -n"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq >/dev/null 2>&1 || true
  $SUDO apt-get install -y -qq debootstrap >/dev/null 2>&1
fi
MIRROR="${WHARF_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
TMP="$(mktemp -d "$CACHE/build.XXXXXX")"
trap 'rm -rf "$TMP"' EXIT
debootstrap --variant=minbase bookworm "$TMP/rootfs" "$MIRROR" >"$TMP/log" 2>&1 || { tail -20 "$TMP/log" >&2; exit 1; }
# dev/ and proc/ hold nothing an image needs; apt's downloaded .debs are dropped like a Dockerfile would
rm -rf "$TMP/rootfs/var/cache/apt/archives/"*.deb "$TMP/rootfs/dev/"* "$TMP/rootfs/proc/"*
tar --numeric-owner --sort=name -C "$TMP/rootfs" -cf "$OUT.tmp" .
mv "$OUT.tmp" "$OUT"
echo "$OUT"
