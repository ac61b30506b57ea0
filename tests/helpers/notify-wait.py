#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""The service manager's end of the sd_notify protocol, for tests.

notify-wait.py --bind PATH --timeout S [--connect tcp:HOST:PORT|unix:PATH]

Binds a datagram socket at PATH (what $NOTIFY_SOCKET names) and waits for
a datagram holding READY=1. Prints "READY=1", and with --connect, right
when it arrives, " connected" if the daemon's own socket takes a
connection then, or " refused: ERROR". Exits 0 when READY=1 came and the
connection (if asked for) worked, 1 otherwise.
"""
import argparse
import socket
import sys
import time


def try_connect(target):
    kind, _, where = target.partition(":")
    if kind == "tcp":
        host, _, port = where.rpartition(":")
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        addr = (host, int(port))
    elif kind == "unix":
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        addr = where
    else:
        raise SystemExit(f"notify-wait: unknown target {target}")
    s.settimeout(2)
    try:
        s.connect(addr)
        return None
    except OSError as e:
        return str(e)
    finally:
        s.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bind", required=True)
    ap.add_argument("--timeout", type=float, required=True)
    ap.add_argument("--connect")
    a = ap.parse_args()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(a.bind)
    deadline = time.monotonic() + a.timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            print("no READY=1 within %gs" % a.timeout)
            return 1
        sock.settimeout(left)
        try:
            msg = sock.recv(4096).decode(errors="replace")
        except socket.timeout:
            continue
        if "READY=1" in msg.split("\n"):
            break
    err = try_connect(a.connect) if a.connect else None
    if not a.connect:
        print("READY=1")
        return 0
    print("READY=1 " + ("connected" if err is None else "refused: " + err))
    return 0 if err is None else 1


if __name__ == "__main__":
    sys.exit(main())
