#!/usr/bin/env bash
# Install flypaper as a systemd service on Debian (as root). Idempotent: run
# it again after an update.
#
#   install.sh [--binary PATH] [--root DIR]
#   install.sh --uninstall [--root DIR]
#
# Installs:
#   /usr/local/bin/flypaper                 always (replaced atomically)
#   /etc/systemd/system/flypaper.service    always (appliance/flypaper.service)
#   /etc/flypaper/flypaper.toml             only if absent: `flypaper default-config`
#   /etc/default/flypaper                   only if absent: appliance/flypaper.default
# then runs `systemctl daemon-reload`. It neither enables nor restarts the
# service: a restart cuts the link for a moment, so that is the operator's
# call (the script says when the running daemon is older than the binary).
#
# --binary PATH  install this binary instead of building one with
#                `cargo build --release --locked` in this checkout.
# --root DIR     install below DIR (a staging tree, for tests and images)
#                without touching the running system: no systemctl, no
#                root needed.
# --uninstall    stop and disable the service, remove the binary and the
#                unit; the operator's files stay: /etc/flypaper,
#                /etc/default/flypaper, /var/lib/flypaper.
set -euo pipefail

die() {
    echo "install.sh: $*" >&2
    exit 1
}

usage() {
    echo "usage: install.sh [--binary PATH] [--root DIR] | --uninstall [--root DIR]" >&2
    exit 2
}

here=$(cd "$(dirname "$0")" && pwd)
root=
binary=
uninstall=0
while [ $# -gt 0 ]; do
    case $1 in
    --root)
        [ $# -ge 2 ] || usage
        root=$2
        shift 2
        ;;
    --binary)
        [ $# -ge 2 ] || usage
        binary=$2
        shift 2
        ;;
    --uninstall)
        uninstall=1
        shift
        ;;
    -h | --help) usage ;;
    *) usage ;;
    esac
done
if [ -n "$root" ]; then
    [ -d "$root" ] || die "--root $root: not a directory"
    root=$(cd "$root" && pwd)
    [ "$root" != / ] || root=
fi
live=1
[ -z "$root" ] || live=0
if [ "$live" = 1 ] && [ "$(id -u)" -ne 0 ]; then
    die "installing on this system needs root (or --root DIR to stage)"
fi

BIN=$root/usr/local/bin/flypaper
UNIT=$root/etc/systemd/system/flypaper.service
CONF=$root/etc/flypaper/flypaper.toml
DEFAULTS=$root/etc/default/flypaper

# Write stdin to $1 with mode $2: a temporary file beside it, renamed over
# it, so a reader never sees half a file and a running binary is not
# rewritten under its process.
put() {
    local dst=$1 mode=$2 tmp
    install -d -m 0755 "$(dirname "$dst")"
    tmp=$(mktemp "$dst.XXXXXX")
    if ! cat >"$tmp" || ! chmod "$mode" "$tmp" || ! mv -f "$tmp" "$dst"; then
        rm -f "$tmp"
        die "cannot write $dst"
    fi
}

if [ "$uninstall" = 1 ]; then
    if [ "$live" = 1 ] && command -v systemctl >/dev/null; then
        systemctl disable --now flypaper.service 2>/dev/null || true
    fi
    for f in "$UNIT" "$BIN"; do
        if [ -e "$f" ]; then
            rm -f "$f"
            echo "removed $f"
        fi
    done
    if [ "$live" = 1 ] && command -v systemctl >/dev/null; then
        systemctl daemon-reload
    fi
    for f in "$CONF" "$DEFAULTS" "$root/var/lib/flypaper"; do
        [ ! -e "$f" ] || echo "kept $f (the operator's)"
    done
    exit 0
fi

if [ -z "$binary" ]; then
    command -v cargo >/dev/null || die "cargo not found: install Rust, or give --binary PATH"
    (cd "$here/.." && cargo build --release --locked)
    binary=$here/../target/release/flypaper
fi
[ -f "$binary" ] && [ -x "$binary" ] || die "$binary: not an executable file"
"$binary" --version >/dev/null || die "$binary does not run on this machine"

put "$BIN" 0755 <"$binary"
echo "installed $BIN ($("$BIN" --version))"
put "$UNIT" 0644 <"$here/flypaper.service"
echo "installed $UNIT"

if [ -e "$CONF" ]; then
    echo "kept $CONF (the operator's)"
    # An operator's policy that this version refuses would stop the service
    # at its next start: say so now.
    if ! "$BIN" check-config "$CONF" >/dev/null; then
        echo "install.sh: warning: this flypaper refuses $CONF (above); fix it before restarting the service" >&2
    fi
else
    install -d -m 0755 "$(dirname "$CONF")"
    "$BIN" default-config | put "$CONF" 0644
    echo "installed $CONF (the default policy; every key is commented)"
fi
if [ -e "$DEFAULTS" ]; then
    echo "kept $DEFAULTS (the operator's)"
else
    put "$DEFAULTS" 0644 <"$here/flypaper.default"
    echo "installed $DEFAULTS"
fi

if [ "$live" = 0 ]; then
    echo "staged in $root; systemd not touched"
    exit 0
fi
systemctl daemon-reload
if systemctl is-active --quiet flypaper.service; then
    echo "flypaper.service is running the previous binary: systemctl restart flypaper (cuts the link for a moment)"
else
    # shellcheck disable=SC1090
    wan=$(. "$DEFAULTS" && echo "${FLYPAPER_WAN:-}")
    if [ -z "$wan" ]; then
        echo "next: set FLYPAPER_WAN and FLYPAPER_LAN in $DEFAULTS, then: systemctl enable --now flypaper"
    else
        echo "next: systemctl enable --now flypaper"
    fi
fi
