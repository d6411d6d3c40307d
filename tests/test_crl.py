"""CRLs and the ARL (R-12; CPS 4.9.7, App. C V, VI, VII; BR 4.9.7, 7.2): the profile checked
field by field with openssl, GnuTLS certtool and Python cryptography; revocations on the CRL
within ECertCRLRevocationDelay (5 s in the test stack) with the reason mapping of App. C note 1;
the ARL after a Sub CA revocation; serving headers; the archive through ecertctl; a fault in
the middle of the commit."""

import datetime
import os
import re
import subprocess
import time

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtensionOID

import crl_util as c
import ocsp_util as u
from ecert_util import certificate_of, issue_via_web, new_application

SHA256_RSA = "1.2.840.113549.1.1.11"


def utcnow():
    """Naive UTC, as this cryptography (Debian 12) gives CRL times."""
    return datetime.datetime.utcnow()


def issued_cert(stack, name, cert_type="standard"):
    """A real certificate through the subscriber pages: (x509, issuer_id, serial_hex, PEM)."""
    env = new_application(stack, name, cert_type)
    issue_via_web(stack, env)
    cert, issuer_id, serial_hex, _ = certificate_of(stack, env)
    return cert, issuer_id, serial_hex, cert.public_bytes(Encoding.PEM).decode()


def unique(prefix):
    return "%s%d-%d.example.org" % (prefix, os.getpid() % 10000, time.monotonic_ns() % 10**9)


# ---------------------------------------------------------------- profile

@pytest.mark.parametrize("role", ["ssl", "ev", "root"])
def test_profile_of_every_crl(stack, role):
    crl, der = c.crl(stack, role)
    ca = c.ca_cert(stack, role)
    # X.509 v2, sha256WithRSAEncryption in both places, signed by the CA's key
    assert der[:1] == b"\x30"
    tbs_alg, outer_alg = c.crl_tbs_sigalg_der(der)
    assert tbs_alg == outer_alg
    assert crl.signature_algorithm_oid.dotted_string == SHA256_RSA
    assert crl.is_signature_valid(ca.public_key())
    r = c.openssl_verify_crl(stack, der, role)
    assert r.returncode == 0 and "verify OK" in r.stderr + r.stdout, r.stderr
    # issuer byte for byte the CA's subject (BR 7.2)
    assert c.crl_issuer_der(der) == c.cert_subject_der(ca.public_bytes(Encoding.DER))
    # thisUpdate now-ish, nextUpdate within the BR bound (10 days; 12 months for the ARL)
    this, nxt = crl.last_update, crl.next_update
    assert abs((utcnow() - this).total_seconds()) < 3 * 86400
    bound = datetime.timedelta(days=365) if role == "root" else datetime.timedelta(days=10)
    assert datetime.timedelta(hours=1) <= nxt - this <= bound
    # AKI: key identifier only, equal to the CA's SKI (BR 7.1.2.11.1 over App. C's issuer+serial)
    aki = crl.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier)
    ski = ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    assert not aki.critical and aki.value.key_identifier == ski
    assert aki.value.authority_cert_issuer is None and aki.value.authority_cert_serial_number is None
    num = crl.extensions.get_extension_for_class(x509.CRLNumber)
    assert not num.critical and 0 < num.value.crl_number < 2 ** 159
    oids = {e.oid.dotted_string for e in crl.extensions}
    if role == "root":
        # App. C VII: critical IDP with onlyContainsCACerts only (no distributionPoint: the root
        # itself, which has no CDP, stays in scope for -crl_check_all)
        idp = crl.extensions.get_extension_for_class(x509.IssuingDistributionPoint)
        assert idp.critical and idp.value.only_contains_ca_certs
        assert not idp.value.only_contains_user_certs and not idp.value.indirect_crl
        assert not idp.value.only_contains_attribute_certs
        assert idp.value.only_some_reasons is None and idp.value.full_name is None
        sub_cdp = c.ca_cert(stack, "ssl").extensions.get_extension_for_oid(
            ExtensionOID.CRL_DISTRIBUTION_POINTS).value[0].full_name
        assert [n.value for n in sub_cdp] == [c.CRL_BASE + c.FILES["root"]]
        assert oids == {"2.5.29.35", "2.5.29.20", "2.5.29.28"}
    else:
        # a full and complete CRL: no IDP (BR 7.2.2.1: not recommended)
        assert oids == {"2.5.29.35", "2.5.29.20"}
    # GnuTLS reads it the same way
    info = c.certtool_info(der)
    assert info.returncode == 0, info.stderr
    assert "Version: 2" in info.stdout and "RSA-SHA256" in info.stdout
    assert "Hongkong Post" in info.stdout


