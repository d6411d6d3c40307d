"""Every signature of the CA key accounted for (CPS 5.4, issue "custody and audit"): the
to-be-signed certificate is committed in signing_record before C_Sign, and a crash between the
signature and the certificate's commit leaves that record 'signing', for `ecertctl audit
unfinished` to list and revoke.

The watchdog of mod_ecert names each unfinished record once in the error log (ECI0020).

What the token signed is known independently of the store: the test build writes every
certificate the HSM returned to $ECERT_TEST_SIGNING/SERIAL.der and then waits the seconds in
$ECERT_TEST_SIGNING/pause before its commit, so MariaDB can be killed inside that window on
purpose. The revocation is checked with openssl: `openssl crl` on the next CRL and `openssl ocsp`
against the responder."""

import concurrent.futures
import hashlib
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

import crl_util as c
import ecert_util as e
import ocsp_util as o

SERIAL_RE = re.compile(r"^([0-9a-f]{40})\s+(\d+)\s+(\d+|-)\s", re.M)


class Signed:
    """The test build's record of what the HSM signed."""

    def __init__(self, path):
        self.path = path

    def serials(self):
        return {n[:-4] for n in os.listdir(self.path) if n.endswith(".der")}

    def der(self, serial):
        with open(os.path.join(self.path, serial + ".der"), "rb") as f:
            return f.read()

    def pause(self, seconds):
        with open(os.path.join(self.path, "pause"), "w") as f:
            f.write("%d\n" % seconds)
        os.chmod(os.path.join(self.path, "pause"), 0o644)

    def no_pause(self):
        try:
            os.unlink(os.path.join(self.path, "pause"))
        except FileNotFoundError:
            pass


@pytest.fixture
def signed(stack):
    d = os.environ["ECERT_TEST_SIGNING"]
    os.makedirs(d, exist_ok=True)
    # httpd's children (www-data) write there
    os.chmod(d, 0o777)
    yield Signed(d)
    shutil.rmtree(d, ignore_errors=True)


def expect_database_outage(stack):
    for pat in (r"\[dbd:(error|crit)\]", r"ECS000[2-8]: ", r"ECO0050", r"\[ocsp:(error|crit)\].*DBD",
                r"ECQ000[12]: ", r"ECE0104", r"ECE01\d\d: .*database", r"ECI0010: ", r"ECI0011: ",
                r"ECE\d{4}: .*(database|could not be issued|stored)", r"\[(ecert|ocsp):error\]"):
        stack.expect_log(pat)


def unfinished(stack, *args):
    """{serial: (issuer_id, application_id)} that `ecertctl audit unfinished` lists."""
    out = stack.ctl("audit", "unfinished", *args).stdout
    return {m.group(1): (m.group(2), m.group(3)) for m in SERIAL_RE.finditer(out)}, out


def kill_mariadb(stack):
    pid = stack.mariadb_pid()
    assert pid
    os.kill(pid, signal.SIGKILL)
    for _ in range(200):
        if stack.mariadb_pid() is None:
            return
        time.sleep(0.05)
    raise AssertionError("mariadbd %d survived SIGKILL" % pid)


def cert_serials(stack, serials):
    if not serials:
        return {}
    rows = stack.sql("SELECT serial_hex, status, application_id FROM certificate WHERE serial_hex IN (%s)"
                     % ",".join(["%s"] * len(serials)), tuple(serials))
    return {r[0]: (r[1], r[2]) for r in rows}


def try_issue(stack, env, key):
    """login -> (confirm) -> CSR; the serial (hex) of the certificate the subscriber was shown,
    or None."""
    sub = e.Subscriber(stack)
    try:
        r = sub.login(env)
        if "/confirm" in r.url:
            r = sub.confirm()
        if not r.url.endswith("/csr"):
            return None
        r = sub.submit_csr(e.make_csr(key, env["server_name"]))
        if r.status_code != 200 or not r.url.endswith("/certificate"):
            return None
    except OSError:
        return None
    # the certificate page shows it to the subscriber: from here on it is handed out; its
    # serial is read off the page, for the database may be killed right now
    m = re.search(r'id="c-serial"[^>]*>([0-9A-Fa-f: ]+)<', r.text)
    return re.sub(r"[^0-9a-f]", "", m.group(1).lower()) if m else None


