#!/usr/bin/env bash
# Install ferrocache (what `make install` runs).
#
#   PREFIX=/usr/local   binaries in $PREFIX/bin, units in
#                       $PREFIX/lib/systemd/system, man page in
#                       $PREFIX/share/man/man1
#   SYSCONFDIR=/etc     the default config, ferrocache.conf (never
#                       overwritten: it is the operator's once installed)
#   DESTDIR=            staging root prepended to every path (packaging)
#   BUILD_DIR=target/release   where the built binaries are
#
# The units name $PREFIX/bin/ferrocache and $SYSCONFDIR/ferrocache.conf.
# The man page is rendered by the installed binary (ferrocache
# --generate-man, from its clap definition), so it matches its flags.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PREFIX="${PREFIX:-/usr/local}"
DESTDIR="${DESTDIR:-}"
SYSCONFDIR="${SYSCONFDIR:-/etc}"
BUILD_DIR="${BUILD_DIR:-$REPO/target/release}"
BINDIR="$PREFIX/bin"
UNITDIR="$PREFIX/lib/systemd/system"
MANDIR="$PREFIX/share/man"

log() { printf '[install] %s\n' "$*" >&2; }

for bin in ferrocache ferrocache-cli; do
    if [[ ! -x "$BUILD_DIR/$bin" ]]; then
        log "$BUILD_DIR/$bin is missing: run cargo build --release --bins (or make install)"
        exit 1
    fi
    install -D -m 0755 "$BUILD_DIR/$bin" "$DESTDIR$BINDIR/$bin"
    log "$DESTDIR$BINDIR/$bin"
done

for unit in ferrocache.service ferrocache@.service ferrocache.socket; do
    install -d -m 0755 "$DESTDIR$UNITDIR"
    sed -e "s|/usr/bin/ferrocache|$BINDIR/ferrocache|g" \
        -e "s|/etc/ferrocache|$SYSCONFDIR/ferrocache|g" \
        "$REPO/dist/systemd/$unit" >"$DESTDIR$UNITDIR/$unit"
    chmod 0644 "$DESTDIR$UNITDIR/$unit"
    log "$DESTDIR$UNITDIR/$unit"
done

conf="$DESTDIR$SYSCONFDIR/ferrocache.conf"
if [[ -e "$conf" ]]; then
    log "$conf exists: left as it is"
else
    install -D -m 0644 "$REPO/dist/ferrocache.conf" "$conf"
    log "$conf"
fi

install -d -m 0755 "$DESTDIR$MANDIR/man1"
"$BUILD_DIR/ferrocache" --generate-man >"$DESTDIR$MANDIR/man1/ferrocache.1"
chmod 0644 "$DESTDIR$MANDIR/man1/ferrocache.1"
log "$DESTDIR$MANDIR/man1/ferrocache.1"