def test_make_run_urls_answer_on_a_fresh_node(stack):
    """The three App. C URLs exist from the key ceremony on (ecertctl init issues them)."""
    for role, name in c.FILES.items():
        r = c.fetch(stack, name)
        assert r.status_code == 200 and r.headers["Content-Type"] == "application/pkix-crl", name
    assert c.fetch(stack, "nothing-here.crl").status_code == 404
    assert c.fetch(stack, "..%2fdb.pass").status_code == 404
    assert c.fetch(stack, ".hidden.crl").status_code == 404


# ---------------------------------------------------------------- revocation

REASONS = [("unspecified", None), ("keyCompromise", x509.ReasonFlags.key_compromise),
           ("affiliationChanged", x509.ReasonFlags.affiliation_changed),
           ("superseded", x509.ReasonFlags.superseded),
           ("cessationOfOperation", x509.ReasonFlags.cessation_of_operation),
           ("privilegeWithdrawn", x509.ReasonFlags.privilege_withdrawn)]


def test_revocations_reach_the_crl_with_app_c_reasons(stack):
    good = issued_cert(stack, unique("crlgood"))
    certs = [issued_cert(stack, unique("crlrev%d-" % i)) for i in range(len(REASONS))]
    before, _ = c.crl(stack, "ssl")
    for (name, _), (_, issuer_id, serial_hex, _) in zip(REASONS, certs):
        stack.ctl("revoke", serial_hex, "--reason", name)
    t0 = time.monotonic()
    last = certs[-1][0].serial_number
    got = c.wait_for_entry(stack, "ssl", last, timeout=20)
    assert got, "the revocations did not reach the CRL within 20 s"
    waited = time.monotonic() - t0
    assert waited < 12, "ECertCRLRevocationDelay is 5 s here; the CRL came after %.1f s" % waited
    crl, der, _ = got
    assert c.crl_number(crl) > c.crl_number(before)
    assert crl.last_update >= before.last_update
    for (name, flag), (cert, _, serial_hex, pem) in zip(REASONS, certs):
        e = crl.get_revoked_certificate_by_serial_number(cert.serial_number)
        assert e is not None, name
        row = stack.sql("SELECT revoked_at FROM certificate WHERE serial_hex = %s", (serial_hex,))[0][0]
        assert e.revocation_date == row
        if flag is None:
            # App. C note 1, BR 7.2.2: unspecified is the absence of a reasonCode
            assert len(e.extensions) == 0, name
        else:
            reason = e.extensions.get_extension_for_class(x509.CRLReason)
            assert not reason.critical and reason.value.reason == flag, name
            assert len(e.extensions) == 1
        # openssl: the leaf now fails with the CRL
        r = c.openssl_verify_leaf(stack, pem, "ssl", [der, c.crl(stack, "root")[1]])
        assert r.returncode != 0 and "certificate revoked" in r.stdout + r.stderr, name
    assert crl.get_revoked_certificate_by_serial_number(good[0].serial_number) is None
    r = c.openssl_verify_leaf(stack, good[3], "ssl", [der, c.crl(stack, "root")[1]])
    assert r.returncode == 0 and ": OK" in r.stdout, r.stdout + r.stderr
    # the entry's serial is the certificate's INTEGER byte for byte
    assert crl.is_signature_valid(c.ca_cert(stack, "ssl").public_key())
    # every CRL issued is an audit event with its number
    n = c.crl_number(crl)
    rows = stack.sql("SELECT detail FROM audit_event WHERE event = 'crl.issue' AND detail LIKE %s",
                     ("%%eCertSCA3-17CRL1.crl number %d entries%%" % n,))
    assert len(rows) == 1 and "cause revocation" in rows[0][0]
    # nothing pending stays behind
    assert stack.sql("SELECT COUNT(*) FROM crl_pending WHERE serial_hex IN (%s)" %
                     ",".join(["%s"] * len(certs)), tuple(x[2] for x in certs))[0][0] == 0


