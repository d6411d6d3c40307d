"""Certificate Transparency (issue 12; CPS 4.3.1, RFC 6962): every certificate is first logged
as a precertificate signed by its issuing CA and issued with the SCTs of the logs, checked here
with tools that are not the CA's: Python `cryptography` reads the SCT list and the tests verify
each SCT signature with its log's key over the RFC 6962 precert entry; `openssl s_client -ct`
validates the SCTs of the certificate served by an httpd with mod_ssl; certspotter (a CT
monitor) finds the precertificates in the logs. The session's logs (tests/conftest.py): a1 and
a2 of Operator-A, b1 of Operator-B, c1 of Operator-C take today's certificates; x2025, a shard
that ended on 2026-01-01, must never be asked."""

import base64
import datetime
import hashlib
import os
import re
import socket
import struct
import subprocess
import tempfile
import time

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtensionOID

import ocsp_util as u
from crl_util import ca_cert, ca_pem, crl, wait_for_entry
from ecert_util import Subscriber, certificate_of, make_csr, new_application, page_error, redirected_error, rsa_key

POISON = x509.ObjectIdentifier("1.3.6.1.4.1.11129.2.4.3")
APACHE = "/usr/sbin/apache2"


def logs(stack):
    return {log.name.rsplit("-", 1)[1]: log for log in stack.ct_logs}


@pytest.fixture
def ct(stack):
    """The logs by short name (a1, a2, b1, c1, x2025), all back up after the test."""
    stack.expect_log(r"ECI0006: no certificate for application")     # too few SCTs, on purpose
    by = logs(stack)
    yield by
    for log in by.values():
        log.down = False
        log.bad_signature = False
        log.clock_ahead_ms = 0


_n = [0]


def issue(stack, name=None, key=None):
    _n[0] += 1
    name = name or "ct%d-%d.example.com" % (os.getpid() % 1000, _n[0])
    env = new_application(stack, name)
    sub = Subscriber(stack)
    sub.login(env)
    sub.confirm()
    key = key or rsa_key()
    r = sub.submit_csr(make_csr(key, name))
    return env, r, key


def add_pre_chain_requests(log):
    return sum(1 for m, p in log.requests if p.endswith("/ct/v1/add-pre-chain"))


def scts_of(cert):
    return list(cert.extensions.get_extension_for_class(x509.PrecertificateSignedCertificateTimestamps).value)


def verify_sct(sct, log, cert, issuer):
    """RFC 6962 3.2, written out here: the digitally-signed struct over the precert entry =
    SHA-256 of the issuer's SPKI + the certificate's TBS without its SCT list."""
    spki = issuer.public_key().public_bytes(serialization.Encoding.DER,
                                            serialization.PublicFormat.SubjectPublicKeyInfo)
    tbs = cert.tbs_precertificate_bytes
    ts = int(sct.timestamp.replace(tzinfo=datetime.timezone.utc).timestamp() * 1000 + 0.5)
    signed = (bytes([0, 0]) + struct.pack(">Q", ts) + struct.pack(">H", 1) + hashlib.sha256(spki).digest()
              + struct.pack(">I", len(tbs))[1:] + tbs + struct.pack(">H", len(sct.extension_bytes))
              + sct.extension_bytes)
    log.key.public_key().verify(sct.signature, signed, ec.ECDSA(hashes.SHA256()))
    assert sct.log_id == hashlib.sha256(log.public_key_der()).digest()


