#!/usr/bin/env bash
# Fetch the newest 7.x cloud-amd64 kernel from trixie-backports into DIR
# (DIR/vmlinuz, DIR/config, DIR/version) without installing it on the host.
#
# The archive URI is copied from the host's own apt sources, so no mirror is
# hard-coded here. The suite gets its own sources file and a pin priority of
# 1, so nothing from it is ever installed on the host by accident.
set -euo pipefail
dest=${1:?usage: fetch-kernel.sh DIR}

if [ -s "$dest/vmlinuz" ] && [ -s "$dest/config" ] && [ -s "$dest/version" ]; then
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

# Newest linux-binary-7.*-cloud-amd64 the suite offers.
pkg=$(apt-cache pkgnames linux-binary-7. | grep -E '^linux-binary-7\.[0-9.]+\+deb[0-9]+-cloud-amd64$' | sort -V | tail -n1)
if [ -z "$pkg" ]; then
    echo "fetch-kernel: no linux-binary-7.*-cloud-amd64 package in trixie-backports" >&2
    exit 1
fi
kver=${pkg#linux-binary-}
base=linux-base-$kver

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
chmod 0777 "$work"   # apt-get download drops to the _apt user
(cd "$work" && apt-get download -qq "$pkg" "$base")
mkdir -p "$work/x"
for deb in "$work"/*.deb; do dpkg-deb -x "$deb" "$work/x"; done

# Newer packages keep both under /usr/lib/modules/<kver>/, older ones in /boot.
vmlinuz=$(find "$work/x" \( -path "*/modules/$kver/vmlinuz" -o -name "vmlinuz-$kver" \) | head -n1)
config=$(find "$work/x" \( -path "*/modules/$kver/config" -o -name "config-$kver" \) | head -n1)
if [ -z "$vmlinuz" ] || [ -z "$config" ]; then
    echo "fetch-kernel: $pkg/$base did not contain a vmlinuz and a config for $kver" >&2
    find "$work/x" -maxdepth 3 >&2
    exit 1
fi
grep -q '^CONFIG_SCHED_CLASS_EXT=y' "$config" || { echo "fetch-kernel: $kver has no sched_ext" >&2; exit 1; }
mkdir -p "$dest"
cp "$vmlinuz" "$dest/vmlinuz"
cp "$config" "$dest/config"
echo "$kver" > "$dest/version"
echo "fetch-kernel: $kver"