def openssl_crl_serials(der):
    with tempfile.NamedTemporaryFile(suffix=".crl") as f:
        f.write(der)
        f.flush()
        out = subprocess.run(["openssl", "crl", "-inform", "DER", "-in", f.name, "-noout", "-text"],
                             capture_output=True, text=True, check=True, timeout=60).stdout
    return {m.lower() for m in re.findall(r"Serial Number: ([0-9A-Fa-f]+)", out)}


def openssl_ocsp_status(stack, ca, serial):
    r = subprocess.run(["openssl", "ocsp", "-url", stack.url("/ocsp"), "-issuer", ca["ssl"].pem,
                        "-serial", "0x" + serial, "-CAfile", ca["root"].pem, "-no_nonce"],
                       capture_output=True, text=True, timeout=60)
    m = re.search(r"^0x%s: (\w+)$" % serial, r.stdout, re.M | re.I)
    return (m.group(1) if m else None), r.stdout + r.stderr


@pytest.fixture(scope="module")
def ca(stack):
    return o.issuers(stack)


def test_normal_issuance_finishes_its_record(stack, signed):
    env = e.new_application(stack, "signing-normal.example.com")
    sub, _ = e.issue_via_web(stack, env)
    cert, issuer_id, serial, status = e.certificate_of(stack, env)
    rows = stack.sql("SELECT state, application_id, HEX(tbs_sha256), HEX(tbs_der), resolved_at IS NOT NULL "
                     "FROM signing_record WHERE issuer_id = %s AND serial_hex = %s", (issuer_id, serial))
    assert len(rows) == 1
    state, app, tbs_hash, tbs_hex, resolved = rows[0]
    assert (state, app, resolved) == ("finished", env["id"], 1)
    # the record holds exactly what the HSM signed
    assert bytes.fromhex(tbs_hex) == cert.tbs_certificate_bytes
    assert tbs_hash.lower() == hashlib.sha256(cert.tbs_certificate_bytes).hexdigest()
    assert signed.der(serial) == cert.public_bytes(Encoding.DER)
    listed, out = unfinished(stack)
    assert serial not in listed and not listed, out


def test_double_submission_revokes_the_second_signature(stack, signed):
    """The application's lock no longer spans C_Sign: a second submission meanwhile signs too,
    finds the application issued, and revokes its own certificate at once."""
    stack.expect_log(r"ECI0012: ")
    env = e.new_application(stack, "signing-twice.example.com")
    key = e.rsa_key()
    second = e.Subscriber(stack)
    r = second.login(env)
    assert "/confirm" in r.url
    before = signed.serials()
    signed.pause(3)
    result = {}
    t = threading.Thread(target=lambda: result.setdefault("serial", try_issue(stack, env, key)))
    t.start()
    try:
        assert c.wait_for(lambda: signed.serials() - before, 60), "the HSM signed nothing within 60 s"
        r = second.submit_csr(e.make_csr(e.rsa_key(), env["server_name"]))
        t.join(60)
    finally:
        signed.no_pause()
    # the second is shown the application's one certificate, the first's
    assert r.status_code == 200 and r.url.endswith("/certificate"), (r.status_code, r.url)
    assert result["serial"]
    first = result["serial"]
    sigs = signed.serials() - before
    assert len(sigs) == 2 and first in sigs
    (other,) = sigs - {first}
    recs = dict(stack.sql("SELECT serial_hex, state FROM signing_record WHERE application_id = %s", (env["id"],)))
    assert recs == {first: "finished", other: "revoked"}
    assert cert_serials(stack, [first, other]) == {first: ("issued", env["id"]), other: ("revoked", None)}
    assert other not in unfinished(stack)[0]


def crash_after_signing(stack, signed, env, key):
    """One issuance with MariaDB killed between C_Sign and the commit; the serial signed."""
    before = signed.serials()
    signed.pause(4)
    result = {}
    t = threading.Thread(target=lambda: result.setdefault("serial", try_issue(stack, env, key)))
    t.start()
    try:
        deadline = time.monotonic() + 60
        while not (signed.serials() - before) and time.monotonic() < deadline:
            time.sleep(0.02)
        new = signed.serials() - before
        assert len(new) == 1, "the HSM signed nothing within 60 s"
        serial = new.pop()
        # the HSM has signed; the issuance waits before its commit: the database goes now
        kill_mariadb(stack)
        t.join(120)
    finally:
        signed.no_pause()
        if stack.mariadb_pid() is None:
            stack.start_mariadb()
    assert not t.is_alive()
    assert result["serial"] is None, "a certificate was delivered although its commit could not happen"
    return serial


