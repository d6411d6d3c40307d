"""Certificate Transparency logs for the tests: small but real RFC 6962 logs, each an HTTP
server in this process (a thread) with its own ECDSA P-256 key, an append-only Merkle tree in
memory, and the JSON API of RFC 6962 section 4 under <url>ct/v1/.

    log = CtLog("Test Log A", "Operator A", window=(start, end), roots=[root_der]).start()
    log.url                     "http://127.0.0.1:PORT/"
    log.entries()               [LogEntry(index, entry_type, der, chain, timestamp)], in log order
    log.log_id()                SHA-256 of the log's SubjectPublicKeyInfo (bytes)
    log.down = True             hang up on every request (or an HTTP status, e.g. 503, to answer)
    log.bad_signature = True    SCTs whose signature does not verify
    log.slow = 2.5              seconds to wait before answering
    log.stop(); log.start()     refuse connections for a while; the tree and key stay
    write_openssl_ctlog(path, logs)       the list `openssl s_client -ct -ctlogfile` reads
    write_certspotter_loglist(path, logs) the v3 JSON list `certspotter -logs` reads

Run directly it serves one log until SIGTERM/SIGINT, keeping its key in --key FILE across runs
(the tree is in memory only) and printing "URL LOG_ID_BASE64 NAME" once it listens:
    python3 scripts/ct_log.py --name "Test Log A" --port 8601 --root root.pem --key a.key \
        --window 2026-01-01 2028-01-01 --loglist logs.json --ctlogfile ct.cnf
"""

import base64
import datetime
import hashlib
import json
import struct
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import SignatureAlgorithmOID

POISON_OID = x509.ObjectIdentifier("1.3.6.1.4.1.11129.2.4.3")
X509_ENTRY, PRECERT_ENTRY = 0, 1
# The most entries one get-entries answer holds; clients page on (RFC 6962 section 4.6).
MAX_ENTRIES = 256


# --- TLS encodings (RFC 5246 section 4) -------------------------------------------------------

def _vec(data, width):
    """A TLS opaque vector: the length in `width` bytes, then the bytes."""
    return len(data).to_bytes(width, "big") + data


def _digitally_signed(sig_der):
    """DigitallySigned: hash sha256(4), signature ecdsa(3), then the DER signature."""
    return bytes([4, 3]) + _vec(sig_der, 2)


def _signed_entry(entry_type, der, issuer_key_hash=None, tbs=None):
    if entry_type == X509_ENTRY:
        return struct.pack(">H", X509_ENTRY) + _vec(der, 3)
    return struct.pack(">H", PRECERT_ENTRY) + issuer_key_hash + _vec(tbs, 3)


# --- DER, just enough to take the poison out of a TBSCertificate (RFC 6962 section 3.2) -------

def _tlv(buf, i):
    """(tag, first content byte, end) of the DER element starting at buf[i]."""
    n, j = buf[i + 1], i + 2
    if n & 0x80:
        j += n & 0x7F
        n = int.from_bytes(buf[i + 2:j], "big")
    return buf[i], j, j + n


def _children(buf, start, end):
    """The elements of buf[start:end], each as (tag, its DER, content start)."""
    while start < end:
        tag, s, e = _tlv(buf, start)
        yield tag, buf[start:e], s - start
        start = e


def _der(tag, content):
    n = len(content)
    if n < 0x80:
        return bytes([tag, n]) + content
    b = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(b)]) + b + content


_POISON_OID_DER = _der(0x06, bytes.fromhex("2b06010401d679020403"))


def spki_der(cert_der):
    """The SubjectPublicKeyInfo exactly as the certificate carries it."""
    _, s, e = _tlv(cert_der, 0)
    _, s, e = _tlv(cert_der, s)                           # TBSCertificate
    fields = [elem for _, elem, _ in _children(cert_der, s, e)]
    if fields[0][0] == 0xA0:                              # [0] version, absent for v1
        fields = fields[1:]
    return fields[5]          # serial, signature, issuer, validity, subject, subjectPublicKeyInfo


