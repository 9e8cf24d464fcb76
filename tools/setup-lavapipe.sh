#!/usr/bin/env bash
# Installs Mesa lavapipe (a Vulkan driver that runs on the CPU) so WebGPU works on machines without a GPU.
# Debian bookworm's mesa-vulkan-drivers 22.x is rejected by Dawn; the 25.x from bookworm-backports works.
# Also installs Debian's Chromium (browser smoke test) unless TEXAD_SKIP_CHROMIUM=1.
set -euo pipefail

. /etc/os-release 2>/dev/null || true
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  cat <<MSG
texad needs a Vulkan driver for WebGPU. Without a GPU, install Mesa lavapipe as root:
  echo 'deb http://deb.debian.org/debian bookworm-backports main' > /etc/apt/sources.list.d/backports.list
  apt-get update
  apt-get install -y --no-install-recommends -t bookworm-backports mesa-vulkan-drivers
(Ubuntu 24.04+: apt-get install mesa-vulkan-drivers). Then set XDG_RUNTIME_DIR if it is unset.
MSG
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
pkgs_chromium=""
[ "${TEXAD_SKIP_CHROMIUM:-0}" = 1 ] || pkgs_chromium="chromium"
if [ "${ID:-}" = debian ] && [ "${VERSION_CODENAME:-}" = bookworm ]; then
  echo 'deb http://deb.debian.org/debian bookworm-backports main' > /etc/apt/sources.list.d/backports.list
  apt-get update -q
  apt-get install -y -q --no-install-recommends -t bookworm-backports mesa-vulkan-drivers
else
  apt-get update -q
  apt-get install -y -q --no-install-recommends mesa-vulkan-drivers
fi
[ -z "$pkgs_chromium" ] || apt-get install -y -q --no-install-recommends $pkgs_chromium
dpkg-query -W -f='installed ${Package} ${Version}\n' mesa-vulkan-drivers
