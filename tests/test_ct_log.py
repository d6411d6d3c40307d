"""The CT logs the tests give the CA (scripts/ct_log.py), checked against oracles of their own:
SCT and tree head signatures verified over the RFC 6962 structures built here from the RFC
(never from the server's code), Merkle proofs checked with RFC 9162's iterative algorithms
(the server uses the recursive definitions of RFC 6962), Debian's certspotter monitoring a log
from its first entry, and OpenSSL reading SCTs embedded in a certificate and validating them
over TLS against the log list written for it.

Needs no e-Cert stack: a small CA made here with `cryptography`.
"""

import base64
import datetime
import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import time

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ct_log import CtLog, write_certspotter_loglist, write_openssl_ctlog

NOW = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
DAY = datetime.timedelta(days=1)
WINDOW = (NOW - 30 * DAY, NOW + 365 * DAY)
DOMAIN = "www.ct-test.example"
SCT_LIST_OID = x509.ObjectIdentifier("1.3.6.1.4.1.11129.2.4.2")


# --- a small CA -------------------------------------------------------------------------------

def _name(cn):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _ca(cn, key, issuer_cn, issuer_key):
    return (x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(_name(issuer_cn))
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(NOW - 60 * DAY).not_valid_after(NOW + 3650 * DAY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False),
                           critical=True)
            .sign(issuer_key, hashes.SHA256()))


class Pki:
    def __init__(self):
        self.root_key = ec.generate_private_key(ec.SECP256R1())
        self.root = _ca("CT Test Root", self.root_key, "CT Test Root", self.root_key)
        self.int_key = ec.generate_private_key(ec.SECP256R1())
        self.int = _ca("CT Test Issuing CA", self.int_key, "CT Test Root", self.root_key)
        self.leaf_key = ec.generate_private_key(ec.SECP256R1())

    def builder(self, dns=DOMAIN, not_after=None, serial=None):
        """What a precertificate and its certificate share, in the same order."""
        not_after = not_after or NOW + 90 * DAY
        return (x509.CertificateBuilder().subject_name(_name(dns)).issuer_name(self.int.subject)
                .public_key(self.leaf_key.public_key())
                .serial_number(serial or x509.random_serial_number())
                .not_valid_before(min(NOW, not_after) - DAY).not_valid_after(not_after)
                .add_extension(x509.SubjectAlternativeName([x509.DNSName(dns)]), critical=False)
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True))

    def issue(self, builder, poison=False, scts=None):
        if poison:
            builder = builder.add_extension(x509.PrecertPoison(), critical=True)
        if scts is not None:
            builder = builder.add_extension(x509.UnrecognizedExtension(SCT_LIST_OID, scts),
                                            critical=False)
        return builder.sign(self.int_key, hashes.SHA256())


def der(c):
    return c.public_bytes(serialization.Encoding.DER)


def b64(c):
    return base64.b64encode(der(c)).decode()


@pytest.fixture(scope="module")
def pki():
    return Pki()


@pytest.fixture
def log(pki):
    log = CtLog("Test Log A", "Operator A", window=WINDOW, roots=[der(pki.root)]).start()
    yield log
    log.stop()


def post(log, endpoint, chain, timeout=10):
    return requests.post(log.url + "ct/v1/" + endpoint, json={"chain": chain}, timeout=timeout)


