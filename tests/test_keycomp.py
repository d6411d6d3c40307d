"""Key-compromise reports (R-10; CPS 4.9.12; BR 4.9.1.1, 4.9.12, 6.1.1.3, 7.2.2): a proof CSR
(CN = the CPS proof string) or the private key itself (PKCS#8, PKCS#1, SEC1 EC); every unexpired
certificate with the key revoked for keyCompromise (an earlier reason changed, the date moved
back), the key blocked for future CSRs even with no certificate, the subscribers e-mailed, and
the private key nowhere: not in the store, the logs or any page. A private key pasted into the
CSR form is treated the same way. Rate limit and CSRF."""

import datetime
import os
import re
import subprocess
import time

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

import crl_util as c
from ecert_util import (Subscriber, certificate_of, error_code, issue_via_web, make_csr, new_application,
                        page_error, redirected_error, rsa_key)

PROOF_ZH = "香港郵政的密碼匙資料被外洩證據"
PROOF_EN = "Proof of Key Compromise for Hongkong Post"


def unique(prefix):
    return "%s%d.example.org" % (prefix, time.monotonic_ns() % 10**10)


def proof_csr(key, cn=PROOF_ZH):
    b = x509.CertificateSigningRequestBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
    return b.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode()


def pem_key(key, fmt):
    return key.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption()).decode()


def spki_sha256(key):
    import hashlib
    return hashlib.sha256(key.public_key().public_bytes(serialization.Encoding.DER,
                                                        serialization.PublicFormat.SubjectPublicKeyInfo)).hexdigest()


def report(stack, evidence, date=None, contact=None, csrf=True):
    sub = Subscriber(stack)
    sub.get("/keycompromise")
    data = {"evidence": evidence}
    if date:
        data["compromised_at"] = date
    if contact:
        data["contact"] = contact
    return sub.post("/keycompromise", data, csrf=csrf)


def cert_with(stack, key, name=None):
    env = new_application(stack, name or unique("kc-"))
    issue_via_web(stack, env, key=key)
    cert, issuer_id, serial_hex, _ = certificate_of(stack, env)
    return env, cert, serial_hex


def assert_blocked(stack, key):
    """A new application with the key: its CSR is refused as compromised."""
    env = new_application(stack, unique("kc-after-"))
    sub = Subscriber(stack)
    sub.login(env)
    sub.confirm()
    r = sub.submit_csr(make_csr(key, env["server_name"]))
    assert redirected_error(r, "/csr") and error_code(r) == "csr.blocked", (r.status_code, error_code(r))
    assert certificate_of(stack, env) is None