def test_key_compromise_backdates_and_replaces_an_earlier_reason(stack):
    cert, _, serial_hex, _ = issued_cert(stack, unique("crlkc"))
    stack.ctl("revoke", serial_hex, "--reason", "superseded")
    first = stack.sql("SELECT revoked_at FROM certificate WHERE serial_hex = %s", (serial_hex,))[0][0]
    got = c.wait_for_entry(stack, "ssl", cert.serial_number)
    assert got
    e = got[2]
    assert e.extensions.get_extension_for_class(x509.CRLReason).value.reason == x509.ReasonFlags.superseded
    # refused: a date in the future, or with another reason
    r = stack.ctl("revoke", serial_hex, "--reason", "keyCompromise", "--compromised-at", "2099-01-01",
                  check=False)
    assert r.returncode != 0 and "in the future" in r.stderr
    r = stack.ctl("revoke", serial_hex, "--reason", "superseded", "--compromised-at", "2026-01-01",
                  check=False)
    assert r.returncode != 0 and "keyCompromise only" in r.stderr
    # evidence says the key leaked before the first revocation: the date moves back (BR 7.2.2 note)
    when = (first - datetime.timedelta(hours=30)).replace(microsecond=0)
    stack.ctl("revoke", serial_hex, "--reason", "keyCompromise", "--compromised-at",
              when.strftime("%Y-%m-%d %H:%M:%S"))

    def changed():
        crl, _ = c.crl(stack, "ssl")
        x = crl.get_revoked_certificate_by_serial_number(cert.serial_number)
        return x if x is not None and x.extensions and x.extensions.get_extension_for_class(
            x509.CRLReason).value.reason == x509.ReasonFlags.key_compromise else None
    e = c.wait_for(changed, 15)
    assert e is not None
    assert e.revocation_date == when
    # keyCompromise again without an earlier date changes nothing
    r = stack.ctl("revoke", serial_hex, "--reason", "keyCompromise", check=False)
    assert r.returncode != 0 and "already revoked" in r.stderr


def test_arl_lists_a_revoked_sub_ca_at_once(stack):
    ca = u.issuers(stack)
    ev = ca["ev"]
    leaf = issued_cert(stack, unique("crlev"), "ev")
    before, _ = c.crl(stack, "root")
    stack.expect_log(r"ECI0002: the ev issuer's certificate is revoked")
    try:
        r = stack.ctl("revoke", "--ca", "ev", "--reason", "keyCompromise")
        assert re.search(r"^CRL issued: root RootCA3ARL\.crl +number \d+, 1 entries", r.stdout, re.M), r.stdout
        # every node mirrors it within its one-second poll
        got = c.wait_for_entry(stack, "root", ev.cert.serial_number, timeout=5)
        assert got, "the ARL did not list the Sub CA"
        arl, arl_der, e = got
        assert c.crl_number(arl) == c.crl_number(before) + 1
        # App. C note 2 / BR 7.2.2: an ARL entry always has a reasonCode
        assert e.extensions.get_extension_for_class(x509.CRLReason).value.reason == \
            x509.ReasonFlags.key_compromise
        # openssl -crl_check_all: the EV leaf fails because its CA is revoked
        ev_crl = c.crl(stack, "ev")[1]
        res = c.openssl_verify_leaf(stack, leaf[3], "ev", [ev_crl, arl_der], check_all=True)
        assert res.returncode != 0 and "certificate revoked" in res.stdout + res.stderr
        # an SSL leaf still verifies with the whole chain checked
        ssl_leaf = issued_cert(stack, unique("crlssl"))
        res = c.openssl_verify_leaf(stack, ssl_leaf[3], "ssl", [c.crl(stack, "ssl")[1], arl_der],
                                    check_all=True)
        assert res.returncode == 0, res.stdout + res.stderr
    finally:
        stack.sql("UPDATE ca SET status = 'active', revoked_at = NULL, revocation_reason = NULL, "
                  "status_changed = NOW(6) WHERE id = %s", (ev.id,))
        stack.ctl("crl", "issue", "--ca", "root")
    got = c.wait_for_number_above(stack, "root", c.crl_number(arl), 5)
    assert got and got[0].get_revoked_certificate_by_serial_number(ev.cert.serial_number) is None


