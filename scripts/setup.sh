#!/usr/bin/env bash
# Idempotent setup for a fresh Debian bookworm machine (run as root).
#
# Installs what building scx_gamer and running its tests needs, and fetches the
# sched_ext-capable kernel the VM test bed boots (see scripts/vm-run). Safe to
# run again: every step checks before it acts.
set -euo pipefail

if [ "$(id -u)" -ne 0 ]; then
    echo "setup.sh: must run as root (it installs Debian packages)" >&2
    exit 1
fi

here=$(cd "$(dirname "$0")" && pwd)
cache=${SCX_GAMER_CACHE:-/var/cache/scx_gamer}

# --- Debian packages --------------------------------------------------------
# clang-19: scx_cargo refuses clang < 18. libelf/zlib/pkg-config: libbpf-sys
# builds libbpf from source. qemu-system-x86: the TCG VM (ships virtiofsd).
# Xvfb/mesa/mangohud/glxgears: the "game" used by MangoHud and tuner tests.
# chromium + fonts-dejavu-core: the HTML report's test renders it headless.
# socat: the daemon tests speak its socket protocol raw. bubblewrap: a
# game in a sandbox of its own, started unprivileged, as pressure-vessel and
# Flatpak start them. kmod: insmod of the guest kernel's evdev (the
# userspace input path's VM test). x11-apps and python3: xwd, the
# screenshots that show a hidden HUD stays hidden, and their reader.
pkgs=(clang-19 llvm-19 libelf-dev zlib1g-dev pkg-config make
      qemu-system-x86 cpio busybox-static procps util-linux
      xvfb mesa-utils libgl1-mesa-dri mangohud
      chromium fonts-dejavu-core socat bubblewrap kmod x11-apps python3)
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "setup.sh: installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# --- The VM kernel (trixie-backports cloud kernel, sched_ext built in) -------
# The newest and the oldest the archive offers: the scheduler's VM tests
# run on both (scripts/test.sh).
"$here/fetch-kernel.sh" "$cache/kernel"
"$here/fetch-kernel.sh" --oldest "$cache/kernel-oldest"

# --- MangoHud 0.8.4 in a root of its own (players' MangoHud; bookworm has
# 0.6.8): the VM tests run a game in it as in a container, and boot it as a
# whole system (systemd) to test the Debian package -------------------------
"$here/fetch-mangohud.sh" "$cache/mangohud-root" >/dev/null

# --- Rust tooling -------------------------------------------------------------
command -v cargo >/dev/null || { echo "setup.sh: cargo not found (install Rust first)" >&2; exit 1; }
# cargo-deb builds the Debian package (`cargo deb`, README: Steam).
# dpkg-dev: its dpkg-shlibdeps works out the package's library dependencies.
dpkg-query -W -f='${Status}' dpkg-dev 2>/dev/null | grep -q 'install ok installed' || {
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends dpkg-dev
}
deb_version=3.8.0
if ! cargo deb --version 2>/dev/null | grep -q "$deb_version"; then
    echo "setup.sh: installing cargo-deb $deb_version (a few minutes, once)"
    cargo install --locked --quiet cargo-deb --version "$deb_version"
fi
# scx_loader (DBus loader of sched_ext schedulers) and scx_bpfland, the
# published crates: the booted-system VM test pauses scx_loader's scheduler
# for a game and checks it comes back (tests/vm/system.rs). Built once into
# $cache/scx-tools (release builds: ~10 minutes on 2 cores).
tools=$cache/scx-tools
build_tool() { # crate version
    if ! "$tools/bin/$1" --version 2>/dev/null | grep -q "$2"; then
        echo "setup.sh: building $1 $2 into $tools (once)"
        BPF_CLANG=${BPF_CLANG:-clang-19} cargo install --locked --quiet --root "$tools" \
            --target-dir "$cache/scx-tools-target" "$1@$2"
    fi
}
build_tool scx_loader 1.1.3
build_tool scx_bpfland 1.1.4
rm -rf "$cache/scx-tools-target"
echo "setup.sh: ok"
