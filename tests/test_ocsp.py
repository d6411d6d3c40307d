"""mod_ocsp on the real stack (R-13; CPS 4.9.9, 4.10, 7.3, App. D; RFC 6960, RFC 9919,
RFC 9654, RFC 5019): answers, encodings, HTTP behaviour and caching. Clients: openssl
ocsp, GnuTLS ocsptool, Python cryptography, curl and hand-built requests."""

import base64
import datetime
import os
import re
import secrets
import subprocess
import time
import urllib.parse

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509 import ocsp

import ocsp_util as u
from ocsp_util import certid, request, post, get, get_raw, single, verify

REASONS = [  # ecertctl --reason, RFC 5280 code in the response (None: no reasonCode)
    ("unspecified", None),
    ("keyCompromise", x509.ReasonFlags.key_compromise),
    ("affiliationChanged", x509.ReasonFlags.affiliation_changed),
    ("superseded", x509.ReasonFlags.superseded),
    ("cessationOfOperation", x509.ReasonFlags.cessation_of_operation),
    ("privilegeWithdrawn", x509.ReasonFlags.privilege_withdrawn),
]


@pytest.fixture(scope="module")
def ca(stack):
    return u.issuers(stack)


def now_utc():
    return datetime.datetime.utcnow()


def openssl_ocsp(stack, *args, url_instance=1):
    cmd = ["openssl", "ocsp", "-url", stack.url("/ocsp", instance=url_instance)] + list(args)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60)


# ------------------------------------------------------------------ statuses


def test_good_openssl_post_verifies_against_root(stack, ca):
    serial = u.add_cert(stack, ca["ssl"])
    r = openssl_ocsp(stack, "-issuer", ca["ssl"].pem, "-serial", "0x" + serial,
                     "-CAfile", ca["root"].pem, "-no_nonce", "-resp_text")
    assert r.returncode == 0, r.stderr
    assert "Response verify OK" in r.stderr
    assert re.search(r"^0x%s: good$" % serial, r.stdout, re.M | re.I), r.stdout
    assert "Responder Id: " in r.stdout and "sha256WithRSAEncryption" in r.stdout


def test_good_openssl_vafile(stack, ca):
    serial = u.add_cert(stack, ca["ev"])
    r = openssl_ocsp(stack, "-issuer", ca["ev"].pem, "-serial", "0x" + serial,
                     "-VAfile", ca["ev"].responder_pem, "-no_nonce")
    assert r.returncode == 0, r.stderr
    assert "Response verify OK" in r.stderr
    assert re.search(r": good$", r.stdout, re.M), r.stdout


def test_good_response_fields(stack, ca):
    """App. D: v1, byKey, producedAt, thisUpdate/nextUpdate, sha256WithRSA, signer cert."""
    serial = u.add_cert(stack, ca["ssl"])
    before = now_utc().replace(microsecond=0) - datetime.timedelta(seconds=1)
    resp = verify(single(stack, ca["ssl"], serial).ocsp(), ca["ssl"])
    assert resp.certificate_status == ocsp.OCSPCertStatus.GOOD
    assert resp.serial_number == int(serial, 16)
    nh, kh = ca["ssl"].hashes("sha1")
    assert (resp.issuer_name_hash, resp.issuer_key_hash) == (nh, kh)
    assert isinstance(resp.hash_algorithm, type(u.hashes.SHA1()))
    assert before <= resp.this_update <= now_utc() + datetime.timedelta(seconds=2)
    assert resp.produced_at >= resp.this_update
    validity = resp.next_update - resp.this_update
    # BR 4.9.10: at least 8 hours, at most 10 days; the default is 4 days
    assert validity == datetime.timedelta(days=4)
    assert len(list(resp.responses)) == 1
    assert len(resp.extensions) == 0


def test_sha256_certid_answered_with_sha256(stack, ca):
    serial = u.add_cert(stack, ca["ssl"])
    resp = verify(single(stack, ca["ssl"], serial, alg="sha256").ocsp(), ca["ssl"])
    assert resp.certificate_status == ocsp.OCSPCertStatus.GOOD
    assert isinstance(resp.hash_algorithm, u.hashes.SHA256)
    nh, kh = ca["ssl"].hashes("sha256")
    assert (resp.issuer_name_hash, resp.issuer_key_hash) == (nh, kh)