def get(log, endpoint, **params):
    r = requests.get(log.url + "ct/v1/" + endpoint, params=params, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()


# --- RFC 6962 structures, built here ----------------------------------------------------------

def u(n, width):
    return n.to_bytes(width, "big")


def opaque(data, width):
    return u(len(data), width) + data


def signed_entry(kind, cert_der=None, issuer=None, tbs=None):
    """entry_type and signed_entry of RFC 6962 section 3.2."""
    if kind == "x509":
        return u(0, 2) + opaque(cert_der, 3)
    spki = issuer.public_key().public_bytes(serialization.Encoding.DER,
                                            serialization.PublicFormat.SubjectPublicKeyInfo)
    return u(1, 2) + hashlib.sha256(spki).digest() + opaque(tbs, 3)


def verify_digitally_signed(log, blob, message):
    """Raise unless blob is an ECDSA-SHA256 DigitallySigned of message by the log's key."""
    assert blob[0] == 4 and blob[1] == 3, "hash sha256, signature ecdsa"
    assert int.from_bytes(blob[2:4], "big") == len(blob) - 4
    key = serialization.load_der_public_key(log.public_key_der())
    key.verify(blob[4:], message, ec.ECDSA(hashes.SHA256()))


def verify_sct(log, sct, entry):
    assert sct["sct_version"] == 0 and sct["extensions"] == ""
    spki = log.public_key_der()
    assert base64.b64decode(sct["id"]) == hashlib.sha256(spki).digest() == log.log_id()
    message = u(0, 1) + u(0, 1) + u(sct["timestamp"], 8) + entry + opaque(b"", 2)
    verify_digitally_signed(log, base64.b64decode(sct["signature"]), message)


def verify_sth(log, sth):
    message = (u(0, 1) + u(1, 1) + u(sth["timestamp"], 8) + u(sth["tree_size"], 8)
               + base64.b64decode(sth["sha256_root_hash"]))
    verify_digitally_signed(log, base64.b64decode(sth["tree_head_signature"]), message)


def H(data):
    return hashlib.sha256(data).digest()


def verify_inclusion(index, size, leaf, path, root):
    """RFC 9162 section 2.1.3.2."""
    assert index < size
    fn, sn, r = index, size - 1, leaf
    for p in path:
        assert sn != 0
        if fn & 1 or fn == sn:
            r = H(b"\x01" + p + r)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = H(b"\x01" + r + p)
        fn, sn = fn >> 1, sn >> 1
    assert sn == 0 and r == root


def verify_consistency(first, second, first_root, second_root, proof):
    """RFC 9162 section 2.1.4.2, for 0 < first < second."""
    if first & (first - 1) == 0:
        proof = [first_root] + proof
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = proof[0]
    for c in proof[1:]:
        assert sn != 0
        if fn & 1 or fn == sn:
            fr, sr = H(b"\x01" + c + fr), H(b"\x01" + c + sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = H(b"\x01" + sr + c)
        fn, sn = fn >> 1, sn >> 1
    assert fr == first_root and sr == second_root and sn == 0


def sct_list_extension(scts):
    """The extnValue of 1.3.6.1.4.1.11129.2.4.2: an OCTET STRING holding the TLS
    SignedCertificateTimestampList (RFC 6962 section 3.3)."""
    items = b""
    for s in scts:
        raw = (u(0, 1) + base64.b64decode(s["id"]) + u(s["timestamp"], 8) + opaque(b"", 2)
               + base64.b64decode(s["signature"]))
        items += opaque(raw, 2)
    tls = opaque(items, 2)
    n = len(tls)
    length = bytes([n]) if n < 128 else bytes([0x80 | 2]) + u(n, 2) if n > 255 else b"\x81" + u(n, 1)
    return b"\x04" + length + tls


# --- submissions --------------------------------------------------------------------------------

def test_add_chain_and_pre_chain_give_verifiable_scts(pki, log):
    b = pki.builder()
    pre, final = pki.issue(b, poison=True), pki.issue(b)

    r = post(log, "add-pre-chain", [b64(pre), b64(pki.int), b64(pki.root)])
    assert r.status_code == 200, r.text
    # The PreCert's TBS is the final certificate's: same fields, no poison.
    verify_sct(log, r.json(), signed_entry("precert", issuer=pki.int, tbs=final.tbs_certificate_bytes))

    r = post(log, "add-chain", [b64(final), b64(pki.int)])   # the log adds the root itself
    assert r.status_code == 200, r.text
    verify_sct(log, r.json(), signed_entry("x509", der(final)))

    got = log.entries()
    assert [(e.entry_type, e.der) for e in got] == [("precert_entry", der(pre)),
                                                    ("x509_entry", der(final))]
    assert got[1].chain == [der(pki.int), der(pki.root)]


def test_tree_head_proofs_and_entries(pki, log):
    sth = get(log, "get-sth")
    assert sth["tree_size"] == 0 and base64.b64decode(sth["sha256_root_hash"]) == H(b"")
    verify_sth(log, sth)

    b = pki.builder()
    pre, final = pki.issue(b, poison=True), pki.issue(b)
    other = pki.issue(pki.builder("other.ct-test.example"))
    chain = [b64(pki.int), b64(pki.root)]
    scts = [post(log, "add-pre-chain", [b64(pre)] + chain).json(),
            post(log, "add-chain", [b64(final)] + chain).json(),
            post(log, "add-chain", [b64(other)] + chain).json()]

    entries = get(log, "get-entries", start=0, end=9)["entries"]
    assert len(entries) == 3
    ints = opaque(opaque(der(pki.int), 3) + opaque(der(pki.root), 3), 3)
    expected = [
        (signed_entry("precert", issuer=pki.int, tbs=final.tbs_certificate_bytes),
         opaque(der(pre), 3) + ints),
        (signed_entry("x509", der(final)), ints),
        (signed_entry("x509", der(other)), ints)]
    leaves = []
    for e, sct, (entry, extra) in zip(entries, scts, expected):
        leaf = base64.b64decode(e["leaf_input"])
        # MerkleTreeLeaf: v1, timestamped_entry, the SCT's timestamp, the entry, no extensions.
        assert leaf == u(0, 1) + u(0, 1) + u(sct["timestamp"], 8) + entry + opaque(b"", 2)
        assert base64.b64decode(e["extra_data"]) == extra
        leaves.append(H(b"\x00" + leaf))

    sth = get(log, "get-sth")
    verify_sth(log, sth)
    root = base64.b64decode(sth["sha256_root_hash"])
    assert sth["tree_size"] == 3
    assert root == H(b"\x01" + H(b"\x01" + leaves[0] + leaves[1]) + leaves[2])
    assert sth["timestamp"] >= max(s["timestamp"] for s in scts)

    for i, leaf in enumerate(leaves):
        p = get(log, "get-proof-by-hash", hash=base64.b64encode(leaf).decode(), tree_size=3)
        assert p["leaf_index"] == i
        verify_inclusion(i, 3, leaf, [base64.b64decode(x) for x in p["audit_path"]], root)

    roots = {1: leaves[0], 2: H(b"\x01" + leaves[0] + leaves[1])}
    for first in (1, 2):
        c = get(log, "get-sth-consistency", first=first, second=3)["consistency"]
        verify_consistency(first, 3, roots[first], root, [base64.b64decode(x) for x in c])

    assert get(log, "get-roots")["certificates"] == [b64(pki.root)]
    assert requests.get(log.url + "ct/v1/get-entries", params={"start": 3, "end": 4}).status_code == 400


def test_refusals(pki, log):
    b = pki.builder()
    pre, final = pki.issue(b, poison=True), pki.issue(b)
    chain = [b64(pki.int), b64(pki.root)]
    stranger = Pki()
    late = pki.issue(pki.builder(not_after=WINDOW[1]))           # end is exclusive
    early = pki.issue(pki.builder(not_after=WINDOW[0] - DAY))
    cases = [
        ("add-chain", [b64(stranger.issue(stranger.builder())), b64(stranger.int), b64(stranger.root)],
         "root"),
        ("add-chain", [b64(final), b64(stranger.int)], "not issued by"),
        ("add-chain", [b64(late)] + chain, "window"),
        ("add-chain", [b64(early)] + chain, "window"),
        ("add-pre-chain", [b64(final)] + chain, "poison"),
        ("add-chain", [b64(pre)] + chain, "poison"),
        ("add-chain", ["not base64!"], "parse"),
        ("add-chain", [], "empty"),
    ]
    for endpoint, c, why in cases:
        r = post(log, endpoint, c)
        assert r.status_code == 400, (endpoint, why, r.text)
        assert why in r.json()["error_message"], r.text
    assert log.entries() == []
    r = requests.post(log.url + "ct/v1/add-chain", data=b"{", timeout=10)
    assert r.status_code == 400 and "chain" in r.json()["error_message"]


# --- fault switches ---------------------------------------------------------------------------

def test_fault_switches(pki, log):
    final = pki.issue(pki.builder())
    chain = [b64(final), b64(pki.int)]

    log.bad_signature = True
    sct = post(log, "add-chain", chain).json()
    with pytest.raises(Exception):
        verify_sct(log, sct, signed_entry("x509", der(final)))
    log.bad_signature = False
    verify_sct(log, post(log, "add-chain", chain).json(), signed_entry("x509", der(final)))

    log.slow = 0.6
    t = time.monotonic()
    assert post(log, "add-chain", chain).status_code == 200
    assert time.monotonic() - t >= 0.6
    log.slow = 0

    log.down = True
    with pytest.raises(requests.ConnectionError):
        post(log, "add-chain", chain)
    log.down = 503
    assert post(log, "add-chain", chain).status_code == 503
    log.down = False

    url, size = log.url, len(log.entries())
    log.stop()
    with pytest.raises(requests.ConnectionError):
        get(log, "get-sth")
    log.start()
    assert log.url == url and get(log, "get-sth")["tree_size"] == size == 3


# --- other programs' view -----------------------------------------------------------------------

def run_certspotter(tmp, logs, watch=".ct-test.example"):
    """Run certspotter over logs until it has verified each one's whole tree (at most 50 s);
    return what it reported on stdout, its stderr, and each log's saved state."""
    write_certspotter_loglist(tmp / "logs.json", logs)
    (tmp / "watchlist").write_text(watch + "\n")
    env = dict(os.environ, HOME=str(tmp), CERTSPOTTER_CONFIG_DIR=str(tmp / "config"))
    states = [tmp / "state" / "logs" / base64.urlsafe_b64encode(l.log_id()).decode().rstrip("=")
              / "state.json" for l in logs]

    def state(path):
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError):
            return None

    def done():
        got = [state(p) for p in states]
        return all(g and g["verified_position"]["size"] == len(l.entries()) for g, l in zip(got, logs))

    with open(tmp / "out", "w") as out, open(tmp / "err", "w") as err:
        proc = subprocess.Popen(
            ["timeout", "60", "certspotter", "-logs", str(tmp / "logs.json"), "-watchlist",
             str(tmp / "watchlist"), "-state_dir", str(tmp / "state"), "-stdout", "-verbose"],
            stdout=out, stderr=err, env=env)
        try:
            deadline = time.monotonic() + 50
            while time.monotonic() < deadline and proc.poll() is None and not done():
                time.sleep(0.3)
            time.sleep(0.5)          # the notifications of the last entries it verified
        finally:
            proc.terminate()
            proc.wait(10)
    return (tmp / "out").read_text(), (tmp / "err").read_text(), [state(p) for p in states]


def test_certspotter_finds_the_certificate_and_precertificate(pki, tmp_path):
    """certspotter rebuilds each tree from get-entries and checks it against the signed tree
    head, parses every entry, takes the poison out of precertificates itself; run a second time
    it picks up where it stopped."""
    if not shutil.which("certspotter"):
        pytest.skip("certspotter missing (scripts/deps.sh installs it)")
    logs = [CtLog("Spotted Log %s" % n, "Operator %s" % n, window=WINDOW, roots=[der(pki.root)]).start()
            for n in "AB"]
    try:
        b = pki.builder()
        pre, final = pki.issue(b, poison=True), pki.issue(b)
        chain = [b64(pki.int), b64(pki.root)]

        def other(n):
            cert = pki.issue(pki.builder("n%d.elsewhere.example" % n))
            assert post(logs[0], "add-chain", [b64(cert)] + chain).status_code == 200

        for n in range(5):
            other(n)
        assert post(logs[0], "add-pre-chain", [b64(pre)] + chain).status_code == 200
        assert post(logs[1], "add-pre-chain", [b64(pre)] + chain).status_code == 200
        other(5)

        report, errors, states = run_certspotter(tmp_path, logs)
        # Once or once per log: it tells of a certificate it has saved already only when racing.
        assert ("Log Entry = 5 @ " + logs[0].url in report
                or "Log Entry = 0 @ " + logs[1].url in report), (report, errors)
        assert hashlib.sha256(der(pre)).hexdigest() + ":" in report
        for st, l in zip(states, logs):
            sth = st["verified_sth"]
            assert sth["tree_size"] == len(l.entries()), (st, errors)
            assert base64.b64decode(sth["sha256_root_hash"]) == base64.b64decode(
                get(l, "get-sth")["sha256_root_hash"])

        # More entries, the certificate among them: the second run starts from what it verified.
        assert post(logs[0], "add-chain", [b64(final)] + chain).status_code == 200
        for n in range(6, 9):
            other(n)
        report, errors, states = run_certspotter(tmp_path, logs)
        assert report.count("Log Entry = ") == 1 and "Log Entry = 7 @ " + logs[0].url in report, report
        assert hashlib.sha256(der(final)).hexdigest() + ":" in report
        assert states[0]["verified_sth"]["tree_size"] == 11

        # It took the poison out of the precertificate the way the log did: one TBS for both.
        saved = [json.loads(p.read_text()) for p in (tmp_path / "state" / "certs").glob("*/*.json")]
        assert len(saved) == 2 and len({s["tbs_sha256"] for s in saved}) == 1
        assert {d for s in saved for d in s["dns_names"]} == {DOMAIN}
        assert not list((tmp_path / "state" / "logs").glob("*/malformed_entries/*"))
    finally:
        for l in logs:
            l.stop()


def test_openssl_reads_and_validates_embedded_scts(pki, tmp_path):
    logs = [CtLog("SSL Log %s" % n, window=WINDOW, roots=[der(pki.root)]).start() for n in "ABC"]
    try:
        b = pki.builder("tls.ct-test.example")
        pre = pki.issue(b, poison=True)
        scts = [post(l, "add-pre-chain", [b64(pre), b64(pki.int)]).json() for l in logs]
        final = pki.issue(b, scts=sct_list_extension(scts))
        pem = final.public_bytes(serialization.Encoding.PEM)

        # cryptography and openssl both see the three SCTs of our logs.
        ext = x509.load_der_x509_certificate(der(final)).extensions.get_extension_for_class(
            x509.PrecertificateSignedCertificateTimestamps).value
        assert sorted(s.log_id for s in ext) == sorted(l.log_id() for l in logs)
        text = subprocess.run(["openssl", "x509", "-noout", "-text"], input=pem, capture_output=True,
                              check=True, timeout=30).stdout.decode()
        assert "CT Precertificate SCTs" in text
        for l in logs:
            assert l.log_id().hex(":").upper()[:47] in text.replace("\n", "").replace(" ", ""), text

        # A TLS server sending it, and s_client validating every SCT against our log list.
        write_openssl_ctlog(tmp_path / "ct.cnf", logs)
        (tmp_path / "cert.pem").write_bytes(pem)
        (tmp_path / "chain.pem").write_bytes(pki.int.public_bytes(serialization.Encoding.PEM))
        (tmp_path / "key.pem").write_bytes(pki.leaf_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        (tmp_path / "root.pem").write_bytes(pki.root.public_bytes(serialization.Encoding.PEM))
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        server = subprocess.Popen(["openssl", "s_server", "-accept", "127.0.0.1:%d" % port,
                                   "-cert", str(tmp_path / "cert.pem"), "-key", str(tmp_path / "key.pem"),
                                   "-cert_chain", str(tmp_path / "chain.pem"),
                                   "-quiet"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        try:
            for _ in range(50):
                try:
                    socket.create_connection(("127.0.0.1", port), 0.2).close()
                    break
                except OSError:
                    time.sleep(0.1)
            # s_client takes the TLS session's start, in whole seconds, as "now": an SCT of the
            # same second would be from the future.
            time.sleep(max(0, max(x["timestamp"] for x in scts) / 1000 + 1.05 - time.time()))
            r = subprocess.run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % port,
                                "-servername", "tls.ct-test.example", "-CAfile", str(tmp_path / "root.pem"),
                                "-ct", "-ctlogfile", str(tmp_path / "ct.cnf")],
                               input=b"", capture_output=True, timeout=30)
        finally:
            server.kill()
            server.wait()
        out = r.stdout.decode()
        assert "SCTs present (3)" in out, out + r.stderr.decode()
        assert out.count("SCT validation status: valid") == 3, out
        for l in logs:
            assert re.search(r"\n\s*Log\s*: %s\n" % l.name, out), out
    finally:
        for l in logs:
            l.stop()


def test_command_line_log(pki, tmp_path):
    """`python3 scripts/ct_log.py` serves a log that keeps its key across restarts."""
    (tmp_path / "root.pem").write_bytes(pki.root.public_bytes(serialization.Encoding.PEM))
    script = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "scripts", "ct_log.py")
    ids = []
    for _ in range(2):
        proc = subprocess.Popen(["/usr/bin/python3", script, "--name", "CLI Log", "--root",
                                 str(tmp_path / "root.pem"), "--key", str(tmp_path / "log.key"),
                                 "--window", WINDOW[0].isoformat(), WINDOW[1].isoformat(),
                                 "--loglist", str(tmp_path / "logs.json")],
                                stdout=subprocess.PIPE, text=True)
        try:
            url, log_id, _ = proc.stdout.readline().split(" ", 2)
            ids.append(log_id)
            final = pki.issue(pki.builder())
            r = requests.post(url + "ct/v1/add-chain", json={"chain": [b64(final), b64(pki.int)]},
                              timeout=10)
            assert r.status_code == 200 and r.json()["id"] == log_id, r.text
            listed = json.loads((tmp_path / "logs.json").read_text())["operators"][0]["logs"][0]
            assert listed["url"] == url and listed["log_id"] == log_id
        finally:
            proc.terminate()
            assert proc.wait(10) == 0
    assert ids[0] == ids[1]