def test_refused_sub_ca_reason_changes_nothing(stack):
    before = c.crl_number(c.crl(stack, "root")[0])
    r = stack.ctl("revoke", "--ca", "ssl", "--reason", "privilegeWithdrawn", check=False)
    assert r.returncode != 0 and "App. C note 2" in r.stderr
    assert stack.sql("SELECT status FROM ca WHERE role = 'ssl'")[0][0] == "active"
    assert c.crl_number(c.crl(stack, "root")[0]) == before


# ---------------------------------------------------------------- serving

def test_caching_headers_conditional_get_and_head(stack):
    for role, name in c.FILES.items():
        r = c.fetch(stack, name)
        crl = x509.load_der_x509_crl(r.content)
        h = r.headers
        assert h["Content-Length"] == str(len(r.content))
        lm = datetime.datetime.strptime(h["Last-Modified"], "%a, %d %b %Y %H:%M:%S GMT")
        assert lm == crl.last_update
        m = re.fullmatch(r"public, max-age=(\d+)", h["Cache-Control"])
        assert m and 0 < int(m.group(1)) <= 300
        assert int(m.group(1)) <= (crl.next_update - utcnow()).total_seconds() + 1
        assert "Expires" in h and h["ETag"].startswith('"')
        # 304 for either validator; a stale one gets the body
        r2 = c.fetch(stack, name, headers={"If-None-Match": h["ETag"]})
        assert r2.status_code == 304 and not r2.content
        r3 = c.fetch(stack, name, headers={"If-Modified-Since": h["Last-Modified"]})
        assert r3.status_code == 304
        r4 = c.fetch(stack, name, headers={"If-None-Match": '"0-0"'})
        assert r4.status_code == 200 and r4.content == r.content
        hd = requests.head(stack.url("/crl/" + name), timeout=10)
        assert hd.status_code == 200 and hd.headers["Content-Length"] == str(len(r.content))
        assert hd.headers["ETag"] == h["ETag"] and not hd.content
    r = requests.post(stack.url("/crl/" + c.FILES["ssl"]), data=b"x", timeout=10)
    assert r.status_code == 405


def test_ecertctl_list_and_show_read_the_archive(stack, tmp_path):
    served_crl, served = c.crl(stack, "ssl")
    n = c.crl_number(served_crl)
    r = stack.ctl("crl", "list", "--ca", "ssl", "--limit", "5")
    assert re.search(r"^ssl +%d +eCertSCA3-17CRL1\.crl " % n, r.stdout, re.M), r.stdout
    out = tmp_path / "n.crl"
    r = stack.ctl("crl", "show", str(n), "--ca", "ssl", "--out", str(out))
    assert "sha256 %s" % c.sha256(served) in r.stdout
    assert out.read_bytes() == served
    # numbers are per CA: without --ca an ambiguous one is refused
    r = stack.ctl("crl", "show", "1", check=False)
    assert r.returncode != 0 and "say which with --ca" in r.stderr
    r = stack.ctl("crl", "show", "abc", "--ca", "ssl", check=False)
    assert r.returncode != 0 and "not a CRL number" in r.stderr
    r = stack.ctl("crl", "issue", "--ca", "nobody", check=False)
    assert r.returncode != 0 and "--ca takes ssl, ev or root" in r.stderr
    # on demand: a new number, served by the node within its poll
    r = stack.ctl("crl", "issue", "--ca", "ssl")
    m = re.search(r"^CRL issued: ssl +eCertSCA3-17CRL1\.crl +number (\d+)", r.stdout, re.M)
    assert m and int(m.group(1)) > n
    assert c.wait_for_number_above(stack, "ssl", n, 5)