def test_sha256_certid_openssl(stack, ca):
    serial = u.add_cert(stack, ca["ssl"])
    r = openssl_ocsp(stack, "-issuer", ca["ssl"].pem, "-sha256", "-serial", "0x" + serial,
                     "-CAfile", ca["root"].pem, "-no_nonce", "-resp_text")
    assert r.returncode == 0, r.stderr
    assert "Response verify OK" in r.stderr
    assert "Hash Algorithm: sha256" in r.stdout
    assert re.search(r": good$", r.stdout, re.M)


def test_cryptography_request_builder(stack, ca):
    """A request built by another library (Python cryptography) from a certificate."""
    serial = u.add_cert(stack, ca["ev"])
    cert = u.fake_cert(ca["ev"], serial)
    for alg in (u.hashes.SHA1(), u.hashes.SHA256()):
        der = ocsp.OCSPRequestBuilder().add_certificate(cert, ca["ev"].cert, alg).build().public_bytes(
            serialization.Encoding.DER)
        resp = verify(post(stack, der).ocsp(), ca["ev"])
        assert resp.certificate_status == ocsp.OCSPCertStatus.GOOD
        assert type(resp.hash_algorithm) is type(alg)


@pytest.mark.parametrize("reason,code", REASONS, ids=[r for r, _ in REASONS])
def test_revoked_each_reason_via_ecertctl(stack, ca, reason, code):
    serial = u.add_cert(stack, ca["ssl"])
    assert u.cert_status(stack, ca["ssl"], serial) == "GOOD"
    t0 = now_utc().replace(microsecond=0)
    r = stack.ctl("revoke", "0x" + serial.upper(), "--reason", reason)
    assert "revoked" in r.stdout and "re-signed" in r.stdout, r.stdout + r.stderr
    row = stack.sql("SELECT status, revocation_reason FROM certificate WHERE issuer_id = %s AND serial_hex = %s",
                    (ca["ssl"].id, serial))[0]
    assert row[0] == "revoked"
    # ecertctl signed the new answers itself: they are in the store and nothing is queued
    assert stack.sql("SELECT COUNT(*) FROM ocsp_response WHERE issuer_id = %s AND serial_hex = %s "
                     "AND status_changed = (SELECT status_changed FROM certificate WHERE issuer_id = %s "
                     "AND serial_hex = %s)", (ca["ssl"].id, serial, ca["ssl"].id, serial))[0][0] == 2
    assert stack.sql("SELECT COUNT(*) FROM ocsp_pending WHERE issuer_id = %s AND serial_hex = %s",
                     (ca["ssl"].id, serial))[0][0] == 0
    for alg in ("sha1", "sha256"):
        status, _ = u.wait_for(lambda: u.cert_status(stack, ca["ssl"], serial, alg), "REVOKED", 2)
        assert status == "REVOKED"
        resp = verify(single(stack, ca["ssl"], serial, alg).ocsp(), ca["ssl"])
        assert resp.revocation_reason == code
        assert abs(resp.revocation_time - t0) <= datetime.timedelta(seconds=5)


def test_revoke_refuses_bad_reason_and_unknown_serial(stack, ca):
    serial = u.add_cert(stack, ca["ssl"])
    r = stack.ctl("revoke", serial, "--reason", "cACompromise", check=False)
    assert r.returncode != 0 and "reason" in r.stderr
    r = stack.ctl("revoke", serial, "--reason", "certificateHold", check=False)
    assert r.returncode != 0
    r = stack.ctl("revoke", u.new_serial(), "--reason", "keyCompromise", check=False)
    assert r.returncode != 0 and "no certificate" in r.stderr
    assert stack.sql("SELECT status FROM certificate WHERE serial_hex = %s", (serial,))[0][0] == "issued"
    stack.ctl("revoke", serial, "--reason", "superseded")
    r = stack.ctl("revoke", serial, "--reason", "superseded", check=False)
    assert r.returncode != 0 and "already revoked" in r.stderr
    # CPS 7.2 a): a revoked certificate may still change to keyCompromise
    stack.ctl("revoke", serial, "--reason", "keyCompromise")
    resp, _ = u.wait_for(lambda: single(stack, ca["ssl"], serial).ocsp().revocation_reason,
                         x509.ReasonFlags.key_compromise, 2)
    assert resp == x509.ReasonFlags.key_compromise


