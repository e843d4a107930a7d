#!/usr/bin/env bash
# Build (once, cached) a Debian root that holds MangoHud 0.8.4, so tests can
# run a game under real MangoHud 0.8.4 inside its own root, the way Steam's
# pressure-vessel runs a game (see scripts/in-game-root for running in it).
#
#   ROOT=$(scripts/fetch-mangohud.sh [ROOT])
#
# ROOT defaults to $SCX_GAMER_MANGOHUD_ROOT, else
# /var/cache/scx_gamer/mangohud-root. The root's path is the last line on
# stdout; progress goes to stderr, the tools' own output to ROOT.log.
#
# The root is trixie (minbase) with mangohud, mesa-utils, xvfb,
# libgl1-mesa-dri, xauth and procps, then sid's mangohud on top (trixie has
# 0.7.2, sid 0.8.4). Bookworm's glibc is too old for those binaries, hence a
# root of its own rather than packages on the host.
#
# The same root is a whole system to boot: systemd (as init), dbus,
# libpam-systemd (logind sessions: a login gets XDG_RUNTIME_DIR), polkitd
# (scx_loader asks it who may switch schedulers) and a normal user
# `player` (uid 1000, home /home/player). `scripts/vm-run --system ROOT`
# boots it in the VM test bed (for the Debian package and
# its systemd units on a real init).
#
# A complete root carries ROOT/.scx-gamer-mangohud ("mangohud VERSION
# system polkit"), written last; a run that finds it does nothing but print
# the path (an older root, without the system part or polkitd, is rebuilt). The
# .debs are kept in ROOT's sibling mangohud-debs/ (or
# $SCX_GAMER_MANGOHUD_DEBS), shared by debootstrap and apt, so a rebuild does
# not download them again.
#
# The archive URI is read from the host's own apt sources, as
# fetch-kernel.sh does, so no mirror is hard-coded here. Every mount made
# while building is in a private mount namespace (unshare -m): none is left
# behind if the build is killed.
#
# Env: SCX_GAMER_MANGOHUD_VERSION (default 0.8.4): the build fails unless the
#      installed mangohud's version starts with it.
set -euo pipefail

