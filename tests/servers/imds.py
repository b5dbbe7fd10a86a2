#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A fake EC2 instance metadata service (IMDSv2) for the tests: the one mock of the test suite,
since EC2 itself cannot run here (see tests/unit/server-imds.h).

    imds.py PORT LOG ROLE ACCESS_KEY SECRET TOKEN EXPIRATION

PUT /latest/api/token with X-aws-ec2-metadata-token-ttl-seconds hands out a session token; every
GET needs a handed-out token in X-aws-ec2-metadata-token (401 otherwise). ROLE "-" means the
instance has no profile (the role list is 404). Each request is appended to LOG as
"METHOD PATH STATUS"."""
import json
import secrets
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT, LOG, ROLE, ACCESS_KEY, SECRET, TOKEN, EXPIRATION = sys.argv[1:8]
ROLES_PATH = "/latest/meta-data/iam/security-credentials/"
tokens = set()


class Handler(BaseHTTPRequestHandler):
    def answer(self, status, body=b""):
        with open(LOG, "a") as log:
            log.write(f"{self.command} {self.path} {status}\n")
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_PUT(self):
        if self.path != "/latest/api/token":
            return self.answer(404)
        ttl = self.headers.get("X-aws-ec2-metadata-token-ttl-seconds", "")
        if not ttl.isdigit() or not 1 <= int(ttl) <= 21600:
            return self.answer(400)
        token = secrets.token_urlsafe(32)
        tokens.add(token)
        self.answer(200, token.encode())

    def do_GET(self):
        if self.headers.get("X-aws-ec2-metadata-token") not in tokens:
            return self.answer(401)
        if ROLE == "-" and self.path.startswith(ROLES_PATH):
            return self.answer(404)
        if self.path == ROLES_PATH:
            return self.answer(200, ROLE.encode())
        if self.path == ROLES_PATH + ROLE:
            return self.answer(200, json.dumps({
                "Code": "Success",
                "LastUpdated": "2026-01-01T00:00:00Z",
                "Type": "AWS-HMAC",
                "AccessKeyId": ACCESS_KEY,
                "SecretAccessKey": SECRET,
                "Token": TOKEN,
                "Expiration": EXPIRATION,
            }).encode())
        self.answer(404)

    def log_message(self, format, *args):
        pass


ThreadingHTTPServer(("127.0.0.1", int(PORT)), Handler).serve_forever()