def test_certificate_carries_verified_scts_of_every_usable_log(stack, ct):
    before = {k: add_pre_chain_requests(v) for k, v in ct.items()}
    env, r, _ = issue(stack)
    assert r.url.endswith("/certificate"), page_error(r)
    cert, issuer_id, serial, _ = certificate_of(stack, env)
    issuer = ca_cert(stack, "ssl")
    by_id = {hashlib.sha256(l.public_key_der()).digest(): l for l in ct.values()}
    scts = scts_of(cert)
    assert sorted(by_id[s.log_id].name for s in scts) == sorted(ct[k].name for k in ("a1", "a2", "b1", "c1"))
    for s in scts:
        verify_sct(s, by_id[s.log_id], cert, issuer)
    # the shard of 2025 is never asked: its window does not hold this notAfter
    assert add_pre_chain_requests(ct["x2025"]) == before["x2025"] == 0
    # each log holds the precertificate: same serial, the poison, the issuer's signature
    for k in ("a1", "a2", "b1", "c1"):
        entry = [e for e in ct[k].entries() if e.entry_type == "precert_entry"][-1]
        pre = x509.load_der_x509_certificate(entry.der)
        assert pre.serial_number == cert.serial_number
        assert pre.extensions.get_extension_for_oid(POISON).critical
        issuer.public_key().verify(pre.signature, pre.tbs_certificate_bytes,
                                   __import__("cryptography.hazmat.primitives.asymmetric.padding",
                                              fromlist=["PKCS1v15"]).PKCS1v15(), hashes.SHA256())
    # stored with its precertificate and SCTs
    pre_der, final = stack.sql("SELECT HEX(precert_der), final FROM certificate_ct WHERE issuer_id = %s "
                               "AND serial_hex = %s", (issuer_id, serial))[0]
    assert final == 1 and bytes.fromhex(pre_der) == ct["a1"].entries()[-1].der
    assert stack.sql("SELECT COUNT(*) FROM certificate_sct WHERE issuer_id = %s AND serial_hex = %s",
                     (issuer_id, serial))[0][0] == 4
    out = stack.ctl("ct", "check", serial).stdout
    assert out.count("signature verifies") == 4 and "the CT policy is met" in out, out


def differing_extensions(a, b):
    ea = {e.oid.dotted_string: (e.critical, e.value.public_bytes() if hasattr(e.value, "public_bytes") else e.value)
          for e in a.extensions}
    eb = {e.oid.dotted_string: (e.critical, e.value.public_bytes() if hasattr(e.value, "public_bytes") else e.value)
          for e in b.extensions}
    return {o for o in set(ea) | set(eb) if ea.get(o) != eb.get(o)}


def test_final_certificate_equals_its_precertificate_but_poison_and_scts(stack, ct):
    env, r, _ = issue(stack)
    assert r.url.endswith("/certificate"), page_error(r)
    cert, issuer_id, serial, _ = certificate_of(stack, env)
    pre = x509.load_der_x509_certificate(bytes.fromhex(stack.sql(
        "SELECT HEX(precert_der) FROM certificate_ct WHERE issuer_id = %s AND serial_hex = %s", (issuer_id, serial))[0][0]))
    assert differing_extensions(pre, cert) == {"1.3.6.1.4.1.11129.2.4.3", "1.3.6.1.4.1.11129.2.4.2"}
    for attr in ("serial_number", "issuer", "subject", "not_valid_before", "not_valid_after", "signature_algorithm_oid"):
        assert getattr(pre, attr) == getattr(cert, attr), attr
    assert pre.public_key().public_numbers() == cert.public_key().public_numbers()
    assert [e.oid for e in pre.extensions][:-1] == [e.oid for e in cert.extensions][:-1]
    # byte for byte: the log's precert TBS without the poison is the certificate's without SCTs
    entry = [e for e in ct["b1"].entries() if e.der == pre.public_bytes(serialization.Encoding.DER)][0]
    assert cert.tbs_precertificate_bytes in entry.leaf_input