root=${1:-${SCX_GAMER_MANGOHUD_ROOT:-/var/cache/scx_gamer/mangohud-root}}
want=${SCX_GAMER_MANGOHUD_VERSION:-0.8.4}
case $root in /*) ;; *) root=$PWD/$root ;; esac
root=${root%/}
parent=$(dirname "$root")
debs=${SCX_GAMER_MANGOHUD_DEBS:-$parent/mangohud-debs}
stamp=$root/.scx-gamer-mangohud
buildlog=$root.log
step=start

say() { echo "fetch-mangohud: $*" >&2; }
die() {
    echo "fetch-mangohud: step '$step' failed: $*" >&2
    if [ -s "$buildlog" ]; then
        echo "fetch-mangohud: last lines of $buildlog:" >&2
        tail -n 15 "$buildlog" >&2
    fi
    exit 1
}
complete() { [ -f "$stamp" ] && grep -q "^mangohud $want.* system polkit$" "$stamp" && [ -x "$root/usr/bin/mangohud" ]; }

if complete; then
    say "cached: $(cat "$stamp")"
    echo "$root"
    exit 0
fi

step=preflight
[ "$(id -u)" = 0 ] || die "must run as root (debootstrap and chroot need it)"
for t in unshare chroot mount flock; do
    command -v "$t" >/dev/null || die "$t not found on the host"
done
mkdir -p "$parent" "$debs" || die "cannot create $parent or $debs"

# One build at a time; whoever waited finds the finished root.
exec 9>"$root.lock"
flock 9
if complete; then
    say "cached: $(cat "$stamp")"
    echo "$root"
    exit 0
fi
: > "$buildlog"
t0=$(date +%s)

step=archive-uri
uri=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
if [ -z "$uri" ]; then
    uri=$(awk '$1=="deb" && $3 ~ /^bookworm$/ {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
fi
[ -n "$uri" ] || die "no Debian archive URI found in the host's apt sources"

step=debootstrap-install
if ! command -v debootstrap >/dev/null; then
    say "installing debootstrap on the host"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap; } \
        >>"$buildlog" 2>&1 || die "apt-get install debootstrap"
fi
[ -e /usr/share/debootstrap/scripts/trixie ] || die "this debootstrap has no script for trixie"

# Build beside the final path, then rename: the final path only ever holds a
# complete root. Refuse to delete anything that has a mount under it.
partial=$root.partial
mounted_under() { awk -v p="$1" '$5 == p || index($5, p "/") == 1 {found=1} END {exit !found}' /proc/self/mountinfo; }
for d in "$partial" "$root"; do
    step=clean-old
    if [ -e "$d" ]; then
        mounted_under "$d" && die "$d has mounts under it; unmount them first"
        say "removing $d (incomplete, or not mangohud $want)"
        rm -rf --one-file-system "$d" || die "cannot remove $d"
    fi
done

step=debootstrap
say "debootstrap trixie (minbase) into $partial"
unshare -m --propagation private \
    debootstrap --variant=minbase --cache-dir="$debs" trixie "$partial" "$uri" \
    >>"$buildlog" 2>&1 || die "debootstrap --variant=minbase trixie $partial"

# Run a shell command chrooted in the partial root, with /proc, /dev and the
# shared .deb cache mounted in a private mount namespace.
# shellcheck disable=SC2016  # the inner script expands its own variables
in_root() {
    unshare -m --propagation private env -i \
        PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive LANG=C.UTF-8 \
        R="$partial" DEBS="$debs" CMD="$1" \
        bash -ec '
            mount -t proc proc "$R/proc"
            mount --rbind /dev "$R/dev"
            mount --bind "$DEBS" "$R/var/cache/apt/archives"
            exec chroot "$R" /bin/sh -ec "$CMD"
        ' >>"$buildlog" 2>&1
}
apt_opts="-o Acquire::Check-Valid-Until=false -o Dpkg::Use-Pty=0 -o APT::Keep-Downloaded-Packages=true"

step=configure
printf '#!/bin/sh\nexit 101\n' > "$partial/usr/sbin/policy-rc.d" || die "cannot write policy-rc.d"
chmod 755 "$partial/usr/sbin/policy-rc.d"
cat > "$partial/etc/apt/sources.list.d/sid.list" <<SRC || die "cannot write the sid source"
deb [check-valid-until=no] $uri sid main
SRC
cat > "$partial/etc/apt/preferences.d/sid" <<PIN || die "cannot write the sid pin"
Package: *
Pin: release n=sid
Pin-Priority: 100
PIN

step=apt-update
say "apt-get update (trixie + sid) in the root"
in_root "apt-get $apt_opts update" || die "apt-get update in the root"

step=install-trixie
say "installing mangohud mesa-utils xvfb libgl1-mesa-dri xauth procps systemd dbus (trixie)"
in_root "apt-get $apt_opts install -y --no-install-recommends \
    mangohud mesa-utils xvfb libgl1-mesa-dri xauth procps util-linux \
    systemd systemd-sysv dbus libpam-systemd login passwd polkitd" \
    || die "apt-get install of the trixie packages in the root"

step=player
in_root "useradd --create-home --uid 1000 --user-group --shell /bin/bash player" \
    || die "useradd player in the root"
# Booted in a VM with no network and no login prompt wanted: no getty on
# the serial console (the VM's console is the kernel's log), and no module
# loading (the root has no modules for the VM's kernel).
in_root "systemctl mask serial-getty@ttyS0.service getty@tty1.service systemd-modules-load.service" \
    || die "masking units in the root"

step=install-sid-mangohud
say "installing mangohud from sid"
in_root "apt-get $apt_opts install -y --no-install-recommends -t sid mangohud" \
    || die "apt-get install -t sid mangohud in the root"

step=check
# shellcheck disable=SC2016  # ${Version} is dpkg-query's, not the shell's
ver=$(chroot "$partial" dpkg-query -W -f='${Version}' mangohud 2>>"$buildlog") \
    || die "mangohud is not installed in the root"
case $ver in
    "$want"*) ;;
    *) die "mangohud in the root is $ver, not $want" ;;
esac
for f in usr/bin/mangohud usr/bin/glxgears usr/bin/Xvfb usr/bin/setpriv lib/systemd/systemd; do
    [ -x "$partial/$f" ] || die "/$f missing from the root"
done
# policy-rc.d kept services from starting while building; a booted root
# must let packages start theirs (the Debian package's socket).
rm -f "$partial/usr/sbin/policy-rc.d"
# The package lists are only needed to install; they are ~100 MB.
rm -rf "$partial"/var/lib/apt/lists/* "$partial"/var/cache/apt/*.bin

step=finish
echo "mangohud $ver system polkit" > "$partial/.scx-gamer-mangohud" || die "cannot write the stamp"
mv -T "$partial" "$root" || die "cannot rename $partial to $root"
say "built mangohud $ver in $root in $(( $(date +%s) - t0 )) s ($(du -sh --one-file-system "$root" | cut -f1))"
echo "$root"