def test_crash_between_signature_and_commit_is_listed_and_revoked(stack, signed, ca):
    expect_database_outage(stack)
    env = e.new_application(stack, "signing-crash.example.com")
    key = e.rsa_key()
    serial = crash_after_signing(stack, signed, env, key)

    # the signature exists (openssl: a valid certificate of the SSL CA) and nothing stored it
    der = signed.der(serial)
    pem = x509.load_der_x509_certificate(der).public_bytes(Encoding.PEM).decode()
    r = e.verify_chain(stack, pem)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "%040x" % x509.load_der_x509_certificate(der).serial_number == serial
    assert cert_serials(stack, [serial]) == {}
    listed, out = unfinished(stack)
    assert listed.get(serial, (None, None))[1] == str(env["id"]), out
    tbs = stack.sql("SELECT HEX(tbs_der) FROM signing_record WHERE serial_hex = %s", (serial,))[0][0]
    assert bytes.fromhex(tbs) == x509.load_der_x509_certificate(der).tbs_certificate_bytes

    # the watchdog names it in the error log, once, when it is old enough (here: 1 s)
    stack.expect_log(r"ECI0020: signed and not stored: serial %s " % serial)
    with open(os.path.join(signed.path, "watch"), "w") as f:
        f.write("1\n")
    os.chmod(os.path.join(signed.path, "watch"), 0o644)
    warned = c.wait_for(lambda: [ln for ln in stack.error_log_lines() if "ECI0020" in ln and serial in ln], 40)
    assert warned and "application %s" % env["id"] in warned[0], warned
    time.sleep(12)
    assert len([ln for ln in stack.error_log_lines() if "ECI0020" in ln and serial in ln]) == 1
    os.unlink(os.path.join(signed.path, "watch"))

    # a record not yet old enough is left alone
    r = stack.ctl("audit", "unfinished", "--revoke-all-older-than", "60")
    assert "revoked:" not in r.stdout
    r = stack.ctl("audit", "unfinished", "--revoke", serial)
    assert re.search(r"^revoked: issuer \d+ serial %s " % serial, r.stdout, re.M), r.stdout
    assert serial not in unfinished(stack)[0]
    row = cert_serials(stack, [serial])[serial]
    assert row == ("revoked", None)
    assert stack.sql("SELECT revocation_reason FROM certificate WHERE serial_hex = %s", (serial,)) == ((None,),)
    audit = stack.sql("SELECT event FROM audit_event WHERE detail LIKE %s ORDER BY seq", ("%" + serial + "%",))
    assert [a[0] for a in audit][-2:] == ["certificate.revoke", "signing.revoke"]
    # resolved once only
    r = stack.ctl("audit", "unfinished", "--revoke", serial, check=False)
    assert r.returncode != 0 and "no unfinished signing record" in r.stderr

    # oracle 1: the next CRL lists it (openssl crl)
    stack.ctl("crl", "issue", "--ca", "ssl")
    got = c.wait_for_entry(stack, "ssl", int(serial, 16), timeout=30)
    assert got, "the served CRL does not list %s" % serial
    _, crl_der, entry = got
    assert serial.lstrip("0") in {s.lstrip("0") for s in openssl_crl_serials(crl_der)}
    # no reasonCode (BR 7.2.2: none of the listed reasons applies)
    assert not any(isinstance(x.value, x509.CRLReason) for x in entry.extensions)
    # oracle 2: the responder answers revoked (openssl ocsp), once re-signed from the queue
    status, _ = o.wait_for(lambda: openssl_ocsp_status(stack, ca, serial)[0], "revoked", 60, 0.5)
    assert status == "revoked", openssl_ocsp_status(stack, ca, serial)[1]

    # the subscriber, retrying, gets a certificate of another serial
    serial2 = try_issue(stack, env, key)
    assert serial2 and int(serial2, 16) != int(serial, 16)


