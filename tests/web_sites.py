"""The applicants' web sites for Website Change tests: real HTTP servers (Python's http.server)
on one address (ADDR, 127.0.80.1, unless told another: in a test session with a network lab,
stack.web_addr, the lab's web address on its bridge) port 80 and, with a self-signed
certificate, port 443; what each name serves is routed by the Host header, so one address plays
every site. Needs root (ports below 1024).

    sites = WebSites(tmpdir, addr=stack.web_addr).start()
    sites.route("www.shop.com", "/.well-known/pki-validation/fileauth.txt", body="code\\n")
    sites.route("a.shop.com", "/x", status=301, headers={"Location": "https://a.shop.com/y"})
    sites.requests        every request line seen: (port, host, path, user agent)
"""

import os
import ssl
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ADDR = "127.0.80.1"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def do_GET(self):
        sites = self.server.sites
        host = (self.headers.get("Host") or "").split(":")[0].lower()
        sites.requests.append((self.server.server_port, host, self.path,
                               self.headers.get("User-Agent", "")))
        r = sites.routes.get((host, self.path), sites.routes.get((host, "*")))
        if r is None:
            r = {"status": 404, "body": b"not found\n", "headers": {}, "delay": 0}
        if r["delay"]:
            time.sleep(r["delay"])
        body = r["body"]
        self.send_response(r["status"])
        for k, v in r["headers"].items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        try:
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass


class WebSites:
    def __init__(self, tmpdir, addr=ADDR):
        self.dir = tmpdir
        self.addr = addr
        self.routes = {}
        self.requests = []
        self.servers = []

    def route(self, host, path, status=200, body="", headers=None, delay=0):
        if isinstance(body, str):
            body = body.encode()
        self.routes[(host.lower(), path)] = {"status": status, "body": body,
                                             "headers": headers or {}, "delay": delay}

    def _tls(self):
        key, crt = os.path.join(self.dir, "site.key"), os.path.join(self.dir, "site.crt")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                        "-nodes", "-keyout", key, "-out", crt, "-days", "2", "-subj", "/CN=sites.test"],
                       check=True, capture_output=True)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(crt, key)
        return ctx

    def start(self):
        for port, tls in ((80, False), (443, True)):
            srv = ThreadingHTTPServer((self.addr, port), _Handler)
            srv.daemon_threads = True
            srv.sites = self
            if tls:
                srv.socket = self._tls().wrap_socket(srv.socket, server_side=True)
            threading.Thread(target=srv.serve_forever, daemon=True).start()
            self.servers.append(srv)
        return self

    def stop(self):
        for srv in self.servers:
            srv.shutdown()
            srv.server_close()
        self.servers = []