def test_proof_csr_revokes_every_certificate_with_the_key(stack):
    key = rsa_key()
    env1, cert1, serial1 = cert_with(stack, key)
    env2, cert2, serial2 = cert_with(stack, key)
    stack.ctl("revoke", serial1, "--reason", "superseded")          # an earlier reason, to be changed
    first_date = stack.sql("SELECT revoked_at FROM certificate WHERE serial_hex = %s", (serial1,))[0][0]
    audits = stack.sql("SELECT COUNT(*) FROM audit_event WHERE event = 'keycompromise.report'")[0][0]
    r = report(stack, proof_csr(key))
    assert r.status_code == 200 and "/keycompromise/done?report=KCR-" in r.url, (r.status_code, page_error(r))
    no = re.search(r'id="report-no">(KCR-\d{8})<', r.text).group(1)
    listed = re.findall(r'class="mono k-serial">([0-9a-f ]+)<', r.text)
    spaced = lambda s: " ".join(s[i:i + 2] for i in range(0, len(s), 2))
    assert set(listed) == {spaced(serial1), spaced(serial2)}
    # no subscriber data on the reporter's page
    assert env1["server_name"] not in r.text and "admin@example.com" not in r.text
    for serial in (serial1, serial2):
        row = stack.sql("SELECT status, revocation_reason, revoked_at FROM certificate WHERE serial_hex = %s",
                        (serial,))[0]
        assert row[:2] == ("revoked", 1), serial
    # the earlier revocation keeps its (earlier) date; its reason is now keyCompromise
    assert stack.sql("SELECT revoked_at FROM certificate WHERE serial_hex = %s", (serial1,))[0][0] == first_date
    assert stack.sql("SELECT COUNT(*) FROM blocked_key WHERE spki_sha256 = UNHEX(%s)", (spki_sha256(key),))[0][0] == 1
    assert stack.sql("SELECT kind, category, revoked FROM problem_report WHERE report_no = %s", (no,))[0] == \
        ("key-compromise", "key-compromise", 2)
    assert stack.sql("SELECT COUNT(*) FROM audit_event WHERE event = 'keycompromise.report'")[0][0] == audits + 1
    # the CRL says keyCompromise for both
    got = c.wait_for_entry(stack, "ssl", cert2.serial_number, timeout=15)
    assert got
    for cert in (cert1, cert2):
        e = got[0].get_revoked_certificate_by_serial_number(cert.serial_number)
        assert e is not None and e.extensions.get_extension_for_class(x509.CRLReason).value.reason == \
            x509.ReasonFlags.key_compromise
    # the subscribers are told
    for serial in (serial1, serial2):
        assert stack.smtp.wait_for(lambda m: "key compromise" in str(m["Subject"]) and spaced(serial) in
                                   m.get_content()), serial
    assert_blocked(stack, key)


@pytest.mark.parametrize("fmt", ["pkcs8", "pkcs1"])
def test_private_key_report_and_the_key_goes_nowhere(stack, fmt):
    key = rsa_key()
    env, cert, serial = cert_with(stack, key)
    pem = pem_key(key, serialization.PrivateFormat.PKCS8 if fmt == "pkcs8" else
                  serialization.PrivateFormat.TraditionalOpenSSL)
    assert ("BEGIN RSA PRIVATE KEY" in pem) == (fmt == "pkcs1")
    marker = pem.splitlines()[5]                  # a base64 line from inside the private key
    since = datetime.datetime.utcnow().replace(microsecond=0) - datetime.timedelta(days=3)
    r = report(stack, pem, date=since.strftime("%Y-%m-%d"), contact="finder@example.net")
    assert "/keycompromise/done" in r.url, page_error(r)
    assert marker not in r.text
    row = stack.sql("SELECT status, revocation_reason, revoked_at, not_before FROM certificate WHERE serial_hex = %s",
                    (serial,))[0]
    assert row[:2] == ("revoked", 1)
    # backdated to the day given, but never before the certificate existed
    assert row[2] == max(datetime.datetime(since.year, since.month, since.day), row[3])
    # nowhere: every text column of the store, httpd's logs
    dump = subprocess.run(["mariadb-dump", "--no-defaults", "--socket=" + stack.mysql_sock, "-u",
                           stack.admin_user, "--skip-extended-insert", "ecert"], capture_output=True,
                          timeout=120).stdout
    assert dump and marker.encode() not in dump
    assert spki_sha256(key).upper().encode() in dump.upper()          # only its public key's digest
    for name in ("error.log", "access.log"):
        with open(os.path.join(stack.httpd_dir, name), "rb") as f:
            assert marker.encode() not in f.read()
    assert_blocked(stack, key)


def test_ec_key_with_no_certificate_is_blocked(stack):
    key = ec.generate_private_key(ec.SECP256R1())
    r = report(stack, pem_key(key, serialization.PrivateFormat.TraditionalOpenSSL))
    assert "/keycompromise/done" in r.url, page_error(r)
    assert re.search(r'id="revoked-count">0<', r.text)
    assert stack.sql("SELECT COUNT(*) FROM blocked_key WHERE spki_sha256 = UNHEX(%s)", (spki_sha256(key),))[0][0] == 1