@pytest.mark.parametrize("fault,used", [
    ({"c1": "down"}, ("a1", "a2", "b1")),
    ({"a2": "bad_signature"}, ("a1", "b1", "c1")),
    ({"b1": "clock_ahead_ms"}, ("a1", "a2", "c1")),
])
def test_a_log_down_or_lying_is_not_counted_and_the_others_suffice(stack, ct, fault, used):
    stack.expect_log(r"ECT0001: CT log")
    for k, what in fault.items():
        setattr(ct[k], what, 3600 * 1000 if what == "clock_ahead_ms" else True)
    env, r, _ = issue(stack)
    assert r.url.endswith("/certificate"), page_error(r)
    cert = certificate_of(stack, env)[0]
    by_id = {hashlib.sha256(l.public_key_der()).digest(): l for l in ct.values()}
    assert sorted(by_id[s.log_id].name for s in scts_of(cert)) == sorted(ct[k].name for k in used)
    for s in scts_of(cert):
        verify_sct(s, by_id[s.log_id], cert, ca_cert(stack, "ssl"))
    log = open(stack.error_log_path()).read()
    k = list(fault)[0]
    assert re.search(r"ECT0001: CT log %s .*%s" % (re.escape(ct[k].name),
                                                  {"bad_signature": "does not verify", "down": "Empty reply from server",
                                                   "clock_ahead_ms": "in the future"}[fault[k]]), log)


@pytest.mark.parametrize("down,why", [
    (("a1", "a2", "b1"), "1 SCTs of the 3"),
    (("b1", "c1"), "2 SCTs of the 3 a certificate of this lifetime needs, all from one log operator"),
])
def test_too_few_scts_no_certificate_and_the_precertificate_revoked(stack, ct, down, why):
    stack.expect_log(r"ECT0001: CT log")
    for k in down:
        ct[k].down = True
    before = stack.sql("SELECT COUNT(*) FROM certificate WHERE application_id IS NOT NULL")[0][0]
    env, r, _ = issue(stack)
    assert "Certificate Transparency" in redirected_error(r, "/csr"), (r.status_code, page_error(r))
    assert stack.sql("SELECT COUNT(*) FROM certificate WHERE application_id IS NOT NULL")[0][0] == before
    assert stack.sql("SELECT status FROM application WHERE id = %s", (env["id"],))[0][0] in ("approved", "confirmed")
    issuer_id, serial, pre_der = stack.sql(
        "SELECT issuer_id, serial_hex, HEX(precert_der) FROM certificate_ct WHERE application_id = %s AND final = 0",
        (env["id"],))[0]
    status, app = stack.sql("SELECT status, application_id FROM certificate WHERE issuer_id = %s AND serial_hex = %s",
                            (issuer_id, serial))[0]
    assert (status, app) == ("revoked", None)
    assert why in open(stack.error_log_path()).read()
    # the precertificate is in a log that was up: root programs presume its certificate exists
    pre = x509.load_der_x509_certificate(bytes.fromhex(pre_der))
    assert any(e.der == bytes.fromhex(pre_der) for k in ct if k not in down for e in ct[k].entries())
    # so its serial is revoked: OCSP (openssl as the oracle) and the next CRL
    issuers = u.issuers(stack)
    status, _ = u.wait_for(lambda: u.cert_status(stack, issuers["ssl"], serial), "REVOKED", 15, 0.2)
    assert status == "REVOKED"
    entry = wait_for_entry(stack, "ssl", pre.serial_number, timeout=30)
    assert entry, "the precertificate's serial is not on the CRL"
    # and the subscriber can try again once the logs are back
    for k in down:
        ct[k].down = False
    sub = Subscriber(stack)
    sub.login(env)
    r = sub.submit_csr(make_csr(rsa_key(), env["server_name"]))
    assert r.url.endswith("/certificate"), page_error(r)


def httpd_with_mod_ssl(d, port, cert_pem, key_pem, chain_pem):
    conf = os.path.join(d, "httpd.conf")
    for name, data in (("cert.pem", cert_pem + chain_pem), ("key.pem", key_pem)):
        with open(os.path.join(d, name), "w") as f:
            f.write(data)
    with open(conf, "w") as f:
        f.write("""ServerRoot "%(d)s"
PidFile "%(d)s/httpd.pid"
ErrorLog "%(d)s/error.log"
DefaultRuntimeDir "%(d)s"
Mutex file:%(d)s
LoadModule mpm_event_module /usr/lib/apache2/modules/mod_mpm_event.so
LoadModule authz_core_module /usr/lib/apache2/modules/mod_authz_core.so
LoadModule socache_shmcb_module /usr/lib/apache2/modules/mod_socache_shmcb.so
LoadModule ssl_module /usr/lib/apache2/modules/mod_ssl.so
%(user)s
Listen 127.0.0.1:%(port)d
ServerName localhost
SSLEngine on
SSLCertificateFile "%(d)s/cert.pem"
SSLCertificateKeyFile "%(d)s/key.pem"
""" % {"d": d, "port": port, "user": "User www-data\nGroup www-data" if os.geteuid() == 0 else ""})
    subprocess.run([APACHE, "-f", conf, "-k", "start"], check=True, capture_output=True)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return conf
        except OSError:
            time.sleep(0.1)
    raise AssertionError(open(os.path.join(d, "error.log")).read())


