#!/usr/bin/env python3
"""Replay the text parser's test table against a real memcached.

Usage: start `memcached -U 0 -p PORT` (not on 11211), then
  FERROCACHE_ORACLE_DUMP=/tmp/table.tsv cargo test dump_table_for_oracle -- --ignored
  python3 tests/oracle/text_oracle.py /tmp/table.tsv PORT

For each input it sends the input followed by `version\\r\\n` on a fresh
connection and checks that memcached's reply agrees with the parser's
verdict: the error line (or silence when noreply suppresses it), a
non-error reply for a parsed request, and that the `version` sent right
after the consumed bytes is answered (so the consumed count is right).
Inputs that would stop the daemon (`shutdown`) or are known, deliberate
differences are listed as skipped.
"""
import socket
import sys
import time

VERSION = b"VERSION "

# Commands memcached serves that this parser answers ERROR for now.
NOT_SERVED = {b"mn", b"mg", b"ms", b"md", b"ma", b"me", b"slabs"}


def known_deviation(data):
    """The project refuses control bytes in keys; memcached takes them."""
    line = data.split(b"\n", 1)[0]
    if line.endswith(b"\r"):
        line = line[:-1]
    words = line.split()
    if words and words[0] in NOT_SERVED:
        return "command not served yet"
    if any(b < 0x20 or b == 0x7F for b in line):
        return "control byte refused in a key"
    return None


def ask(port, data, wait=0.3):
    s = socket.create_connection(("127.0.0.1", port))
    s.settimeout(wait)
    s.sendall(data)
    out = b""
    start = time.time()
    while time.time() - start < 3:
        try:
            d = s.recv(65536)
        except socket.timeout:
            break
        if not d:
            out += b"<CLOSED>"
            break
        out += d
        if out.endswith(b"\r\n") and VERSION in out.splitlines()[-1]:
            break
    s.close()
    return out


def main():
    path, port = sys.argv[1], int(sys.argv[2])
    bad = skipped = checked = known = 0
    for row in open(path):
        hexdata, verdict = row.rstrip("\n").split("\t")
        data = bytes.fromhex(hexdata)
        words = verdict.split(" ", 3)
        if data.lstrip(b" ").startswith((b"shutdown", b"quit")):
            skipped += 1
            print("skip (would close)", data[:60])
            continue
        if words[0] == "toolarge":
            skipped += 1
            print("skip (limit differs from the daemon's)", data[:60])
            continue
        reply = ask(port, data + b"version\r\n")
        checked += 1
        ok = reply.endswith(b"\r\n") and reply.splitlines()[-1].startswith(VERSION)
        body = reply[: reply.rfind(VERSION)] if ok else reply
        if words[0] == "ok":
            noreply = words[2] == "true"
            ok = ok and not body.startswith((b"ERROR", b"CLIENT_ERROR"))
            if noreply:
                ok = ok and body == b""
        elif words[0] == "err":
            consumed, noreply, line = int(words[1]), words[2] == "true", words[3]
            expected = b"" if noreply else line.encode() + b"\r\n"
            # What follows the rejected bytes (say the data block after a
            # malformed storage line) is read as new commands.
            expected += ask(port, data[consumed:] + b"version\r\n")
            ok = reply == expected
        else:
            ok = False
        if not ok and known_deviation(data):
            known += 1
            print("known deviation:", known_deviation(data), data[:60])
        elif not ok:
            bad += 1
            print("DIFF", data[:80], verdict, "memcached:", reply[:120])
    print(f"checked {checked}, skipped {skipped}, known deviations {known}, differing {bad}")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
