#!/usr/bin/env bash
# Install the scx_gamer binary and its root service (systemd socket +
# service), so that the Steam launch option `scx_gamer launch -- %command%`
# can apply configs without Steam or the game running as root.
#
#   sudo scripts/install-service.sh
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" -eq 0 ] || { echo "run as root: sudo $0" >&2; exit 1; }
export BPF_CLANG=${BPF_CLANG:-clang-19}
cargo build --locked --release --quiet
install -m 0755 target/release/scx_gamer /usr/local/bin/scx_gamer
install -m 0644 systemd/scx_gamer.socket /etc/systemd/system/
# The unit names the packaged binary (/usr/bin); this install's is in /usr/local/bin.
sed 's|^ExecStart=/usr/bin/scx_gamer |ExecStart=/usr/local/bin/scx_gamer |' systemd/scx_gamer.service \
    > /etc/systemd/system/scx_gamer.service
chmod 0644 /etc/systemd/system/scx_gamer.service
systemctl daemon-reload
systemctl enable --now scx_gamer.socket
echo "installed: /usr/local/bin/scx_gamer, scx_gamer.socket listening on /run/scx_gamer.sock"
