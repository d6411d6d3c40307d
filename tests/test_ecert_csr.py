"""CSR checks (User Guide C.5, SPEC R-5, BR 6.1.1.3 / 6.1.6, CPS 3.2.1, 4.6.3, 6.1.5): each
failure gives its own message on the same page with the text kept, and issues nothing.
Weak keys are real: ROCA-structured and Fermat-factorable moduli are built here from
chosen primes, and a Debian-style blocklist file is configured into the running httpd."""

import base64
import hashlib
import html
import math
import os
import re
import secrets

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from ecert_util import Subscriber, new_application, make_csr, rsa_key, page_error, error_code, \
    certificate_of, issue_via_web, redirected_error

_n = [0]


def unique(prefix):
    _n[0] += 1
    return "%s%d-%d.example.org" % (prefix, os.getpid() % 1000, _n[0])


# ------------------------------------------------------------------ number theory

SMALL_PRIMES = [p for p in range(3, 2000) if all(p % d for d in range(2, int(p ** 0.5) + 1))]


def is_probable_prime(n, rounds=32):
    if n < 2:
        return False
    for p in [2] + SMALL_PRIMES:
        if n % p == 0:
            return n == p
    d, s = n - 1, 0
    while d % 2 == 0:
        d, s = d // 2, s + 1
    for _ in range(rounds):
        a = secrets.randbelow(n - 3) + 2
        x = pow(a, d, n)
        if x in (1, n - 1):
            continue
        for _ in range(s - 1):
            x = pow(x, 2, n)
            if x == n - 1:
                break
        else:
            return False
    return True


def random_prime(bits):
    while True:
        c = secrets.randbits(bits) | (3 << (bits - 2)) | 1
        if is_probable_prime(c):
            return c


def next_prime(n):
    n |= 1
    while not is_probable_prime(n):
        n += 2
    return n


def key_from_primes(p, q, e=65537):
    """An RSA private key from chosen primes (so the CSR proves possession)."""
    n, phi = p * q, (p - 1) * (q - 1)
    d = pow(e, -1, phi)
    return rsa.RSAPrivateNumbers(p, q, d, d % (p - 1), d % (q - 1), pow(q, -1, p),
                                 rsa.RSAPublicNumbers(e, n)).private_key()


def roca_prime(bits=1024):
    """k*M + (65537^a mod M), M the primorial of the primes up to 167: the structure of
    the primes the Infineon RSALib generated (CVE-2017-15361)."""
    m = 1
    for p in [2] + [p for p in SMALL_PRIMES if p <= 167]:
        m *= p
    # k such that sqrt(2) * 2^(bits-1) <= k*M < 2^bits: two such primes make a full-size modulus
    lo, hi = math.isqrt(2 ** (2 * bits - 1)) // m + 1, 2 ** bits // m
    while True:
        k = lo + secrets.randbelow(hi - lo)
        p = k * m + pow(65537, secrets.randbelow(2 ** 20) + 1, m)
        if p.bit_length() == bits and is_probable_prime(p):
            return p


def gcd_ok(p, q, e=65537):
    return math.gcd(e, (p - 1) * (q - 1)) == 1


def roca_key():
    while True:
        p, q = roca_prime(), roca_prime()
        if (p * q).bit_length() == 2048 and gcd_ok(p, q):
            return key_from_primes(p, q)


def fermat_key():
    while True:
        p = random_prime(1024)
        q = next_prime(p + secrets.randbits(400))
        if (p * q).bit_length() == 2048 and gcd_ok(p, q):
            return key_from_primes(p, q)


def small_factor_key():
    while True:
        q = random_prime(2038)
        if (743 * q).bit_length() == 2048 and gcd_ok(743, q):
            return key_from_primes(743, q)