def test_crl_numbers_never_repeat_and_older_crls_stay(stack):
    rows = stack.sql("SELECT issuer_id, crl_number, this_update, file FROM crl ORDER BY issuer_id, crl_number")
    by = {}
    for issuer, number, this_update, name in rows:
        by.setdefault((issuer, name), []).append((number, this_update))
    for key, seq in by.items():
        numbers = [s[0] for s in seq]
        assert numbers == sorted(set(numbers)), key
        assert [s[1] for s in seq] == sorted(s[1] for s in seq), key
        assert len(seq) >= 1
    # every stored CRL has all its chunks and its recorded digest
    bad = stack.sql("SELECT c.issuer_id, c.crl_number FROM crl c LEFT JOIN (SELECT issuer_id, crl_number, "
                    "COUNT(*) n, SUM(LENGTH(data)) sz, SHA2(GROUP_CONCAT(HEX(data) ORDER BY seq SEPARATOR ''), 256) h "
                    "FROM crl_chunk GROUP BY issuer_id, crl_number) k ON k.issuer_id = c.issuer_id "
                    "AND k.crl_number = c.crl_number WHERE k.n IS NULL OR k.n <> c.chunks OR k.sz <> c.size")
    assert bad == ()


# ---------------------------------------------------------------- faults

def test_fault_in_the_commit_writes_nothing_and_leaves_no_gap(stack):
    ssl_id = stack.sql("SELECT id FROM ca WHERE role = 'ssl'")[0][0]
    # the node's own work (revocations of earlier tests) done first, so only ecertctl writes here
    assert c.wait_for(lambda: stack.sql("SELECT COUNT(*) FROM crl_pending WHERE issuer_id = %s",
                                        (ssl_id,))[0][0] == 0, 20)
    last = stack.sql("SELECT last_number FROM crl_state WHERE issuer_id = %s", (ssl_id,))[0][0]
    rows = stack.sql("SELECT COUNT(*) FROM crl")[0][0]
    chunks = stack.sql("SELECT COUNT(*) FROM crl_chunk")[0][0]
    audits = stack.sql("SELECT COUNT(*) FROM audit_event WHERE event = 'crl.issue'")[0][0]
    stack.sql_owner("CREATE TRIGGER crl_fault BEFORE INSERT ON crl_chunk FOR EACH ROW "
              "SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'injected fault'")
    stack.expect_log(r"ECS0005: crl_chunk_insert: injected fault")
    stack.expect_log(r"ECE0103: the CRLs of .* are due but could not be issued")
    try:
        r = stack.ctl("crl", "issue", "--ca", "ssl", check=False)
        assert r.returncode != 0 and "nothing was published" in r.stderr, r.stderr
        assert "injected fault" in r.stderr
    finally:
        stack.sql_owner("DROP TRIGGER IF EXISTS crl_fault")
    assert stack.sql("SELECT last_number, lease_owner FROM crl_state WHERE issuer_id = %s",
                     (ssl_id,))[0] == (last, None)
    assert stack.sql("SELECT COUNT(*) FROM crl")[0][0] == rows
    assert stack.sql("SELECT COUNT(*) FROM crl_chunk")[0][0] == chunks
    assert stack.sql("SELECT COUNT(*) FROM audit_event WHERE event = 'crl.issue'")[0][0] == audits
    r = stack.ctl("crl", "issue", "--ca", "ssl")
    m = re.search(r"number (\d+)", r.stdout)
    assert int(m.group(1)) == last + 1
