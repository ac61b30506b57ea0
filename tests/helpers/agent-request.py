#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""agent-request.py SOCK [--count N] [--interval MS] [--summary] (REQUEST | --file F)

Talks to ebscrypt-agent on its Unix socket the way a client does: a new
connection per request, the request sent, the reply line read. REQUEST is a
JSON text (sent with its newline); --file sends F's bytes as they are and then
half-closes, for malformed, binary or truncated requests. The reply is
printed as it came; with --summary, "ok" or "FAILED CODE: ERROR" instead.
--count N sends it N times (default 1), --interval MS apart (default 0).
"""
import argparse
import json
import socket
import sys
import time


def request(path, data, half_close):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(30)
    s.connect(path)
    out = b""
    try:
        s.sendall(data)
        if half_close:
            s.shutdown(socket.SHUT_WR)
        while not out.endswith(b"\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
    except OSError:
        # The agent may close on a request it refuses before reading all of it.
        pass
    finally:
        s.close()
    return out.decode("utf-8", "replace")


def summary(reply):
    try:
        r = json.loads(reply)
    except ValueError:
        return "FAILED no reply: %r" % reply
    return "ok" if r.get("ok") else "FAILED %s: %s" % (r.get("code"), r.get("error"))


def main():
    ap = argparse.ArgumentParser(usage=__doc__)
    ap.add_argument("sock")
    ap.add_argument("request", nargs="?")
    ap.add_argument("--file")
    ap.add_argument("--count", type=int, default=1)
    ap.add_argument("--interval", type=int, default=0)
    ap.add_argument("--summary", action="store_true")
    a = ap.parse_intermixed_args()
    if (a.request is None) == (a.file is None):
        ap.error("one of REQUEST and --file")
    if a.file:
        with open(a.file, "rb") as f:
            data = f.read()
    else:
        data = a.request.encode() + b"\n"
    for i in range(a.count):
        reply = request(a.sock, data, a.file is not None)
        if a.summary:
            print(summary(reply), flush=True)
        else:
            sys.stdout.write(reply if reply.endswith("\n") else reply + "\n")
            sys.stdout.flush()
        if i + 1 < a.count:
            time.sleep(a.interval / 1000)


if __name__ == "__main__":
    main()