def tbs_without_poison(tbs):
    """The TBSCertificate with the poison extension removed, every other byte as it was; the
    [3] extensions field goes too when the poison was its only extension."""
    _, s, e = _tlv(tbs, 0)
    fields = []
    for tag, elem, c in _children(tbs, s, e):
        if tag == 0xA3:                                   # [3] EXPLICIT Extensions
            _, xs, xe = _tlv(elem, c)
            kept = [x for _, x, xc in _children(elem, xs, xe)
                    if not x[xc:].startswith(_POISON_OID_DER)]
            if not kept:
                continue
            elem = _der(0xA3, _der(0x30, b"".join(kept)))
        fields.append(elem)
    return _der(0x30, b"".join(fields))


# --- Merkle tree (RFC 6962 section 2.1) -------------------------------------------------------

def leaf_hash(leaf_input):
    return hashlib.sha256(b"\x00" + leaf_input).digest()


def _node(left, right):
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n):
    """The largest power of two smaller than n (n >= 2)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def tree_hash(leaves):
    """MTH of a list of leaf hashes."""
    n = len(leaves)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return leaves[0]
    k = _split(n)
    return _node(tree_hash(leaves[:k]), tree_hash(leaves[k:]))


def audit_path(m, leaves):
    """PATH(m, D[n]): the siblings from leaf m up to the root."""
    if len(leaves) <= 1:
        return []
    k = _split(len(leaves))
    if m < k:
        return audit_path(m, leaves[:k]) + [tree_hash(leaves[k:])]
    return audit_path(m - k, leaves[k:]) + [tree_hash(leaves[:k])]


def consistency_proof(m, leaves):
    """PROOF(m, D[n]) for 0 < m <= n; empty when the two trees are the same."""
    def sub(m, leaves, complete):
        n = len(leaves)
        if m == n:
            return [] if complete else [tree_hash(leaves)]
        k = _split(n)
        if m <= k:
            return sub(m, leaves[:k], complete) + [tree_hash(leaves[k:])]
        return sub(m - k, leaves[k:], False) + [tree_hash(leaves[:k])]
    return sub(m, leaves, True)


# --- the log ----------------------------------------------------------------------------------

@dataclass
class LogEntry:
    index: int
    entry_type: str          # "x509_entry" or "precert_entry"
    der: bytes               # the certificate or precertificate as submitted
    chain: list              # DER of its issuers up to the accepted root
    timestamp: int           # ms since the epoch, as in the SCT
    leaf_input: bytes = field(repr=False, default=b"")
    extra_data: bytes = field(repr=False, default=b"")


class Refused(Exception):
    """A submission the log does not accept: answered 400 with the reason."""


def _utc(t):
    return t if t.tzinfo else t.replace(tzinfo=datetime.timezone.utc)


def _issued_by(child, parent):
    """Raise unless child names parent as its issuer and parent's key signed it (Debian 12's
    cryptography 38 has no Certificate.verify_directly_issued_by)."""
    if child.issuer != parent.subject:
        raise ValueError("issuer name differs")
    key, sig, tbs, alg = (parent.public_key(), child.signature, child.tbs_certificate_bytes,
                          child.signature_hash_algorithm)
    if isinstance(key, rsa.RSAPublicKey):
        pad = padding.PKCS1v15()
        if child.signature_algorithm_oid == SignatureAlgorithmOID.RSASSA_PSS:
            pad = padding.PSS(padding.MGF1(alg), alg.digest_size)
        key.verify(sig, tbs, pad, alg)
    elif isinstance(key, ec.EllipticCurvePublicKey):
        key.verify(sig, tbs, ec.ECDSA(alg))
    else:
        key.verify(sig, tbs)


def _not_after(cert):
    t = getattr(cert, "not_valid_after_utc", None)
    return t or cert.not_valid_after.replace(tzinfo=datetime.timezone.utc)


def _now_ms():
    return int(time.time() * 1000)


class CtLog:
    def __init__(self, name, operator="e-Cert test logs", port=None, host="127.0.0.1",
                 window=None, roots=(), key=None, mmd=86400):
        self.name = name
        self.operator = operator
        self.host = host
        self.port = port or 0
        self.window = (_utc(window[0]), _utc(window[1])) if window else None
        self.roots = [bytes(r) for r in roots]
        self.key = key or ec.generate_private_key(ec.SECP256R1())
        self.mmd = mmd
        # Fault switches, read at every request.
        self.down = False
        self.bad_signature = False
        self.slow = 0
        self.clock_ahead_ms = 0       # a log whose clock runs ahead: its SCTs are from the future
        self.requests = []            # (method, path) of every request seen, in order
        self._entries = []
        self._leaves = []             # leaf hashes, the tree
        self._lock = threading.Lock()
        self._server = None
        self._thread = None

    # -- life --

    def start(self):
        """Serve (again) on the port given or picked the first time."""
        srv = ThreadingHTTPServer((self.host, self.port), _Handler)
        srv.daemon_threads = True
        srv.log = self
        self.port = srv.server_address[1]
        self._server = srv
        self._thread = threading.Thread(target=srv.serve_forever, name="ct-log " + self.name,
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self):
        """Close the listening socket: clients are refused until start()."""
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join()
            self._server = None

    @property
    def url(self):
        return "http://%s:%d/" % (self.host, self.port)

    # -- what tests read --

    def public_key_der(self):
        return self.key.public_key().public_bytes(serialization.Encoding.DER,
                                                  serialization.PublicFormat.SubjectPublicKeyInfo)

    def log_id(self):
        return hashlib.sha256(self.public_key_der()).digest()

    def entries(self):
        with self._lock:
            return list(self._entries)

    def add_root(self, der):
        self.roots.append(bytes(der))

    # -- signing --

    def _sign(self, data):
        return _digitally_signed(self.key.sign(data, ec.ECDSA(hashes.SHA256())))

    def _sct_signature(self, timestamp, signed_entry):
        if self.bad_signature:
            # A well-formed ECDSA signature, but over another timestamp: parses, never verifies.
            timestamp += 1
        return self._sign(bytes([0, 0]) + struct.pack(">Q", timestamp) + signed_entry + _vec(b"", 2))

    def sth(self):
        with self._lock:
            size = len(self._leaves)
            root = tree_hash(self._leaves)
            # At least as recent as the newest SCT: every entry is in the tree at once.
            ts = max([_now_ms()] + [e.timestamp for e in self._entries])
        sig = self._sign(bytes([0, 1]) + struct.pack(">QQ", ts, size) + root)
        return {"tree_size": size, "timestamp": ts,
                "sha256_root_hash": base64.b64encode(root).decode(),
                "tree_head_signature": base64.b64encode(sig).decode()}

    # -- submissions (RFC 6962 sections 4.1, 4.2) --

    def submit(self, chain_b64, precert):
        try:
            chain_der = [base64.b64decode(c, validate=True) for c in chain_b64]
            certs = [x509.load_der_x509_certificate(d) for d in chain_der]
        except Exception as e:
            raise Refused("chain does not parse: %s" % e)
        if not certs:
            raise Refused("empty chain")
        leaf = certs[0]
        for child, parent in zip(certs, certs[1:]):
            try:
                _issued_by(child, parent)
            except Exception:
                raise Refused("%s is not issued by %s" % (child.subject.rfc4514_string(),
                                                          parent.subject.rfc4514_string()))
        chain_der = chain_der + self._root_for(chain_der[-1], certs[-1])
        try:
            poison = leaf.extensions.get_extension_for_oid(POISON_OID)
        except x509.ExtensionNotFound:
            poison = None
        if precert and not (poison and poison.critical):
            raise Refused("a precertificate needs the critical poison extension")
        if precert and len(chain_der) < 2:
            raise Refused("a precertificate needs its issuer")
        if not precert and poison:
            raise Refused("a certificate with the poison extension is a precertificate")
        if self.window:
            not_after = _not_after(leaf)
            if not (self.window[0] <= not_after < self.window[1]):
                raise Refused("notAfter %s is outside this log's window [%s, %s)"
                              % (not_after, self.window[0], self.window[1]))

        ts = _now_ms() + self.clock_ahead_ms
        if precert:
            # The issuer's key and the TBSCertificate the final certificate will have: the
            # precertificate's, poison removed.
            signed = _signed_entry(PRECERT_ENTRY, None, hashlib.sha256(spki_der(chain_der[1])).digest(),
                                   tbs_without_poison(leaf.tbs_certificate_bytes))
            extra = _vec(chain_der[0], 3) + _vec(b"".join(_vec(c, 3) for c in chain_der[1:]), 3)
        else:
            signed = _signed_entry(X509_ENTRY, chain_der[0])
            extra = _vec(b"".join(_vec(c, 3) for c in chain_der[1:]), 3)
        # MerkleTreeLeaf: version v1, leaf_type timestamped_entry, then the TimestampedEntry.
        leaf_input = bytes([0, 0]) + struct.pack(">Q", ts) + signed + _vec(b"", 2)
        with self._lock:
            self._entries.append(LogEntry(len(self._entries),
                                          "precert_entry" if precert else "x509_entry",
                                          chain_der[0], chain_der[1:], ts, leaf_input, extra))
            self._leaves.append(leaf_hash(leaf_input))
        return {"sct_version": 0, "id": base64.b64encode(self.log_id()).decode(),
                "timestamp": ts, "extensions": "",
                "signature": base64.b64encode(self._sct_signature(ts, signed)).decode()}

    def _root_for(self, top_der, top):
        """What to append so the chain ends in an accepted root: nothing when it does already."""
        if top_der in self.roots:
            return []
        for r in self.roots:
            try:
                _issued_by(top, x509.load_der_x509_certificate(r))
                return [r]
            except Exception:
                continue
        raise Refused("chain does not end in a root this log accepts")

    # -- reading (RFC 6962 sections 4.3 to 4.7) --

    def get_consistency(self, first, second):
        with self._lock:
            if not 0 <= first <= second <= len(self._leaves):
                raise Refused("need 0 <= first <= second <= tree size %d" % len(self._leaves))
            leaves = self._leaves[:second]
        proof = consistency_proof(first, leaves) if first > 0 else []
        return {"consistency": [base64.b64encode(h).decode() for h in proof]}

    def get_proof(self, h, size):
        with self._lock:
            if not 0 < size <= len(self._leaves):
                raise Refused("tree_size must be in 1..%d" % len(self._leaves))
            leaves = self._leaves[:size]
        if h not in leaves:
            raise Refused("no such leaf in a tree of that size")
        m = leaves.index(h)
        return {"leaf_index": m, "audit_path": [base64.b64encode(x).decode()
                                                for x in audit_path(m, leaves)]}

    def get_entries(self, start, end):
        with self._lock:
            if start < 0 or end < start or start >= len(self._entries):
                raise Refused("need 0 <= start <= end, start < tree size %d" % len(self._entries))
            got = self._entries[start:min(end + 1, start + MAX_ENTRIES)]
        return {"entries": [{"leaf_input": base64.b64encode(e.leaf_input).decode(),
                             "extra_data": base64.b64encode(e.extra_data).decode()} for e in got]}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def handle_one_request(self):
        log = self.server.log
        if log.down is True:
            # As unreachable as a listening socket can be: not a byte, the connection closed.
            self.close_connection = True
            return
        super().handle_one_request()

    def _answer(self, status, obj):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _serve(self, method):
        log = self.server.log
        url = urlsplit(self.path)
        log.requests.append((method, url.path))
        body = b""
        if method == "POST":
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if log.slow:
            time.sleep(log.slow)
        if log.down:
            status = 503 if log.down is True else int(log.down)
            return self._answer(status, {"error_message": "log unavailable"})
        q = {k: v[0] for k, v in parse_qs(url.query).items()}
        ep = url.path[len("/ct/v1/"):] if url.path.startswith("/ct/v1/") else None
        try:
            if method == "POST" and ep in ("add-chain", "add-pre-chain"):
                try:
                    chain = json.loads(body)["chain"]
                    assert isinstance(chain, list)
                except Exception:
                    raise Refused('the body must be {"chain": [base64 DER, ...]}')
                return self._answer(200, log.submit(chain, ep == "add-pre-chain"))
            if method == "GET" and ep == "get-sth":
                return self._answer(200, log.sth())
            if method == "GET" and ep == "get-sth-consistency":
                return self._answer(200, log.get_consistency(int(q["first"]), int(q["second"])))
            if method == "GET" and ep == "get-proof-by-hash":
                h = base64.b64decode(q["hash"])
                return self._answer(200, log.get_proof(h, int(q["tree_size"])))
            if method == "GET" and ep == "get-entries":
                return self._answer(200, log.get_entries(int(q["start"]), int(q["end"])))
            if method == "GET" and ep == "get-roots":
                return self._answer(200, {"certificates": [base64.b64encode(r).decode()
                                                           for r in log.roots]})
            return self._answer(404, {"error_message": "no such endpoint: %s %s" % (method, url.path)})
        except Refused as e:
            return self._answer(400, {"success": False, "error_message": str(e)})
        except (KeyError, ValueError) as e:
            return self._answer(400, {"success": False, "error_message": "bad parameter: %s" % e})
        except Exception as e:
            # A bug of the log, not of the client: say so rather than drop the connection.
            return self._answer(500, {"success": False, "error_message": "%s: %s" % (type(e).__name__, e)})

    def do_GET(self):
        self._serve("GET")

    def do_POST(self):
        self._serve("POST")


# --- log lists for clients --------------------------------------------------------------------

def _token(text):
    """A name OpenSSL's config parser takes as a section: letters, digits and underscores."""
    return "".join(c if c.isalnum() else "_" for c in text)