def test_unknown_serial_is_never_good(stack, ca):
    serial = u.new_serial()
    resp = verify(single(stack, ca["ssl"], serial).ocsp(), ca["ssl"])
    assert resp.certificate_status == ocsp.OCSPCertStatus.UNKNOWN
    assert resp.serial_number == int(serial, 16)
    # the same answer again (bounded cache), still unknown
    assert u.cert_status(stack, ca["ssl"], serial) == "UNKNOWN"
    # a serial longer than any we issue
    long_serial = "7f" + secrets.token_hex(24)
    assert u.cert_status(stack, ca["ssl"], long_serial) == "UNKNOWN"


def test_unknown_serial_then_issued_becomes_good(stack, ca):
    serial = u.new_serial()
    assert u.cert_status(stack, ca["ssl"], serial) == "UNKNOWN"
    u.add_cert(stack, ca["ssl"], serial)
    status, _ = u.wait_for(lambda: u.cert_status(stack, ca["ssl"], serial), "GOOD", 3)
    assert status == "GOOD"


def test_unknown_issuer_unauthorized_unsigned(stack, ca):
    serial = u.add_cert(stack, ca["ssl"])
    bogus = certid(ca["ssl"], serial, name_hash=b"\x11" * 20)
    r = post(stack, request(bogus))
    assert r.status == 200
    assert r.body == bytes.fromhex("3003 0a01 06".replace(" ", ""))   # unauthorized, no signature
    assert r.headers["cache-control"] == "max-age=0, no-cache"
    # issuer key hash of another key, right name: still not ours (matching is on both)
    _, other_key = ca["ev"].hashes("sha1")
    assert u.status_of(post(stack, request(certid(ca["ssl"], serial, key_hash=other_key))).ocsp()) == "unauthorized"
    # the responder certificate is no issuer of ours
    r = openssl_ocsp(stack, "-issuer", ca["ssl"].responder_pem, "-serial", "0x" + serial, "-no_nonce")
    assert "unauthorized" in (r.stdout + r.stderr)


def test_several_certids_in_one_request(stack, ca):
    good, revoked = u.add_cert(stack, ca["ssl"]), u.add_cert(stack, ca["ssl"])
    unknown = u.new_serial()
    stack.ctl("revoke", revoked, "--reason", "keyCompromise")
    for alg in ("sha1", "sha256"):      # the node sees the revocation within its 1 s promise
        status, _ = u.wait_for(lambda: u.cert_status(stack, ca["ssl"], revoked, alg), "REVOKED", 1)
        assert status == "REVOKED"
    r = openssl_ocsp(stack, "-issuer", ca["ssl"].pem, "-serial", "0x" + good, "-serial", "0x" + revoked,
                     "-serial", "0x" + unknown, "-CAfile", ca["root"].pem, "-no_nonce")
    assert r.returncode == 0, r.stderr
    assert "Response verify OK" in r.stderr
    out = r.stdout.lower()
    assert "0x%s: good" % good in out and "0x%s: revoked" % revoked in out and "0x%s: unknown" % unknown in out
    # the same through cryptography, with SHA-256 and SHA-1 CertIDs mixed
    der = request(certid(ca["ssl"], good, "sha256"), certid(ca["ssl"], revoked, "sha1"),
                  certid(ca["ssl"], unknown, "sha256"))
    resp = verify(post(stack, der).ocsp(), ca["ssl"])
    got = [(s.serial_number, s.certificate_status, type(s.hash_algorithm).__name__) for s in resp.responses]
    assert got == [(int(good, 16), ocsp.OCSPCertStatus.GOOD, "SHA256"),
                   (int(revoked, 16), ocsp.OCSPCertStatus.REVOKED, "SHA1"),
                   (int(unknown, 16), ocsp.OCSPCertStatus.UNKNOWN, "SHA256")]


