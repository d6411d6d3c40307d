"""The hijacker's web server of scripts/net_lab.py (NetLab.hijack_web): run inside one
namespace, on the lab's web address, so that only that namespace's requests reach it.

    hijack_web.py --addr A --port 80 --routes routes.json --ready FILE --owner-pid P --owner-start T

routes.json: [{"host": "www.shop.com", "path": "/x", "body": "..."}, ...]; a request is
routed by its Host header (without port) and path; anything else is a 404. Every request is
logged on stdout. It creates FILE once it listens, and exits on SIGTERM or when the owner
process (pid P, started at T) is gone: it never outlives the test session.
"""

import argparse
import json
import os
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "scripts"))
from net_lab import proc_start_time  # noqa: E402


def owner_alive(pid, start):
    return proc_start_time(pid) == start


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def do_GET(self):
        host = (self.headers.get("Host") or "").split(":")[0].lower().rstrip(".")
        body = self.server.routes.get((host, self.path))
        print("GET %s %s -> %s" % (host, self.path, 404 if body is None else 200), flush=True)
        status, body = (404, b"not found\n") if body is None else (200, body)
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        try:
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--addr", required=True)
    ap.add_argument("--port", type=int, default=80)
    ap.add_argument("--routes", required=True)
    ap.add_argument("--ready", required=True)
    ap.add_argument("--owner-pid", type=int, required=True)
    ap.add_argument("--owner-start", required=True)
    a = ap.parse_args()
    with open(a.routes) as f:
        routes = {(r["host"].lower().rstrip("."), r["path"]): r["body"].encode() for r in json.load(f)}
    srv = ThreadingHTTPServer((a.addr, a.port), Handler)
    srv.daemon_threads = True
    srv.routes = routes
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=srv.shutdown).start())

    def watch():
        while owner_alive(a.owner_pid, a.owner_start):
            time.sleep(0.5)
        print("owner gone: exiting", flush=True)
        srv.shutdown()

    threading.Thread(target=watch, daemon=True).start()
    with open(a.ready, "w") as f:
        f.write("%d\n" % os.getpid())
    print("listening on %s:%d, %d route(s)" % (a.addr, a.port, len(routes)), flush=True)
    srv.serve_forever()
    srv.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
