#!/usr/bin/env bash
# fetch-kernel.sh [--oldest] DIR: fetch the newest (or with --oldest the
# oldest) cloud-amd64 kernel that trixie-backports offers into DIR
# (DIR/vmlinuz, DIR/config, DIR/version) without installing it on the host,
# and the modules the tests load into the guest (DIR/modules/: evdev, for
# the userspace input path) where the archive carries them for that version
# (linux-modules-<ver>: 7.2 on, today; an empty DIR/modules says it has none).
# Every kernel there is built with sched_ext (6.19.x up to 7.x; Debian's
# 6.12 in trixie itself is not): the suite runs the scheduler's VM tests on
# both ends of that range. Versions are never hard-coded: whatever the
# archive offers today.
#
# The archive URI is copied from the host's own apt sources, so no mirror is
# hard-coded here. The suite gets its own sources file and a pin priority of
# 1, so nothing from it is ever installed on the host by accident.
set -euo pipefail
pick=newest
if [ "${1:-}" = --oldest ]; then
    pick=oldest
    shift
fi
dest=${1:?usage: fetch-kernel.sh [--oldest] DIR}

# The modules of kernel $1 that the tests load (insmod in the guest: the
# host's /lib/modules has none of this kernel), into $dest/modules.
fetch_modules() {
    local kver=$1 mods=linux-modules-$1 w
    mkdir -p "$dest/modules.new"
    if apt-cache policy "$mods" 2>/dev/null | grep "Candidate: [0-9]" > /dev/null; then
        w=$(mktemp -d)
        chmod 0777 "$w"   # apt-get download drops to the _apt user
        (cd "$w" && apt-get download -qq "$mods")
        dpkg-deb -x "$w"/*.deb "$w/x"
        find "$w/x" -path "*/modules/$kver/*" -name 'evdev.ko*' -exec cp {} "$dest/modules.new/" \;
        rm -rf "$w"
        ls "$dest/modules.new" | grep -q . || { echo "fetch-kernel: $mods has no evdev module" >&2; exit 1; }
    fi
    rm -rf "$dest/modules"
    mv "$dest/modules.new" "$dest/modules"
    echo "fetch-kernel: modules for $kver: $(ls "$dest/modules" | tr '\n' ' ')"
}

if [ -s "$dest/vmlinuz" ] && [ -s "$dest/config" ] && [ -s "$dest/version" ] && [ -d "$dest/modules" ]; then
    echo "fetch-kernel: cached $(cat "$dest/version")"
    exit 0
fi

list=/etc/apt/sources.list.d/scx-gamer-trixie-backports.sources
if [ ! -e "$list" ]; then
    uri=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
    if [ -z "$uri" ]; then
        uri=$(awk '$1=="deb" && $3 ~ /^bookworm$/ {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
    fi
    if [ -z "$uri" ]; then
        echo "fetch-kernel: no Debian archive URI found in the apt sources" >&2
        exit 1
    fi
    cat > "$list" <<SRC
Types: deb
URIs: $uri
Suites: trixie-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
    cat > /etc/apt/preferences.d/scx-gamer-trixie-backports <<PIN
Package: *
Pin: release n=trixie-backports
Pin-Priority: 1
PIN
fi
apt-get update -qq
if [ -s "$dest/vmlinuz" ] && [ -s "$dest/config" ] && [ -s "$dest/version" ]; then
    # Cached before the modules were: fetch those alone.
    fetch_modules "$(cat "$dest/version")"
    exit 0
fi

# The newest or oldest linux-binary-<ver>-cloud-amd64 the suite offers
# (the signed image; linux-image-<ver> is only a meta package).
pkgs=$(apt-cache pkgnames linux-binary- | grep -E '^linux-binary-[0-9]+\.[0-9.]+\+deb[0-9]+-cloud-amd64$' | sort -V)
if [ "$pick" = oldest ]; then pkg=$(head -n1 <<<"$pkgs"); else pkg=$(tail -n1 <<<"$pkgs"); fi
if [ -z "$pkg" ]; then
    echo "fetch-kernel: no linux-binary-*-cloud-amd64 package in trixie-backports" >&2
    exit 1
fi
kver=${pkg#linux-binary-}
base=linux-base-$kver

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
chmod 0777 "$work"   # apt-get download drops to the _apt user
# The config comes in linux-base-<ver>, which the archive carries only for
# the newer versions (7.2 on, today).
if apt-cache policy "$base" 2>/dev/null | grep "Candidate: [0-9]" > /dev/null; then
    (cd "$work" && apt-get download -qq "$pkg" "$base")
else
    (cd "$work" && apt-get download -qq "$pkg")
fi
mkdir -p "$work/x"
for deb in "$work"/*.deb; do dpkg-deb -x "$deb" "$work/x"; done

# Newer packages keep both under /usr/lib/modules/<kver>/, older ones in /boot.
vmlinuz=$(find "$work/x" \( -path "*/modules/$kver/vmlinuz" -o -name "vmlinuz-$kver" \) | head -n1)
config=$(find "$work/x" \( -path "*/modules/$kver/config" -o -name "config-$kver" \) | head -n1)
if [ -z "$vmlinuz" ]; then
    echo "fetch-kernel: $pkg did not contain a vmlinuz for $kver" >&2
    find "$work/x" -maxdepth 3 >&2
    exit 1
fi
if [ -n "$config" ]; then
    grep -q '^CONFIG_SCHED_CLASS_EXT=y' "$config" || { echo "fetch-kernel: $kver has no sched_ext" >&2; exit 1; }
else
    # No config to download, and none in the image (Debian builds without
    # IKCONFIG). Look into the image itself: sched_ext's kfuncs must be
    # there, and libbpf needs a config only to resolve the BPF object's
    # __kconfig externs; scx_gamer's only one is CONFIG_PREEMPT_RCU (scx's
    # common headers), set in every preemptible build, which the version
    # string names (PREEMPT or PREEMPT_DYNAMIC).
    off=$(LC_ALL=C grep -obUaP '\x28\xb5\x2f\xfd' "$vmlinuz" | head -n1 | cut -d: -f1)
    [ -n "$off" ] || { echo "fetch-kernel: $kver's image is not zstd-compressed; cannot look into it" >&2; exit 1; }
    tail -c +$((off + 1)) "$vmlinuz" | zstd -dcq 2>/dev/null > "$work/vmlinux" || true
    grep -qa 'scx_bpf_kick_cpu' "$work/vmlinux" || { echo "fetch-kernel: $kver has no sched_ext (no scx kfuncs in its image)" >&2; exit 1; }
    banner=$(grep -ao 'Linux version [^(]*([^)]*)[^#]*#[^(]*' "$work/vmlinux" | head -n1)
    config=$work/config
    {
        echo "# $kver: no config in the archive; written by fetch-kernel.sh for libbpf"
        echo "# from the image's banner: $banner"
        echo "CONFIG_SCHED_CLASS_EXT=y"
        if grep -q 'PREEMPT' <<<"$banner"; then echo "CONFIG_PREEMPT_RCU=y"; fi
    } > "$config"
fi
mkdir -p "$dest"
cp "$vmlinuz" "$dest/vmlinuz"
cp "$config" "$dest/config"
echo "$kver" > "$dest/version"
echo "fetch-kernel: $kver"
fetch_modules "$kver"