def spki_sha256(key):
    der = key.public_key().public_bytes(serialization.Encoding.DER,
                                        serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()


def debian_fingerprint(key):
    """openssl-vulnkey: last 20 hex digits of SHA-1 of "Modulus=<HEX>\\n"."""
    n = key.public_key().public_numbers().n
    return hashlib.sha1(("Modulus=%X\n" % n).encode()).hexdigest()[20:]


# ------------------------------------------------------------------ fixtures

@pytest.fixture(scope="module")
def debian_key(stack):
    """A key listed in a weak-key list file that the running httpd (and ecertctl) load."""
    key = rsa_key()
    path = os.path.join(stack.rundir, "blacklist.RSA-2048")
    other = rsa_key()
    with open(path, "w") as f:
        f.write("# test list in the openssl-blacklist format\n%s\n%s\n"
                % (debian_fingerprint(other), debian_fingerprint(key)))
    os.chmod(path, 0o644)
    saved = stack.extra_conf
    stack.extra_conf = (saved + "\n" if saved else "") + 'ECertWeakKeyList "%s"\n' % path
    stack.restart_httpd()
    yield key
    stack.extra_conf = saved
    stack.restart_httpd()


@pytest.fixture
def at_csr(stack):
    """A government application logged in and confirmed, at the CSR page."""
    env = new_application(stack, unique("csr"))
    sub = Subscriber(stack)
    sub.login(env)
    r = sub.confirm()
    assert r.url.endswith("/csr")
    return env, sub


def refused(stack, env, sub, text, code, phrase):
    before = stack.sql("SELECT COUNT(*) FROM audit_event WHERE event = 'csr.reject'")[0][0]
    r = sub.submit_csr(text)
    assert redirected_error(r, "/csr"), (r.status_code, page_error(r))
    assert error_code(r) == code, page_error(r)
    assert phrase.lower() in page_error(r).lower(), page_error(r)
    # the pasted text is kept in the textarea (escaped)
    m = re.search(r'<textarea id="csr"[^>]*>(.*?)</textarea>', r.text, re.S)
    assert m and html.unescape(m.group(1)).strip() == text.strip()
    assert certificate_of(stack, env) is None
    assert stack.sql("SELECT status FROM application WHERE id = %s", (env["id"],))[0][0] == "confirmed"
    assert stack.sql("SELECT COUNT(*) FROM audit_event WHERE event = 'csr.reject'")[0][0] == before + 1
    return r


# ------------------------------------------------------------------ the failures

def test_not_pem(stack, at_csr):
    env, sub = at_csr
    refused(stack, env, sub, "hello <world> & \"friends\"", "csr.not_pem", "not a PEM")
    pem = make_csr(rsa_key(), env["server_name"])
    refused(stack, env, sub, pem.replace("-----END NEW CERTIFICATE REQUEST-----", ""), "csr.not_pem",
            "not a PEM")
    refused(stack, env, sub, pem.replace("M", "!", 1), "csr.not_pem", "not a PEM")


def test_not_a_csr(stack, at_csr):
    env, sub = at_csr
    with open(os.path.join(stack.pubdir, "root", "root_ca_3.pem.crt")) as f:
        cert = f.read().replace("CERTIFICATE", "NEW CERTIFICATE REQUEST")
    refused(stack, env, sub, cert, "csr.not_csr", "not a PKCS#10")


def test_signature_does_not_verify(stack, at_csr):
    env, sub = at_csr
    csr = x509.load_pem_x509_csr(make_csr(rsa_key(), env["server_name"],
                                          header="CERTIFICATE REQUEST").encode())
    der = bytearray(csr.public_bytes(serialization.Encoding.DER))
    der[-5] ^= 0x01                                     # inside the signature
    b64 = base64.encodebytes(bytes(der)).decode()
    text = "-----BEGIN NEW CERTIFICATE REQUEST-----\n%s-----END NEW CERTIFICATE REQUEST-----\n" % b64
    refused(stack, env, sub, text, "csr.bad_signature", "does not prove possession")


def test_sha1_signed_request(stack, at_csr):
    env, sub = at_csr
    refused(stack, env, sub, make_csr(rsa_key(), env["server_name"], hash_alg=hashes.SHA1()), "csr.sig_alg",
            "SHA-1")


def test_ber_indefinite_length_request(stack, at_csr):
    """The outer SEQUENCE re-encoded with an indefinite length: the signature (over the inner
    CertificationRequestInfo) still verifies, and OpenSSL reads BER; DER is required."""
    env, sub = at_csr
    der = x509.load_pem_x509_csr(make_csr(rsa_key(), env["server_name"]).replace(
        "NEW CERTIFICATE REQUEST", "CERTIFICATE REQUEST").encode()).public_bytes(serialization.Encoding.DER)
    assert der[0] == 0x30 and der[1] == 0x82
    ber = b"\x30\x80" + der[4:] + b"\x00\x00"
    text = "-----BEGIN NEW CERTIFICATE REQUEST-----\n%s-----END NEW CERTIFICATE REQUEST-----\n" % \
        base64.encodebytes(ber).decode()
    refused(stack, env, sub, text, "csr.not_der", "not in DER")


def test_key_not_rsa(stack, at_csr):
    env, sub = at_csr
    refused(stack, env, sub, make_csr(ec.generate_private_key(ec.SECP256R1()), env["server_name"]),
            "csr.key_type", "not an RSA key")


@pytest.mark.parametrize("bits", [1024, 3072])
def test_key_size(stack, at_csr, bits):
    env, sub = at_csr
    r = refused(stack, env, sub, make_csr(rsa_key(bits), env["server_name"]), "csr.key_size",
                "has %d bits" % bits)
    assert "2048 bits" in page_error(r)


def test_exponent(stack, at_csr):
    env, sub = at_csr
    key = rsa.generate_private_key(public_exponent=3, key_size=2048)
    refused(stack, env, sub, make_csr(key, env["server_name"]), "csr.exponent", "6.1.6")


def test_small_factor(stack, at_csr):
    env, sub = at_csr
    refused(stack, env, sub, make_csr(small_factor_key(), env["server_name"]), "csr.small_factor",
            "small prime factor")


def test_roca(stack, at_csr):
    env, sub = at_csr
    refused(stack, env, sub, make_csr(roca_key(), env["server_name"]), "csr.roca", "ROCA")


def test_fermat(stack, at_csr):
    env, sub = at_csr
    refused(stack, env, sub, make_csr(fermat_key(), env["server_name"]), "csr.fermat", "Fermat")


def test_debian_weak_key_list(stack, debian_key):
    env = new_application(stack, unique("deb"))
    sub = Subscriber(stack)
    sub.login(env)
    sub.confirm()
    refused(stack, env, sub, make_csr(debian_key, env["server_name"]), "csr.debian", "Debian")
    # the same list applies to back-office issuance (same configuration file)
    path = os.path.join(stack.rundir, "deb.csr")
    with open(path, "w") as f:
        f.write(make_csr(debian_key, env["server_name"]))
    r = stack.ctl("issue", "--reference", env["reference"], "--csr", path, check=False)
    assert r.returncode == 1 and "csr.debian" in r.stderr
    # an unlisted key still goes through
    r = sub.submit_csr(make_csr(rsa_key(), env["server_name"]))
    assert r.url.endswith("/certificate"), page_error(r)


def test_blocked_key(stack, at_csr):
    env, sub = at_csr
    key = rsa_key()
    stack.sql("INSERT INTO blocked_key (spki_sha256, reason) VALUES (UNHEX(%s), 'test: compromised')",
              (spki_sha256(key),))
    refused(stack, env, sub, make_csr(key, env["server_name"]), "csr.blocked", "compromised")


def test_renewal_needs_a_new_key(stack):
    old = new_application(stack, unique("ren"))
    sub, key = issue_via_web(stack, old)
    assert sub.accept().status_code == 200
    new = new_application(stack, old["server_name"], renewal_of=old["reference"])
    assert stack.sql("SELECT renewal_of FROM application WHERE id = %s", (new["id"],))[0][0] == old["id"]
    shown = stack.ctl("application", "show", new["reference"]).stdout
    assert re.search(r"^Renewal of:\s+%s$" % old["reference"], shown, re.M), shown
    sub = Subscriber(stack)
    sub.login(new)
    sub.confirm()
    refused(stack, new, sub, make_csr(key, new["server_name"]), "csr.same_key", "new key")
    r = sub.submit_csr(make_csr(rsa_key(), new["server_name"]))
    assert r.url.endswith("/certificate"), page_error(r)


def test_renewal_refused(stack):
    """CPS 4.6.1: only a valid, accepted certificate is renewed, under its own server name."""
    def add(name, of):
        return stack.ctl("application", "add", "--server-name", name, "--type", "standard",
                         "--email", "admin@example.com", "--org-en", "Example Company Limited",
                         "--government", "--renewal-of", of, check=False)

    def count():
        return stack.sql("SELECT COUNT(*) FROM application")[0][0]

    issued = new_application(stack, unique("renx"))
    sub, _ = issue_via_web(stack, issued)          # issued, not yet accepted
    rejected = new_application(stack, unique("renr"))
    sub2, _ = issue_via_web(stack, rejected)
    assert sub2.reject().status_code == 200
    before = count()
    cases = [
        (issued["server_name"], "999999999", "no application with reference number 999999999"),
        ("other-" + issued["server_name"], issued["reference"], "a renewal keeps the server name"),
        (issued["server_name"], issued["reference"], "no accepted certificate that is still valid"),
        (rejected["server_name"], rejected["reference"], "revoked certificates are not renewed"),
    ]
    for name, of, message in cases:
        r = add(name, of)
        assert r.returncode != 0 and message in r.stderr and "nothing was registered" in r.stderr, r.stderr
    assert count() == before


def test_common_name(stack, at_csr):
    env, sub = at_csr
    r = refused(stack, env, sub, make_csr(rsa_key(), "other.example.org"), "csr.cn_mismatch",
                "is not the server name")
    assert "other.example.org" in page_error(r) and env["server_name"] in page_error(r)
    refused(stack, env, sub, make_csr(rsa_key(), None), "csr.no_cn", "no Common Name")
    refused(stack, env, sub, make_csr(rsa_key(), "*." + env["server_name"]), "csr.cn_mismatch",
            "is not the server name")


def test_wildcard_cn(stack):
    name = "*." + unique("wc")
    env = new_application(stack, name, "wildcard")
    sub = Subscriber(stack)
    sub.login(env)
    sub.confirm()
    refused(stack, env, sub, make_csr(rsa_key(), name[2:]), "csr.cn_mismatch", "is not the server name")
    r = sub.submit_csr(make_csr(rsa_key(), name))
    assert r.url.endswith("/certificate"), page_error(r)


@pytest.mark.parametrize("header", ["NEW CERTIFICATE REQUEST", "CERTIFICATE REQUEST"])
def test_both_pem_headers_and_crlf(stack, header):
    env = new_application(stack, unique("hdr"))
    sub = Subscriber(stack)
    sub.login(env)
    sub.confirm()
    pem = "Here is my CSR:\r\n" + make_csr(rsa_key(), env["server_name"], header=header).replace("\n", "\r\n")
    r = sub.submit_csr(pem)
    assert r.url.endswith("/certificate"), page_error(r)


# ------------------------------------------------------------------ back office: ecertctl issue

def test_ecertctl_issue_50_serials(stack, tmp_path):
    """Back-office issuance through the same pipeline; 20-byte CSPRNG serials (CPS 7.1)."""
    serials = []
    key = rsa_key()
    for i in range(50):
        env = new_application(stack, unique("bulk"))
        path = tmp_path / ("%d.csr" % i)
        path.write_text(make_csr(key if i % 2 else rsa_key(), env["server_name"]))
        out = tmp_path / ("%d.pem" % i)
        r = stack.ctl("issue", "--reference", env["reference"], "--csr", str(path), "--out", str(out))
        assert "Serial Number:" in r.stdout
        cert = x509.load_pem_x509_certificate(out.read_bytes())
        assert certificate_of(stack, env)[0] == cert
        serials.append(cert.serial_number)
    assert len(set(serials)) == 50
    raw = [s.to_bytes(20, "big") for s in serials]
    assert all(0 < b[0] < 0x80 for b in raw)                  # 20 octets, positive, no 00 pad
    bits = "".join(format(s, "0160b")[1:] for s in serials)   # 159 random bits each
    ones = bits.count("1") / len(bits)
    assert 0.45 < ones < 0.55, ones
    ordered = sorted(serials)
    assert min(b - a for a, b in zip(ordered, ordered[1:])) > 2 ** 64   # not sequential
    # a second issuance for the same application is refused: nothing changes
    r = stack.ctl("issue", "--reference", env["reference"], "--csr", str(path), check=False)
    assert r.returncode == 1 and "issued" in r.stderr


def test_ecertctl_reads_quoted_issuer_paths_with_spaces(stack, tmp_path):
    """ECertIssuer ssl "/path with spaces/ca.pem" "pkcs11:..." is split as httpd splits it."""
    import shutil
    conf = open(stack.ecert_conf).read()
    m = re.search(r'^ECertIssuer ssl "([^"]+)"', conf, re.M)
    spaced = tmp_path / "issuer certs" / "ssl ca.pem"
    spaced.parent.mkdir()
    shutil.copy(m.group(1), spaced)
    other = tmp_path / "ecert.conf"
    other.write_text(conf.replace('"%s"' % m.group(1), '"%s"' % spaced))
    env = new_application(stack, unique("spaced"))
    path = tmp_path / "req.csr"
    path.write_text(make_csr(rsa_key(), env["server_name"]))
    out = tmp_path / "cert.pem"
    r = stack.ctl("issue", "--reference", env["reference"], "--csr", str(path), "--out", str(out), conf=str(other))
    assert "Serial Number:" in r.stdout
    assert certificate_of(stack, env)[0] == x509.load_pem_x509_certificate(out.read_bytes())


def test_ecertctl_issue_refusals(stack, tmp_path):
    env = new_application(stack, unique("ctl"), government=False)
    path = tmp_path / "a.csr"
    path.write_text(make_csr(rsa_key(), env["server_name"]))
    r = stack.ctl("issue", "--reference", env["reference"], "--csr", str(path), check=False)
    # a sentence naming the name, never a message key
    assert r.returncode == 1 and "control of %s has not been validated" % env["server_name"] in r.stderr
    assert "dcv." not in r.stderr
    env = new_application(stack, unique("ctl"))
    path.write_text(make_csr(rsa_key(), "wrong.example.org"))
    r = stack.ctl("issue", "--reference", env["reference"], "--csr", str(path), check=False)
    assert r.returncode == 1 and "csr.cn_mismatch" in r.stderr
    assert certificate_of(stack, env) is None
    r = stack.ctl("issue", "--reference", "000000000", "--csr", str(path), check=False)
    assert r.returncode == 1 and "no application" in r.stderr
