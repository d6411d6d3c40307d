"""A false perspective for the tests: an HTTPS server at a real perspective's address, with
its TLS certificate (an attacker who took the certificate, or sits behind a leaked one) but
without its MAC key. Run inside the perspective's network namespace:

    fake_perspective.py ADDR PORT CERT KEY MODE [FILE]
      forge    answers every request "pass"/"permit", MAC'd with a key of its own
      replay   answers every request with FILE, a genuine answer captured earlier
"""

import os
import secrets
import ssl
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mpic_wire  # noqa: E402

ADDR, PORT, CERT, KEY, MODE = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
FILE = sys.argv[6] if len(sys.argv) > 6 else None
OWN_KEY = secrets.token_bytes(32)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def do_GET(self):
        self.reply(b"ecert-perspective fake ok\n", "text/plain")

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if MODE == "replay":
            return self.reply(open(FILE, "rb").read(), "application/x-ecert-mpic")
        _, req, _ = mpic_wire.decode(body)
        ans = {"perspective": req["perspective"], "nonce": req["nonce"], "time": req["time"],
               "check": req["check"], "name": req.get("name"),
               "result": "permit" if req["check"] == "caa" else "pass", "reason": "passed"}
        self.reply(mpic_wire.encode("answer", ans, OWN_KEY), "application/x-ecert-mpic")

    def reply(self, data, ctype):
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


srv = ThreadingHTTPServer((ADDR, PORT), Handler)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(CERT, KEY)
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
print("listening", flush=True)
srv.serve_forever()