def write_openssl_ctlog(path, logs):
    """OpenSSL's CT log list (CTLOG_STORE_load_file): enabled_logs naming one section per log,
    each with a description and the base64 SubjectPublicKeyInfo."""
    lines = ["enabled_logs = " + ",".join(_token(l.name) for l in logs), ""]
    for l in logs:
        lines += ["[%s]" % _token(l.name), "description = " + l.name,
                  "key = " + base64.b64encode(l.public_key_der()).decode(), ""]
    with open(path, "w") as f:
        f.write("\n".join(lines))


def _rfc3339(t):
    return _utc(t).astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def loglist_v3(logs):
    """The log list JSON of the v3 schema (www.gstatic.com/ct/log_list/v3), one operator per
    operator name, every log usable since 2020."""
    ops = {}
    for l in logs:
        entry = {"description": l.name, "log_id": base64.b64encode(l.log_id()).decode(),
                 "key": base64.b64encode(l.public_key_der()).decode(), "url": l.url,
                 "mmd": l.mmd, "state": {"usable": {"timestamp": "2020-01-01T00:00:00Z"}}}
        if l.window:
            entry["temporal_interval"] = {"start_inclusive": _rfc3339(l.window[0]),
                                          "end_exclusive": _rfc3339(l.window[1])}
        ops.setdefault(l.operator, []).append(entry)
    return {"version": "1.0", "log_list_timestamp": _rfc3339(datetime.datetime.now(datetime.timezone.utc)),
            "operators": [{"name": n, "email": ["ct@%s.test" % _token(n).lower()], "logs": ls}
                          for n, ls in ops.items()]}