def test_database_killed_during_concurrent_issuances(stack, signed):
    expect_database_outage(stack)
    # 40 subscribers at once come close to the test server's MaxRequestWorkers
    stack.expect_log(r"AH10159: ")
    n = 40
    envs = [e.new_application(stack, "signing-burst-%d.example.com" % i) for i in range(n)]
    keys = [e.rsa_key() for _ in range(n)]
    ids = tuple(env["id"] for env in envs)
    in_apps = ",".join(["%s"] * n)
    before = signed.serials()
    # each signature waits 2 s before its commit: a kill finds several inside that window
    signed.pause(2)
    with concurrent.futures.ThreadPoolExecutor(n) as ex:
        futs = [ex.submit(try_issue, stack, env, key) for env, key in zip(envs, keys)]
        try:
            deadline = time.monotonic() + 180
            while time.monotonic() < deadline:
                stored_now = stack.sql("SELECT COUNT(*) FROM certificate WHERE application_id IN (%s)"
                                       % in_apps, ids)[0][0]
                if stored_now >= 5 and len(signed.serials() - before) - stored_now >= 3:
                    break
                time.sleep(0.05)
            kill_mariadb(stack)
            delivered = [f.result(timeout=300) for f in futs]
        finally:
            signed.no_pause()
            if stack.mariadb_pid() is None:
                stack.start_mariadb()

    sigs = signed.serials() - before
    stored = cert_serials(stack, sigs)
    listed, out = unfinished(stack)
    # every signature is a certificate row or an unfinished record, never both, never neither
    assert sigs == set(stored) | (set(listed) & sigs), (sorted(sigs - set(stored) - set(listed)), out)
    assert not set(stored) & set(listed)
    # the database died under some: stored ones and unfinished ones both exist
    assert len(stored) >= 5 and len(set(listed) & sigs) >= 1, (len(stored), out)
    # every certificate handed out is in the table, and signed by the HSM as recorded
    for s in filter(None, delivered):
        assert s in stored and s in sigs
    # no record anywhere else is unfinished: the intents are the certificates plus the listed ones
    recs = stack.sql("SELECT serial_hex, state FROM signing_record WHERE application_id IN (%s)" % in_apps, ids)
    assert {r[0] for r in recs if r[1] == "finished"} == set(stored)
    assert {r[0] for r in recs if r[1] == "signing"} == set(listed) & {r[0] for r in recs}
    # a record committed without a signature (the kill came before C_Sign) may exist; it is listed too
    print("signatures %d, stored %d, unfinished %d, delivered %d"
          % (len(sigs), len(stored), len(set(listed) & sigs), len(list(filter(None, delivered)))))

    r = stack.ctl("audit", "unfinished", "--revoke-all-older-than", "0")
    assert len(re.findall(r"^revoked: ", r.stdout, re.M)) == len(listed), r.stdout
    assert unfinished(stack)[0] == {}
    rows = cert_serials(stack, list(listed))
    assert all(v == ("revoked", None) for v in rows.values()) and set(rows) == set(listed)


def test_recovered_certificate_is_recorded(stack, signed):
    expect_database_outage(stack)
    env = e.new_application(stack, "signing-recovered.example.com")
    serial = crash_after_signing(stack, signed, env, e.rsa_key())
    other = e.new_application(stack, "signing-other.example.com")
    e.issue_via_web(stack, other)
    wrong = "%040x" % e.certificate_of(stack, other)[0].serial_number
    path = os.path.join(signed.path, serial + ".der")
    # another certificate of the same CA is not this record's
    r = stack.ctl("audit", "unfinished", "--record", serial, "--cert", os.path.join(signed.path, wrong + ".der"),
                  check=False)
    assert r.returncode != 0 and "not the certificate of the record" in r.stderr, r.stderr
    r = stack.ctl("audit", "unfinished", "--record", serial, "--cert", path)
    assert re.search(r"^recorded: issuer \d+ serial %s, issued to application %s" % (serial, env["id"]),
                     r.stdout, re.M), r.stdout
    assert serial not in unfinished(stack)[0]
    cert, _, stored, status = e.certificate_of(stack, env)
    assert (stored, status) == (serial, "issued")
    assert cert.public_bytes(Encoding.DER) == signed.der(serial)
    assert stack.sql("SELECT status FROM application WHERE id = %s", (env["id"],)) == (("issued",),)
    # the names as issuance would have stored them (other's certificate shows which)
    names = {r[0] for r in stack.sql("SELECT name FROM certificate_name WHERE serial_hex = %s", (serial,))}
    other_names = {r[0] for r in stack.sql("SELECT name FROM certificate_name WHERE serial_hex = %s", (wrong,))}
    assert names == {n.replace("signing-other", "signing-recovered") for n in other_names}
    assert "signing-recovered.example.com" in names
    assert stack.sql("SELECT event FROM audit_event WHERE detail LIKE %s ORDER BY seq DESC LIMIT 1",
                     ("%serial " + serial + "%",)) == (("signing.record",),)
    # the subscriber now finds the certificate
    sub = e.Subscriber(stack)
    r = sub.login(env)
    assert r.url.endswith("/certificate"), r.url