def test_certids_of_other_issuers_are_unknown(stack, ca):
    ssl, ev = u.add_cert(stack, ca["ssl"]), u.add_cert(stack, ca["ev"])
    bogus = certid(ca["ssl"], ssl, name_hash=b"\x22" * 20)
    resp = verify(post(stack, request(certid(ca["ssl"], ssl), certid(ca["ev"], ev), bogus)).ocsp(), ca["ssl"])
    assert [s.certificate_status for s in resp.responses] == [
        ocsp.OCSPCertStatus.GOOD, ocsp.OCSPCertStatus.UNKNOWN, ocsp.OCSPCertStatus.UNKNOWN]


def test_too_many_certids_malformed(stack, ca):
    ids = [certid(ca["ssl"], u.new_serial()) for _ in range(9)]        # OCSPMaxCertIDs default 8
    assert u.status_of(post(stack, request(*ids)).ocsp()) == "malformedRequest"
    resp = verify(post(stack, request(*ids[:8])).ocsp(), ca["ssl"])
    assert len(list(resp.responses)) == 8


def test_sub_ca_status_from_root_responder(stack, ca):
    """CPS 7.3: the root's responder answers for the Sub CAs, status from table ca."""
    for role in ("ssl", "ev"):
        sub = ca[role].cert
        r = openssl_ocsp(stack, "-issuer", ca["root"].pem, "-serial", "%#x" % sub.serial_number,
                         "-CAfile", ca["root"].pem, "-no_nonce")
        assert r.returncode == 0, r.stderr
        assert "Response verify OK" in r.stderr
        assert re.search(r": good$", r.stdout, re.M), r.stdout
        resp = verify(single(stack, ca["root"], "%x" % sub.serial_number, "sha256").ocsp(), ca["root"])
        assert resp.certificate_status == ocsp.OCSPCertStatus.GOOD
    # the root's own responder certificate is no Sub CA: never good
    resp = verify(single(stack, ca["root"], "%x" % ca["root"].responder.serial_number).ocsp(), ca["root"])
    assert resp.certificate_status == ocsp.OCSPCertStatus.UNKNOWN


def test_sub_ca_revocation_seen(stack, ca):
    """A Sub CA revoked in table ca (reason required, App. D note 2), then restored."""
    ev = ca["ev"]
    serial = "%x" % ev.cert.serial_number
    assert u.cert_status(stack, ca["root"], serial) == "GOOD"
    try:
        stack.sql("UPDATE ca SET status = 'revoked', revoked_at = UTC_TIMESTAMP(), revocation_reason = NULL, "
                  "status_changed = NOW(6) WHERE id = %s", (ev.id,))
        status, _ = u.wait_for(lambda: u.cert_status(stack, ca["root"], serial), "REVOKED", 2)
        assert status == "REVOKED"
        resp = verify(single(stack, ca["root"], serial).ocsp(), ca["root"])
        assert resp.revocation_reason == x509.ReasonFlags.unspecified    # reasonCode 0 present
    finally:
        stack.sql("UPDATE ca SET status = 'active', revoked_at = NULL, revocation_reason = NULL, "
                  "status_changed = NOW(6) WHERE id = %s", (ev.id,))
    status, _ = u.wait_for(lambda: u.cert_status(stack, ca["root"], serial), "GOOD", 2)
    assert status == "GOOD"


def ocsptool_ask(stack, issuer, serial, tmp_path, *extra):
    cert = tmp_path / "cert.pem"
    cert.write_bytes(u.fake_cert(issuer, serial).public_bytes(serialization.Encoding.PEM))
    out = tmp_path / "resp.der"
    r = subprocess.run(["ocsptool", "--ask=" + stack.url("/ocsp"), "--load-issuer", issuer.pem,
                        "--load-cert", str(cert), "--outfile", str(out)] + list(extra),
                       capture_output=True, text=True, timeout=60)
    return r, out


