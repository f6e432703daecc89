#!/usr/bin/env bash
# Installs Mesa's software Vulkan driver (lavapipe) >= 25 from Debian 12 backports, so LiteRT's
# GPU accelerator (WebGPU over Vulkan) can run on a machine without a GPU. Idempotent; needs root.
set -euo pipefail

if [ "$(id -u)" != 0 ]; then
    echo "install-software-vulkan: needs root (apt-get)" >&2
    exit 1
fi
sources=/etc/apt/sources.list.d/debian.sources
if [ -f "$sources" ] && ! grep -q "bookworm-backports" "$sources"; then
    # Add backports to the suites of the main Debian source (the entry whose suites include "bookworm ").
    sed -i '0,/^Suites: bookworm /s//Suites: bookworm bookworm-backports /' "$sources"
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq -t bookworm-backports mesa-vulkan-drivers libvulkan1 >/dev/null
dpkg-query -W -f='mesa-vulkan-drivers ${Version}\n' mesa-vulkan-drivers
