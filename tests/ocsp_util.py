"""Helpers for the OCSP responder tests: certificates rows, hand-built requests, parsing.

Requests are built here byte by byte (DER) so the tests control every field (hash
algorithm, several CertIDs, nonce sizes, serials); responses are read with Python
cryptography and checked against the responder certificate with its public key.
"""

import base64
import hashlib
import http.client
import os
import secrets
import socket
import subprocess
import time

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import NameOID

OCSP_PATH = "/ocsp"

# ------------------------------------------------------------------ DER


def der_len(n):
    if n < 0x80:
        return bytes([n])
    b = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(b)]) + b


def tlv(tag, content):
    return bytes([tag]) + der_len(len(content)) + content


def seq(*items):
    return tlv(0x30, b"".join(items))


def octets(b):
    return tlv(0x04, b)


def null():
    return b"\x05\x00"


def oid(dotted):
    arcs = [int(a) for a in dotted.split(".")]
    out = bytes([arcs[0] * 40 + arcs[1]])
    for a in arcs[2:]:
        chunk = [a & 0x7F]
        a >>= 7
        while a:
            chunk.append(0x80 | (a & 0x7F))
            a >>= 7
        out += bytes(reversed(chunk))
    return tlv(0x06, out)


def integer(n):
    b = n.to_bytes(max(1, (n.bit_length() + 8) // 8), "big")
    return tlv(0x02, b)


def ctx(n, content):
    return tlv(0xA0 | n, content)


SHA1 = "1.3.14.3.2.26"
SHA256 = "2.16.840.1.101.3.4.2.1"
NONCE = "1.3.6.1.5.5.7.48.1.2"

# ------------------------------------------------------------------ the CA


class Issuer:
    """One CA the responder answers for: certificate, ca.id and its responder's certificate."""

    def __init__(self, stack, role, ca_file, responder_file):
        pub = os.path.join(stack.pubdir, "root")
        self.role = role
        self.pem = os.path.join(pub, ca_file + ".pem.crt")
        self.responder_pem = os.path.join(pub, responder_file + ".pem.crt")
        with open(self.pem, "rb") as f:
            self.cert = x509.load_pem_x509_certificate(f.read())
        with open(self.responder_pem, "rb") as f:
            self.responder = x509.load_pem_x509_certificate(f.read())
        self.id = stack.sql("SELECT id FROM ca WHERE role = %s ORDER BY id DESC LIMIT 1", (role,))[0][0]

    def hashes(self, alg="sha1"):
        name = self.cert.subject.public_bytes()
        key = self.cert.public_key().public_bytes(serialization.Encoding.DER,
                                                  serialization.PublicFormat.SubjectPublicKeyInfo)
        bits = key_bits(key)
        h = hashlib.sha1 if alg == "sha1" else hashlib.sha256
        return h(name).digest(), h(bits).digest()


def key_bits(spki):
    """subjectPublicKey BIT STRING contents (without the unused-bits octet) of a SPKI."""
    def read(b, i):
        tag, n = b[i], b[i + 1]
        i += 2
        if n & 0x80:
            k = n & 0x7F
            n = int.from_bytes(b[i:i + k], "big")
            i += k
        return tag, i, n
    _, i, _ = read(spki, 0)              # SEQUENCE
    _, j, n = read(spki, i)              # AlgorithmIdentifier
    tag, k, n = read(spki, j + n)        # BIT STRING
    assert tag == 0x03
    return spki[k + 1:k + n]


def issuers(stack):
    return {
        "ssl": Issuer(stack, "ssl", "ecert_ssl_ca_3-17", "ecert_ssl_ca_3-17_ocsp"),
        "ev": Issuer(stack, "ev", "ecert_ev_ssl_ca_3-17", "ecert_ev_ssl_ca_3-17_ocsp"),
        "root": Issuer(stack, "root", "root_ca_3", "root_ca_3_ocsp"),
    }


def new_serial(n=20):
    """n random octets (20: CPS 7.1), positive, first octet non-zero, as the store writes it."""
    b = bytearray(secrets.token_bytes(n))
    b[0] = (b[0] & 0x7F) or 1
    return bytes(b).hex()


def add_cert(stack, issuer, serial=None, status="issued", queue=True, days=90):
    """A certificate row as issuance writes it (dummy DER); queued for pre-signing."""
    serial = serial or new_serial()
    stack.sql("INSERT INTO certificate (serial_hex, issuer_id, server_name, spki_sha256, cert_der, "
              "not_before, not_after, status) VALUES (%s, %s, %s, UNHEX(SHA2(%s, 256)), UNHEX('00'), "
              "UTC_TIMESTAMP() - INTERVAL 1 DAY, UTC_TIMESTAMP() + INTERVAL %s DAY, %s)",
              (serial, issuer.id, "ocsp-test.example.com", serial, days, status))
    if queue:
        stack.sql("INSERT INTO ocsp_pending (issuer_id, serial_hex) VALUES (%s, %s) "
                  "ON DUPLICATE KEY UPDATE queued_at = NOW(6)", (issuer.id, serial))
    return serial


def revoke_sql(stack, issuer, serial, reason=None):
    """What ec_revoke() commits: status, time, reason, status_changed, queue row."""
    stack.sql("UPDATE certificate SET status = 'revoked', revoked_at = UTC_TIMESTAMP(), "
              "revocation_reason = %s, status_changed = NOW(6) WHERE issuer_id = %s AND serial_hex = %s",
              (reason, issuer.id, serial))
    stack.sql("INSERT INTO ocsp_pending (issuer_id, serial_hex) VALUES (%s, %s) "
              "ON DUPLICATE KEY UPDATE queued_at = NOW(6)", (issuer.id, serial))


def fake_cert(issuer, serial_hex):
    """A certificate with the given serial that names issuer as its issuer (for clients
    such as ocsptool that build the CertID from a certificate file). Its signature is
    not the CA's: OCSP never looks at it."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = time.time()
    import datetime
    t0 = datetime.datetime.utcfromtimestamp(now - 86400)
    return (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ocsp-test.example.com")]))
            .issuer_name(issuer.cert.subject)
            .public_key(key.public_key())
            .serial_number(int(serial_hex, 16))
            .not_valid_before(t0)
            .not_valid_after(t0 + datetime.timedelta(days=90))
            .sign(key, hashes.SHA256()))

# ------------------------------------------------------------------ requests


def certid(issuer, serial_hex, alg="sha1", name_hash=None, key_hash=None):
    nh, kh = issuer.hashes(alg)
    return seq(seq(oid(SHA1 if alg == "sha1" else SHA256), null()),
               octets(name_hash or nh), octets(key_hash or kh), integer(int(serial_hex, 16)))


def request(*certids, nonce=None, raw_nonce=None):
    """OCSPRequest with one Request per CertID; nonce: octets (wrapped in an OCTET STRING
    as RFC 9654 says); raw_nonce: extnValue contents as given."""
    tbs = [seq(*[seq(c) for c in certids])]
    if nonce is not None or raw_nonce is not None:
        value = raw_nonce if raw_nonce is not None else octets(nonce)
        tbs.append(ctx(2, seq(seq(oid(NONCE), octets(value)))))
    return seq(seq(*tbs))


def post(stack, der, instance=1, ctype="application/ocsp-request", path=OCSP_PATH, timeout=10):
    conn = http.client.HTTPConnection("127.0.0.1", stack.port if instance == 1 else stack.port2,
                                      timeout=timeout)
    try:
        conn.request("POST", path, body=der, headers={"Content-Type": ctype})
        r = conn.getresponse()
        return Response(r.status, dict((k.lower(), v) for k, v in r.getheaders()), r.read())
    finally:
        conn.close()


def get_raw(stack, raw_path, instance=1, headers=None, method="GET", timeout=10):
    """GET with the request-target exactly as given (no client-side normalisation)."""
    conn = http.client.HTTPConnection("127.0.0.1", stack.port if instance == 1 else stack.port2,
                                      timeout=timeout)
    try:
        conn.putrequest(method, raw_path, skip_accept_encoding=True)
        for k, v in (headers or {}).items():
            conn.putheader(k, v)
        conn.endheaders()
        r = conn.getresponse()
        return Response(r.status, dict((k.lower(), v) for k, v in r.getheaders()), r.read())
    finally:
        conn.close()


def get(stack, der, instance=1, headers=None, method="GET"):
    return get_raw(stack, OCSP_PATH + "/" + base64.b64encode(der).decode(), instance, headers, method)


def raw_exchange(stack, data, instance=1, timeout=10, shut_write=False):
    """Sends bytes as they are on a fresh connection and returns everything read back."""
    with socket.create_connection(("127.0.0.1", stack.port if instance == 1 else stack.port2),
                                  timeout=timeout) as s:
        s.sendall(data)
        if shut_write:
            s.shutdown(socket.SHUT_WR)
        out = b""
        while True:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            if not chunk:
                break
            out += chunk
        return out


class Response:
    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body

    def ocsp(self):
        return ocsp.load_der_ocsp_response(self.body)


# ------------------------------------------------------------------ responses


def status_of(resp):
    """"successful", "malformedRequest", "tryLater", "unauthorized", ..."""
    return {0: "successful", 1: "malformedRequest", 2: "internalError", 3: "tryLater",
            5: "sigRequired", 6: "unauthorized"}[resp.response_status.value]


def verify(resp, issuer):
    """Signature by the issuer's delegated responder, responder certificate included,
    responderID byKey (CPS App. D)."""
    assert resp.response_status == ocsp.OCSPResponseStatus.SUCCESSFUL
    assert resp.signature_algorithm_oid == x509.SignatureAlgorithmOID.RSA_WITH_SHA256
    assert [c.public_bytes(serialization.Encoding.DER) for c in resp.certificates] == \
        [issuer.responder.public_bytes(serialization.Encoding.DER)]
    spki = issuer.responder.public_key().public_bytes(serialization.Encoding.DER,
                                                      serialization.PublicFormat.SubjectPublicKeyInfo)
    assert resp.responder_key_hash == hashlib.sha1(key_bits(spki)).digest()
    assert resp.responder_name is None
    issuer.responder.public_key().verify(resp.signature, resp.tbs_response_bytes,
                                         padding.PKCS1v15(), hashes.SHA256())
    return resp


def single(stack, issuer, serial, alg="sha1", instance=1, method="post"):
    der = request(certid(issuer, serial, alg))
    r = post(stack, der, instance) if method == "post" else get(stack, der, instance)
    assert r.status == 200, r.status
    assert r.headers["content-type"] == "application/ocsp-response"
    return r


def cert_status(stack, issuer, serial, alg="sha1", instance=1):
    """GOOD / REVOKED / UNKNOWN, or the error status text."""
    resp = single(stack, issuer, serial, alg, instance).ocsp()
    if resp.response_status != ocsp.OCSPResponseStatus.SUCCESSFUL:
        return status_of(resp)
    return resp.certificate_status.name


def wait_for(fn, want, timeout, step=0.05):
    """Calls fn until it returns want; returns (value, seconds waited)."""
    t0 = time.monotonic()
    while True:
        v = fn()
        if v == want or time.monotonic() - t0 > timeout:
            return v, time.monotonic() - t0
        time.sleep(step)


def replica_dir(stack, instance=1):
    return os.path.join(stack.httpd_dir if instance == 1 else stack.httpd2_dir, "ocsp-replica")


def replica_records(stack, instance=1):
    """{key: value} of a node's replica, read by LMDB's own mdb_dump (lmdb-utils)."""
    out = subprocess.run(["mdb_dump", "-s", "answers", replica_dir(stack, instance)], capture_output=True,
                         text=True, check=True, timeout=60).stdout
    lines = out.split("HEADER=END\n", 1)[1].split("DATA=END", 1)[0].split()
    return {bytes.fromhex(k).decode(): bytes.fromhex(v) for k, v in zip(lines[0::2], lines[1::2])}


def replica_key(issuer, serial, alg="sha1"):
    return "%s/%d/%s" % (issuer.hashes("sha1")[1][:8].hex(), 1 if alg == "sha1" else 2, serial)


# A replica record (core/ec_ocsp_entry.c): check 8, magic 4, status 4, reason 4, key length 4,
# DER length 4, pad 4, four times 8, DER hash 8; then the key, then the DER.
RECORD_HEADER = 72


def record_status(v):
    """0 good, 1 revoked, 2 unknown, 255 tombstone."""
    return int.from_bytes(v[12:16], "little")


def record_der(v):
    return v[RECORD_HEADER + int.from_bytes(v[20:24], "little"):]


def replica_has(stack, issuer, serial, instance=1, records=None):
    """Both CertID hashes of serial have an answer (not a tombstone) in the node's replica."""
    recs = records if records is not None else replica_records(stack, instance)
    for alg in ("sha1", "sha256"):
        v = recs.get(replica_key(issuer, serial, alg))
        if not v or record_status(v) not in (0, 1, 2):
            return False
    return True