def test_gnutls_ocsptool_ask_and_verify(stack, ca, tmp_path):
    serial = u.add_cert(stack, ca["ssl"])
    # trust anchor: the issuing CA, which delegated the signing to its responder
    r, out = ocsptool_ask(stack, ca["ssl"], serial, tmp_path, "--no-nonce", "--load-trust", ca["ssl"].pem)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Verifying OCSP Response: Success." in r.stdout
    assert re.search(r"Certificate Status: good", r.stdout), r.stdout
    assert "Responder Key ID: " in r.stdout and "RSA-SHA256" in r.stdout
    r = subprocess.run(["ocsptool", "--verify-response", "--load-signer", ca["ssl"].responder_pem,
                        "--infile", str(out)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "Verifying OCSP Response: Success." in r.stdout, r.stdout + r.stderr
    # the root alone is no trust anchor for a delegated responder two levels down
    r = subprocess.run(["ocsptool", "--verify-response", "--load-trust", ca["root"].pem,
                        "--infile", str(out)], capture_output=True, text=True, timeout=60)
    assert r.returncode != 0


def test_gnutls_ocsptool_revoked(stack, ca, tmp_path):
    serial = u.add_cert(stack, ca["ev"])
    stack.ctl("revoke", serial, "--reason", "cessationOfOperation")
    status, _ = u.wait_for(lambda: u.cert_status(stack, ca["ev"], serial), "REVOKED", 1)
    assert status == "REVOKED"
    r, out = ocsptool_ask(stack, ca["ev"], serial, tmp_path, "--load-signer", ca["ev"].responder_pem)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Certificate Status: revoked" in r.stdout, r.stdout
    assert "Verifying OCSP Response: Success." in r.stdout
    resp = verify(ocsp.load_der_ocsp_response(out.read_bytes()), ca["ev"])
    assert resp.revocation_reason == x509.ReasonFlags.cessation_of_operation


# ------------------------------------------------------------------ GET encodings


def b64_with(stack, ca, must):
    """A request for a real certificate whose base64 form contains every string in must."""
    for i in range(5000):
        serial = u.new_serial(18 + i % 3)      # three lengths: every padding
        der = request(certid(ca["ssl"], serial))
        b = base64.b64encode(der).decode()
        if all(m in b for m in must) and b.endswith("=") == ("=" in must):
            u.add_cert(stack, ca["ssl"], serial)
            return serial, der, b
    pytest.fail("no serial gives base64 with %r" % (must,))


def get_status(stack, ca, raw_path, serial):
    r = get_raw(stack, raw_path)
    assert r.status == 200, (r.status, raw_path)
    resp = r.ocsp()
    assert u.status_of(resp) == "successful", raw_path
    verify(resp, ca["ssl"])
    assert resp.serial_number == int(serial, 16)
    return resp.certificate_status


def test_get_plain_base64_with_slash_and_plus(stack, ca):
    serial, der, b = b64_with(stack, ca, ["/", "+"])
    assert get_status(stack, ca, "/ocsp/" + b, serial) == ocsp.OCSPCertStatus.GOOD


def test_get_percent_encoded(stack, ca):
    serial, der, b = b64_with(stack, ca, ["/", "+", "="])
    enc = urllib.parse.quote(b, safe="")
    assert "%2F" in enc and "%2B" in enc and "%3D" in enc
    assert get_status(stack, ca, "/ocsp/" + enc, serial) == ocsp.OCSPCertStatus.GOOD
    # lower-case escapes and a mix of encoded and plain
    assert get_status(stack, ca, "/ocsp/" + enc.replace("%2F", "%2f").replace("%2B", "+"), serial) == \
        ocsp.OCSPCertStatus.GOOD


def test_get_double_slash_inside_base64(stack, ca):
    serial, der, b = b64_with(stack, ca, ["//"])
    assert get_status(stack, ca, "/ocsp/" + b, serial) == ocsp.OCSPCertStatus.GOOD


def test_get_merged_double_slash_before_request(stack, ca):
    serial, der, b = b64_with(stack, ca, ["/"])
    assert get_status(stack, ca, "/ocsp//" + b, serial) == ocsp.OCSPCertStatus.GOOD


def test_get_base64url_and_missing_padding(stack, ca):
    serial, der, b = b64_with(stack, ca, ["/", "+", "="])
    url = b.replace("+", "-").replace("/", "_")
    assert get_status(stack, ca, "/ocsp/" + url, serial) == ocsp.OCSPCertStatus.GOOD
    assert get_status(stack, ca, "/ocsp/" + url.rstrip("="), serial) == ocsp.OCSPCertStatus.GOOD
    assert get_status(stack, ca, "/ocsp/" + b.rstrip("="), serial) == ocsp.OCSPCertStatus.GOOD


def test_get_absolute_form_and_query(stack, ca):
    serial, der, b = b64_with(stack, ca, ["/"])
    target = "http://127.0.0.1:%d/ocsp/%s?cache-buster=1" % (stack.port, b)
    assert get_status(stack, ca, target, serial) == ocsp.OCSPCertStatus.GOOD


def test_get_openssl_reqout_with_curl(stack, ca, tmp_path):
    serial = u.add_cert(stack, ca["ssl"])
    req = tmp_path / "req.der"
    subprocess.run(["openssl", "ocsp", "-issuer", ca["ssl"].pem, "-serial", "0x" + serial, "-no_nonce",
                    "-reqout", str(req)], check=True, capture_output=True, timeout=60)
    url = stack.url("/ocsp/" + urllib.parse.quote(base64.b64encode(req.read_bytes()).decode(), safe=""))
    resp_file = tmp_path / "resp.der"
    r = subprocess.run(["curl", "-sS", "--path-as-is", "-o", str(resp_file), "-w", "%{http_code}", url],
                       capture_output=True, text=True, timeout=60)
    assert r.stdout == "200", r.stderr
    r = subprocess.run(["openssl", "ocsp", "-respin", str(resp_file), "-issuer", ca["ssl"].pem,
                        "-CAfile", ca["root"].pem, "-serial", "0x" + serial],
                       capture_output=True, text=True, timeout=60)
    assert "Response verify OK" in r.stderr and re.search(r": good$", r.stdout, re.M), r.stdout + r.stderr


def test_get_garbage_is_malformed(stack, ca):
    for path in ("/ocsp", "/ocsp/", "/ocsp/not-base64!", "/ocsp/MEIwQDA-", "/ocsp/" + "M" * 5000,
                 "/ocsp/M%7a", "/ocsp/" + base64.b64encode(b"\x30\x03\x02\x01\x01").decode()):
        r = get_raw(stack, path)
        assert r.status == 200, path
        assert r.body == bytes.fromhex("3003" "0a01" "01"), path
        assert r.headers["cache-control"] == "max-age=0, no-cache"
    # not even a URI: httpd itself refuses it before any module sees it
    stack.expect_log(r"AH10244: invalid URI path \(/ocsp/%zz\)")
    assert get_raw(stack, "/ocsp/%zz").status == 400


def test_get_and_post_same_answer(stack, ca):
    serial = u.add_cert(stack, ca["ssl"])
    der = request(certid(ca["ssl"], serial))
    a, b = get(stack, der), post(stack, der)
    assert a.body == b.body and a.headers["etag"] == b.headers["etag"]


# ------------------------------------------------------------------ nonce (OCSPNonce off)


def test_nonce_ignored_when_off(stack, ca):
    serial = u.add_cert(stack, ca["ssl"])
    plain = post(stack, request(certid(ca["ssl"], serial)))
    with_nonce = post(stack, request(certid(ca["ssl"], serial), nonce=secrets.token_bytes(32)))
    assert with_nonce.body == plain.body         # the cached answer, no signature spent
    resp = verify(with_nonce.ocsp(), ca["ssl"])
    assert len(resp.extensions) == 0
    # out-of-range nonces are ignored too when the policy is off
    assert post(stack, request(certid(ca["ssl"], serial), nonce=b"")).body == plain.body
    assert post(stack, request(certid(ca["ssl"], serial), nonce=b"x" * 200)).body == plain.body
    # openssl's default request carries a nonce: it warns, and the answer verifies
    r = openssl_ocsp(stack, "-issuer", ca["ssl"].pem, "-serial", "0x" + serial, "-CAfile", ca["root"].pem)
    assert r.returncode == 0 and "Response verify OK" in r.stderr
    assert "WARNING: no nonce in response" in r.stderr


# ------------------------------------------------------------------ HTTP


def test_caching_headers_and_304(stack, ca):
    serial = u.add_cert(stack, ca["ssl"])
    der = request(certid(ca["ssl"], serial))
    r = get(stack, der)
    resp = r.ocsp()
    h = r.headers
    assert h["content-type"] == "application/ocsp-response"
    assert int(h["content-length"]) == len(r.body)
    fmt = "%a, %d %b %Y %H:%M:%S GMT"
    assert datetime.datetime.strptime(h["last-modified"], fmt) == resp.this_update
    assert datetime.datetime.strptime(h["expires"], fmt) == resp.next_update
    m = re.fullmatch(r"max-age=(\d+), public, no-transform, must-revalidate", h["cache-control"])
    assert m, h["cache-control"]
    left = (resp.next_update - now_utc()).total_seconds()
    assert abs(int(m.group(1)) - left) <= 5
    etag = h["etag"]
    assert re.fullmatch(r'"[0-9a-f]{16}"', etag)
    again = get(stack, der, headers={"If-None-Match": etag})
    assert again.status == 304 and again.body == b""
    assert again.headers["etag"] == etag
    assert get(stack, der, headers={"If-None-Match": '"0000", %s' % etag}).status == 304
    assert get(stack, der, headers={"If-None-Match": "*"}).status == 304
    other = get(stack, der, headers={"If-None-Match": '"0123456789abcdef"'})
    assert other.status == 200 and other.body == r.body


def test_etag_changes_with_status(stack, ca):
    serial = u.add_cert(stack, ca["ssl"])
    der = request(certid(ca["ssl"], serial))
    etag = get(stack, der).headers["etag"]
    stack.ctl("revoke", serial, "--reason", "superseded")
    status, _ = u.wait_for(lambda: u.cert_status(stack, ca["ssl"], serial), "REVOKED", 2)
    r = get(stack, der, headers={"If-None-Match": etag})
    assert r.status == 200 and r.headers["etag"] != etag
    assert r.ocsp().certificate_status == ocsp.OCSPCertStatus.REVOKED


def test_head(stack, ca):
    serial = u.add_cert(stack, ca["ssl"])
    der = request(certid(ca["ssl"], serial))
    full = get(stack, der)
    head = get(stack, der, method="HEAD")
    assert head.status == 200 and head.body == b""
    assert head.headers["content-type"] == "application/ocsp-response"
    assert head.headers["content-length"] == str(len(full.body))
    assert head.headers["etag"] == full.headers["etag"]


def test_other_methods(stack, ca):
    for method in ("PUT", "DELETE", "PATCH"):
        r = get_raw(stack, "/ocsp/", method=method)
        assert r.status == 405, method
        assert set(a.strip() for a in r.headers["allow"].split(",")) >= {"GET", "POST"}
    r = get_raw(stack, "/ocsp", method="OPTIONS")
    assert r.status == 200 and "POST" in r.headers["allow"]


def test_post_wrong_content_type(stack, ca):
    der = request(certid(ca["ssl"], u.add_cert(stack, ca["ssl"])))
    for ctype in ("application/x-www-form-urlencoded", "text/plain", "application/ocsp-requestx"):
        assert post(stack, der, ctype=ctype).status == 415, ctype
    assert post(stack, der, ctype="application/ocsp-request; charset=binary").status == 200
    assert post(stack, der, ctype="Application/OCSP-Request").status == 200


def test_post_oversized(stack, ca):
    big = request(*[certid(ca["ssl"], u.new_serial()) for _ in range(8)], nonce=b"x" * 100)
    big = big + b"\x00" * (4097 - len(big))
    assert post(stack, big).status == 413
    # chunked, no Content-Length: refused once past the limit
    chunked = (b"POST /ocsp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/ocsp-request\r\n"
               b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
    for _ in range(5):
        chunked += b"400\r\n" + b"\x00" * 1024 + b"\r\n"
    chunked += b"0\r\n\r\n"
    out = u.raw_exchange(stack, chunked)
    assert out.startswith(b"HTTP/1.1 413 "), out[:100]


def test_post_truncated_body(stack, ca):
    der = request(certid(ca["ssl"], u.add_cert(stack, ca["ssl"])))
    head = (b"POST /ocsp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/ocsp-request\r\n"
            b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(der))
    # the connection ends before the announced length: no answer, no crash
    out = u.raw_exchange(stack, head + der[:len(der) // 2], shut_write=True)
    assert out == b"" or out.startswith(b"HTTP/1.1 400 "), out[:100]
    # a complete body that is a truncated request: malformedRequest
    r = post(stack, der[:-3])
    assert r.status == 200 and u.status_of(r.ocsp()) == "malformedRequest"
    for body in (b"", b"garbage", b"\x30\x80\x00\x00", secrets.token_bytes(300)):
        assert u.status_of(post(stack, body).ocsp()) == "malformedRequest"
    # the server is fine afterwards
    assert post(stack, der).ocsp().certificate_status == ocsp.OCSPCertStatus.GOOD


def test_errors_not_cacheable(stack, ca):
    r = post(stack, b"junk")
    assert r.headers["cache-control"] == "max-age=0, no-cache"
    assert "etag" not in r.headers and "expires" not in r.headers


# ------------------------------------------------------------------ store and schedule


def test_presigned_from_queue(stack, ca):
    """Issuance queues the certificate; a responder signs both CertID forms within a round."""
    serial = u.add_cert(stack, ca["ev"])
    n, _ = u.wait_for(lambda: stack.sql("SELECT COUNT(*) FROM ocsp_response WHERE issuer_id = %s AND "
                                        "serial_hex = %s", (ca["ev"].id, serial))[0][0], 2, 3)
    assert n == 2
    left, _ = u.wait_for(lambda: stack.sql("SELECT COUNT(*) FROM ocsp_pending WHERE issuer_id = %s AND "
                                           "serial_hex = %s", (ca["ev"].id, serial))[0][0], 0, 3)
    assert left == 0
    stored = stack.sql("SELECT response_der FROM ocsp_response WHERE issuer_id = %s AND serial_hex = %s "
                       "AND hash_alg = 'sha256'", (ca["ev"].id, serial))[0][0]
    assert single(stack, ca["ev"], serial, "sha256").body == stored


def test_scheduled_refresh(stack, ca):
    """Responses older than 90% of OCSPRefresh are re-signed by the watchdog (BR 4.9.10)."""
    serial = u.add_cert(stack, ca["ssl"])
    u.wait_for(lambda: stack.sql("SELECT COUNT(*) FROM ocsp_response WHERE issuer_id = %s AND serial_hex = %s",
                                 (ca["ssl"].id, serial))[0][0], 2, 3)
    stack.sql("UPDATE ocsp_response SET this_update = this_update - INTERVAL 2 DAY, "
              "next_update = next_update - INTERVAL 2 DAY WHERE issuer_id = %s AND serial_hex = %s",
              (ca["ssl"].id, serial))

    def age():
        return stack.sql("SELECT MAX(TIMESTAMPDIFF(SECOND, this_update, UTC_TIMESTAMP())) FROM ocsp_response "
                         "WHERE issuer_id = %s AND serial_hex = %s", (ca["ssl"].id, serial))[0][0]
    a, _ = u.wait_for(lambda: age() < 3600, True, 5)
    assert a, "stale responses were not refreshed"
    resp = verify(single(stack, ca["ssl"], serial).ocsp(), ca["ssl"])
    assert now_utc() - resp.this_update < datetime.timedelta(hours=1)


def test_stale_store_answer_not_served(stack, ca):
    """A stored answer signed before the last status change is never served."""
    serial = u.add_cert(stack, ca["ssl"], queue=False)
    first = single(stack, ca["ssl"], serial, "sha256")         # signed on demand, stored
    assert first.ocsp().certificate_status == ocsp.OCSPCertStatus.GOOD
    # status changes without a queue row (as if the re-signing failed everywhere)
    stack.sql("UPDATE certificate SET status = 'revoked', revoked_at = UTC_TIMESTAMP(), "
              "revocation_reason = 4, status_changed = NOW(6) WHERE issuer_id = %s AND serial_hex = %s",
              (ca["ssl"].id, serial))
    status, _ = u.wait_for(lambda: u.cert_status(stack, ca["ssl"], serial, "sha256"), "REVOKED", 2)
    assert status == "REVOKED"