def test_openssl_s_client_ct_validates_the_scts(stack, ct):
    from stack import free_port
    from ct_log import write_openssl_ctlog
    name = "ct-tls%d.example.com" % (os.getpid() % 1000)
    env, r, key = issue(stack, name)
    assert r.url.endswith("/certificate"), page_error(r)
    cert = certificate_of(stack, env)[0]
    with tempfile.TemporaryDirectory() as d:
        os.chmod(d, 0o755)
        port = free_port()
        conf = httpd_with_mod_ssl(
            d, port, cert.public_bytes(serialization.Encoding.PEM).decode(),
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()).decode(),
            open(ca_pem(stack, "ssl")).read())
        try:
            logfile = os.path.join(d, "ctlogs.cnf")
            write_openssl_ctlog(logfile, list(ct.values()))

            def s_client(logs_file):
                return subprocess.run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % port, "-servername", name,
                                       "-CAfile", ca_pem(stack, "root"), "-verify_return_error", "-ct",
                                       "-ctlogfile", logs_file], input="", capture_output=True, text=True, timeout=60)
            # s_client takes the session's start, in whole seconds, as "now": an SCT of this
            # very second would be "in the future"
            time.sleep(1.1)
            ok = s_client(logfile)
            assert ok.returncode == 0, ok.stdout + ok.stderr
            assert ok.stdout.count("SCT validation status: valid") == 4, ok.stdout
            # the oracle can say no: with none of the logs known, no SCT validates
            other = os.path.join(d, "otherlogs.cnf")
            with open(other, "w") as f:
                f.write("enabled_logs = nobody\n\n[nobody]\ndescription = nobody\nkey = %s\n" % base64.b64encode(
                    ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
                        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)).decode())
            bad = s_client(other)
            assert "SCT validation status: valid" not in bad.stdout, bad.stdout
            assert bad.stdout.count("SCT validation status: unknown log") == 4, bad.stdout
        finally:
            subprocess.run([APACHE, "-f", conf, "-k", "stop"], capture_output=True)


def test_certspotter_finds_the_precertificates_in_the_logs(stack, ct, tmp_path):
    """Debian's CT monitor, watching the logs for a name as its owner would, finds the
    precertificate the CA logged for it (and nothing is malformed in any log)."""
    import shutil
    from test_ct_log import run_certspotter
    if not shutil.which("certspotter"):
        pytest.skip("certspotter missing (scripts/deps.sh installs it)")
    name = "ctspot%d.example.com" % (os.getpid() % 1000)
    env, r, _ = issue(stack, name)
    assert r.url.endswith("/certificate"), page_error(r)
    cert, issuer_id, serial, _ = certificate_of(stack, env)
    pre = bytes.fromhex(stack.sql("SELECT HEX(precert_der) FROM certificate_ct WHERE issuer_id = %s AND "
                                  "serial_hex = %s", (issuer_id, serial))[0][0])
    usable = [ct[k] for k in ("a1", "a2", "b1", "c1")]
    report, errors, states = run_certspotter(tmp_path, usable, watch=name)
    assert hashlib.sha256(pre).hexdigest() + ":" in report, (report, errors)
    assert name in report
    for st, log in zip(states, usable):
        assert st and st["verified_sth"]["tree_size"] == len(log.entries()), (st, errors)
