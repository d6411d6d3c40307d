"""The hijacker's DNS of scripts/net_lab.py (NetLab.hijack_dns): run inside one namespace, on
the lab's DNS address, so that only that namespace's queries reach it. A proxy: every query
(UDP and TCP) goes unchanged to the real server (--upstream, port 53) and its answer comes back
unchanged, except a query whose (qname, qtype) is overridden: that one gets a forged answer,
NOERROR, authoritative, unsigned, with the given records at TTL 1 (none: NODATA).

    hijack_dns.py --addr A --port 53 --upstream U --overrides o.json --ready FILE
                  --owner-pid P --owner-start T

o.json: [{"name": "www.shop.com.", "type": "TXT", "rdata": ["\\"forged\\""]}, ...]. Every
query is logged on stdout. It creates FILE once it listens on both, and exits on SIGTERM or
when the owner process (pid P, started at T) is gone: it never outlives the test session.
"""

import argparse
import json
import os
import signal
import socket
import socketserver
import struct
import sys
import threading
import time

import dns.flags
import dns.message
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset

UPSTREAM_TIMEOUT = 5.0


sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "scripts"))
from net_lab import proc_start_time  # noqa: E402


def owner_alive(pid, start):
    return proc_start_time(pid) == start


class Proxy:
    def __init__(self, upstream, port, overrides, delay=0.0):
        self.upstream = (upstream, port)
        self.overrides = overrides        # (dns.name.Name, rdtype) -> [rdata text]
        self.delay = delay                # seconds added to every forwarded query (a far path)

    def forged(self, wire):
        """The forged answer to the query in wire, or None when it is not overridden (or not
        a query we can read: then it is forwarded as it is)."""
        try:
            q = dns.message.from_wire(wire)
        except Exception:
            return None
        if len(q.question) != 1 or q.opcode() != 0:
            return None
        qr = q.question[0]
        key = (qr.name.canonicalize(), qr.rdtype)
        if qr.rdclass != dns.rdataclass.IN or key not in self.overrides:
            print("forward %s %s" % (qr.name, dns.rdatatype.to_text(qr.rdtype)), flush=True)
            return None
        r = dns.message.make_response(q)
        r.flags |= dns.flags.AA
        r.flags &= ~dns.flags.AD
        texts = self.overrides[key]
        if texts:
            rrset = dns.rrset.RRset(qr.name, dns.rdataclass.IN, qr.rdtype)
            for t in texts:
                rrset.add(dns.rdata.from_text(dns.rdataclass.IN, qr.rdtype, t), ttl=1)
            r.answer.append(rrset)
        print("forge %s %s: %d record(s)" % (qr.name, dns.rdatatype.to_text(qr.rdtype), len(texts)),
              flush=True)
        return r.to_wire()

    def ask_udp(self, wire):
        if self.delay:
            time.sleep(self.delay)
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            s.settimeout(UPSTREAM_TIMEOUT)
            s.connect(self.upstream)
            s.send(wire)
            while True:
                reply = s.recv(65535)
                if reply[:2] == wire[:2]:        # the same id: the answer to this query
                    return reply
        except OSError:
            return None
        finally:
            s.close()

    def ask_tcp(self, wire):
        if self.delay:
            time.sleep(self.delay)
        try:
            with socket.create_connection(self.upstream, UPSTREAM_TIMEOUT) as s:
                s.sendall(struct.pack("!H", len(wire)) + wire)
                n = struct.unpack("!H", recv_exact(s, 2))[0]
                return recv_exact(s, n)
        except (OSError, ValueError, struct.error):
            return None


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise ValueError("closed")
        buf += chunk
    return buf


class UdpHandler(socketserver.BaseRequestHandler):
    def handle(self):
        wire, sock = self.request
        proxy = self.server.proxy
        reply = proxy.forged(wire) or proxy.ask_udp(wire)
        if reply:
            sock.sendto(reply, self.client_address)


class TcpHandler(socketserver.BaseRequestHandler):
    def handle(self):
        proxy = self.server.proxy
        self.request.settimeout(10)
        try:
            while True:
                n = struct.unpack("!H", recv_exact(self.request, 2))[0]
                wire = recv_exact(self.request, n)
                reply = proxy.forged(wire) or proxy.ask_tcp(wire)
                if not reply:
                    return
                self.request.sendall(struct.pack("!H", len(reply)) + reply)
        except (OSError, ValueError, struct.error):
            return


class UdpServer(socketserver.ThreadingMixIn, socketserver.UDPServer):
    daemon_threads = True
    allow_reuse_address = True


class TcpServer(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--addr", required=True)
    ap.add_argument("--port", type=int, default=53)
    ap.add_argument("--upstream", required=True)
    ap.add_argument("--overrides", required=True)
    ap.add_argument("--delay-ms", type=float, default=0.0)
    ap.add_argument("--ready", required=True)
    ap.add_argument("--owner-pid", type=int, required=True)
    ap.add_argument("--owner-start", required=True)
    a = ap.parse_args()
    overrides = {}
    with open(a.overrides) as f:
        for o in json.load(f):
            name = dns.name.from_text(o["name"]).canonicalize()
            rdtype = dns.rdatatype.from_text(o["type"])
            for t in o["rdata"]:                 # refuse a bad record now, not at query time
                dns.rdata.from_text(dns.rdataclass.IN, rdtype, t)
            overrides[(name, rdtype)] = list(o["rdata"])
    proxy = Proxy(a.upstream, 53, overrides, a.delay_ms / 1000.0)
    servers = [UdpServer((a.addr, a.port), UdpHandler), TcpServer((a.addr, a.port), TcpHandler)]
    for s in servers:
        s.proxy = proxy
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    for s in servers:
        threading.Thread(target=s.serve_forever, daemon=True).start()
    with open(a.ready, "w") as f:
        f.write("%d\n" % os.getpid())
    print("listening on %s:%d (udp, tcp), upstream %s:53, %d override(s)"
          % (a.addr, a.port, a.upstream, len(overrides)), flush=True)
    while not done.wait(0.5):
        if not owner_alive(a.owner_pid, a.owner_start):
            print("owner gone: exiting", flush=True)
            break
    for s in servers:
        s.shutdown()
        s.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
