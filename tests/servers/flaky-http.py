#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""An HTTP server for the retry tests: answers the first FAILURES GETs with STATUS (a 5xx or a
4xx), then serves FILE with 200.

    flaky-http.py PORT LOG FILE FAILURES STATUS

Each request is appended to LOG as "METHOD PATH STATUS"."""
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer

PORT, LOG, FILE, FAILURES, STATUS = sys.argv[1:6]
left = int(FAILURES)


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        global left
        if left > 0:
            left -= 1
            status, body = int(STATUS), b"try again\n"
        else:
            status = 200
            with open(FILE, "rb") as f:
                body = f.read()
        with open(LOG, "a") as log:
            log.write(f"GET {self.path} {status}\n")
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):
        pass


HTTPServer(("127.0.0.1", int(PORT)), Handler).serve_forever()