def test_english_proof_string_is_accepted_and_evidence_is_checked(stack):
    key = rsa_key()
    r = report(stack, proof_csr(key, PROOF_EN))
    assert "/keycompromise/done" in r.url
    blocked = stack.sql("SELECT COUNT(*) FROM blocked_key")[0][0]
    reports = stack.sql("SELECT COUNT(*) FROM problem_report")[0][0]
    other = rsa_key()
    encrypted = other.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.BestAvailableEncryption(b"secret")).decode()
    for evidence, code in ((proof_csr(other, "www.example.com"), "keycomp.wrong_cn"),
                           (encrypted, "keycomp.encrypted"),
                           ("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "keycomp.bad_key"),
                           ("hello", "keycomp.not_evidence"),
                           ("   ", "keycomp.empty"),
                           ("-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----\n",
                            "keycomp.bad_csr")):
        r = report(stack, evidence)
        assert r.status_code == 400 and error_code(r) == code, (code, error_code(r), page_error(r))
        # the textarea is empty: nothing pasted comes back
        assert re.search(r'<textarea id="evidence"[^>]*></textarea>', r.text)
    r = report(stack, proof_csr(other), date="2999-01-01")
    assert r.status_code == 400 and error_code(r) == "keycomp.bad_date"
    r = report(stack, proof_csr(other), contact="not an address")
    assert r.status_code == 400
    r = report(stack, proof_csr(other), csrf=False)
    assert r.status_code == 403
    assert stack.sql("SELECT COUNT(*) FROM blocked_key")[0][0] == blocked
    assert stack.sql("SELECT COUNT(*) FROM problem_report")[0][0] == reports


def test_private_key_pasted_into_the_csr_form(stack):
    key = rsa_key()
    env_old, cert_old, serial_old = cert_with(stack, key)
    env = new_application(stack, unique("kc-paste-"))
    sub = Subscriber(stack)
    sub.login(env)
    sub.confirm()
    pem = pem_key(key, serialization.PrivateFormat.PKCS8)
    r = sub.submit_csr(pem)
    assert redirected_error(r, "/csr") and error_code(r) == "csr.private_key"
    for line in pem.splitlines()[1:-1]:
        assert line not in r.text
    # nor kept with the session for the page it was redirected to
    flash = stack.sql("SELECT flash FROM session WHERE application_id = %s", (env["id"],))[0][0]
    assert "PRIVATE" not in flash and pem.splitlines()[1][:20] not in flash
    assert "compromised" in page_error(r)
    assert stack.sql("SELECT status, revocation_reason FROM certificate WHERE serial_hex = %s",
                     (serial_old,))[0] == ("revoked", 1)
    assert_blocked(stack, key)
    # the subscriber continues with a new key
    r = sub.submit_csr(make_csr(rsa_key(), env["server_name"]))
    assert r.url.endswith("/certificate"), page_error(r)


def test_ecertctl_key_compromise_blocks_the_key(stack):
    key = rsa_key()
    env, cert, serial = cert_with(stack, key)
    stack.ctl("revoke", serial, "--reason", "keyCompromise")
    assert_blocked(stack, key)


def test_reports_are_rate_limited_per_address(stack):
    """ECertReportRateLimit 500 3600 in the test stack: 499 earlier submissions from this
    address, then one more is taken and the next refused."""
    stack.sql("DELETE FROM form_attempt WHERE form = 'keycomp'")
    try:
        stack.sql("INSERT INTO form_attempt (form, client_addr) SELECT 'keycomp', '127.0.0.1' FROM seq_1_to_499")
        assert report(stack, "x").status_code == 400
        r = report(stack, "x")
        assert r.status_code == 429 and error_code(r) == "report.rate_limited"
        # the problem report form counts apart
        sub = Subscriber(stack)
        sub.get("/report")
        r = sub.post("/report", {"contact": "x@example.net", "certificate": "www.example.com",
                                 "category": "other", "text": "t"})
        assert r.status_code != 429
    finally:
        stack.sql("DELETE FROM form_attempt WHERE form = 'keycomp'")
