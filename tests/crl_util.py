"""Helpers for the CRL tests: fetching what a node serves, the raw DER fields an oracle must
compare byte for byte, and waiting for the CRL that lists a revocation."""

import hashlib
import os
import subprocess
import tempfile
import time

import requests
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

FILES = {"ssl": "eCertSCA3-17CRL1.crl", "ev": "eCertESCA3-17CRL1.crl", "root": "RootCA3ARL.crl"}
CERTS = {"ssl": "ecert_ssl_ca_3-17.pem.crt", "ev": "ecert_ev_ssl_ca_3-17.pem.crt",
         "root": "root_ca_3.pem.crt"}
CRL_BASE = "http://crl1.eCert.gov.hk/crl/"


def fetch(stack, name, instance=1, **kw):
    return requests.get(stack.url("/crl/" + name, instance=instance), timeout=30, **kw)


def crl(stack, role_or_name, instance=1):
    """(cryptography CRL, DER bytes) as the node serves it now."""
    name = FILES.get(role_or_name, role_or_name)
    r = fetch(stack, name, instance)
    assert r.status_code == 200, (name, r.status_code)
    assert r.headers["Content-Type"] == "application/pkix-crl"
    return x509.load_der_x509_crl(r.content), r.content


def ca_pem(stack, role):
    return os.path.join(stack.pubdir, "root", CERTS[role])


def ca_cert(stack, role):
    with open(ca_pem(stack, role), "rb") as f:
        return x509.load_pem_x509_certificate(f.read())


def crl_number(c):
    return c.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number


def wait_for(fn, timeout, step=0.25):
    """Calls fn until it returns something true; returns that, or None after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() > deadline:
            return None
        time.sleep(step)


def wait_for_entry(stack, role, serial, timeout=15, instance=1, name=None):
    """The served CRL once it has an entry for serial (int)."""
    def look():
        c, der = crl(stack, name or role, instance)
        e = c.get_revoked_certificate_by_serial_number(serial)
        return (c, der, e) if e is not None else None
    return wait_for(look, timeout)


def wait_for_number_above(stack, role, number, timeout=15, instance=1):
    def look():
        c, der = crl(stack, role, instance)
        return (c, der) if crl_number(c) > number else None
    return wait_for(look, timeout)


# ---------------------------------------------------------------- raw DER

def _tlv(buf, off):
    """(tag, header length, content length) of the TLV at off."""
    tag, first = buf[off], buf[off + 1]
    if first < 0x80:
        return tag, 2, first
    k = first & 0x7F
    return tag, 2 + k, int.from_bytes(buf[off + 2:off + 2 + k], "big")


def _children(buf, off):
    """Offsets of the elements inside the constructed TLV at off."""
    _, h, n = _tlv(buf, off)
    pos, end, out = off + h, off + h + n, []
    while pos < end:
        out.append(pos)
        _, hh, nn = _tlv(buf, pos)
        pos += hh + nn
    return out


def _whole(buf, off):
    _, h, n = _tlv(buf, off)
    return buf[off:off + h + n]


def crl_issuer_der(der):
    tbs = _children(der, 0)[0]
    items = _children(der, tbs)     # version, signature, issuer, ...
    return _whole(der, items[2])


def cert_subject_der(der):
    tbs = _children(der, 0)[0]
    items = _children(der, tbs)
    i = 1 if der[items[0]] == 0xA0 else 0   # [0] version
    return _whole(der, items[i + 4])        # serial, signature, issuer, validity, subject


def crl_tbs_sigalg_der(der):
    top = _children(der, 0)
    return _whole(der, _children(der, top[0])[1]), _whole(der, top[1])


def cdp_uri_der(cert_der):
    """The encoded uniformResourceIdentifier of the certificate's CRL distribution point."""
    from cryptography.x509.oid import ExtensionOID
    c = x509.load_der_x509_certificate(cert_der)
    ext = c.extensions.get_extension_for_oid(ExtensionOID.CRL_DISTRIBUTION_POINTS)
    return ext.value[0].full_name[0].value.encode("ascii")


def sha256(b):
    return hashlib.sha256(b).hexdigest()


# ---------------------------------------------------------------- oracles

def openssl_verify_crl(stack, der, role):
    """`openssl crl -verify` against the issuing CA (and the root for a Sub CA)."""
    chain = [ca_pem(stack, role)] + ([ca_pem(stack, "root")] if role != "root" else [])
    with tempfile.TemporaryDirectory() as d:
        path, cafile = os.path.join(d, "c.crl"), os.path.join(d, "ca.pem")
        with open(path, "wb") as f:
            f.write(der)
        with open(cafile, "w") as f:
            for c in chain:
                f.write(open(c).read())
        return subprocess.run(["openssl", "crl", "-inform", "DER", "-in", path, "-noout", "-CAfile",
                               cafile, "-verify"], capture_output=True, text=True, timeout=60)


def openssl_verify_leaf(stack, leaf_pem, role, crls, check_all=False):
    """`openssl verify -crl_check[_all]` of a leaf with the given CRLs (DER bytes)."""
    with tempfile.TemporaryDirectory() as d:
        leaf = os.path.join(d, "leaf.pem")
        with open(leaf, "w") as f:
            f.write(leaf_pem)
        crlfile = os.path.join(d, "crls.pem")
        with open(crlfile, "w") as f:
            for der in crls:
                f.write(x509.load_der_x509_crl(der).public_bytes(Encoding.PEM).decode())
        return subprocess.run(["openssl", "verify", "-crl_check_all" if check_all else "-crl_check",
                               "-CAfile", ca_pem(stack, "root"), "-untrusted", ca_pem(stack, role),
                               "-CRLfile", crlfile, leaf], capture_output=True, text=True, timeout=60)


def certtool_info(der):
    with tempfile.NamedTemporaryFile(suffix=".crl") as f:
        f.write(der)
        f.flush()
        return subprocess.run(["certtool", "--crl-info", "--inder", "--infile", f.name],
                              capture_output=True, text=True, timeout=60)