def write_certspotter_loglist(path, logs):
    with open(path, "w") as f:
        json.dump(loglist_v3(logs), f, indent=1)


def main():
    import argparse
    import os
    import signal
    p = argparse.ArgumentParser(description="Serve one RFC 6962 CT log for tests.")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--name", required=True)
    p.add_argument("--operator", default="e-Cert test logs")
    p.add_argument("--root", action="append", default=[], help="PEM file of an accepted root")
    p.add_argument("--window", nargs=2, metavar=("START", "END"),
                   help="notAfter accepted in [START, END), ISO 8601 dates")
    p.add_argument("--key", help="PEM file of the log's key; made there when missing")
    p.add_argument("--loglist", help="write the certspotter JSON list of this log there")
    p.add_argument("--ctlogfile", help="write the OpenSSL CT log list of this log there")
    a = p.parse_args()
    # Blocked before the server threads start, so that only sigwait below sees them.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
    roots = []
    end = b"-----END CERTIFICATE-----"
    for r in a.root:
        with open(r, "rb") as f:
            pems = [p + end for p in f.read().split(end) if b"-----BEGIN" in p]
        roots += [x509.load_pem_x509_certificate(p).public_bytes(serialization.Encoding.DER)
                  for p in pems]
    key = None
    if a.key and os.path.exists(a.key):
        with open(a.key, "rb") as f:
            key = serialization.load_pem_private_key(f.read(), None)
    elif a.key:
        key = ec.generate_private_key(ec.SECP256R1())
        with open(a.key, "wb") as f:
            f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))
    window = None
    if a.window:
        window = tuple(datetime.datetime.fromisoformat(w) for w in a.window)
    log = CtLog(a.name, a.operator, a.port, a.host, window, roots, key).start()
    if a.loglist:
        write_certspotter_loglist(a.loglist, [log])
    if a.ctlogfile:
        write_openssl_ctlog(a.ctlogfile, [log])
    print("%s %s %s" % (log.url, base64.b64encode(log.log_id()).decode(), a.name), flush=True)
    signal.sigwait({signal.SIGTERM, signal.SIGINT})
    log.stop()


if __name__ == "__main__":
    main()
