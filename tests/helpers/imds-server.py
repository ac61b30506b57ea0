#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
#
# A small EC2 instance metadata service for the tests, with IMDSv2's token
# semantics, serving credentials that ebscrypt-kmsd issues:
#
#   PUT /latest/api/token        X-aws-ec2-metadata-token-ttl-seconds: 1..21600
#                                -> a session token (400 without a valid TTL)
#   GET /latest/meta-data/iam/security-credentials/        -> the role name
#   GET /latest/meta-data/iam/security-credentials/ROLE    -> credentials JSON
#   every GET needs X-aws-ec2-metadata-token: a live token, else 401
#
#   imds-server.py --listen ADDR:PORT --role NAME --issue 'COMMAND' [--log FILE]
#
# COMMAND prints credential_process JSON (`ebscrypt-kmsd credentials issue
# ...`); it runs for every credentials GET, so each one gets fresh
# credentials, as a refreshing client needs. --log gets one line per
# request: "METHOD PATH STATUS".
import argparse
import http.server
import json
import secrets
import subprocess
import sys
import threading
import time

CREDS = "/latest/meta-data/iam/security-credentials/"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--listen", required=True)
    ap.add_argument("--role", required=True)
    ap.add_argument("--issue", required=True)
    ap.add_argument("--log")
    args = ap.parse_args()
    host, port = args.listen.rsplit(":", 1)
    tokens = {}
    lock = threading.Lock()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *a):
            pass

        def reply(self, status, body=b"", ctype="text/plain"):
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            if args.log:
                with lock, open(args.log, "a") as f:
                    f.write("%s %s %d\n" % (self.command, self.path, status))

        def do_PUT(self):
            n = int(self.headers.get("Content-Length") or 0)
            if n:
                self.rfile.read(n)
            if self.path != "/latest/api/token":
                return self.reply(404)
            ttl = self.headers.get("X-aws-ec2-metadata-token-ttl-seconds", "")
            if not ttl.isdigit() or not 1 <= int(ttl) <= 21600:
                return self.reply(400)
            tok = secrets.token_urlsafe(32)
            with lock:
                tokens[tok] = time.time() + int(ttl)
            self.reply(200, tok.encode())

        def do_GET(self):
            tok = self.headers.get("X-aws-ec2-metadata-token", "")
            with lock:
                live = tokens.get(tok, 0) > time.time()
            if not live:
                return self.reply(401)
            if self.path == CREDS:
                return self.reply(200, args.role.encode())
            if self.path != CREDS + args.role:
                return self.reply(404)
            out = subprocess.run(args.issue, shell=True, capture_output=True, check=False)
            if out.returncode:
                sys.stderr.write(out.stderr.decode(errors="replace"))
                return self.reply(500)
            c = json.loads(out.stdout)
            doc = {
                "Code": "Success",
                "LastUpdated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "Type": "AWS-HMAC",
                "AccessKeyId": c["AccessKeyId"],
                "SecretAccessKey": c["SecretAccessKey"],
                "Token": c["SessionToken"],
                "Expiration": c["Expiration"],
            }
            self.reply(200, json.dumps(doc).encode(), "application/json")

    srv = http.server.ThreadingHTTPServer((host, int(port)), Handler)
    print("listening on %s:%d" % srv.server_address[:2], flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
