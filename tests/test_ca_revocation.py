"""Revoking a Sub CA with ecertctl (CPS 4.9, App. D note 2; BR 7.2.2): the root's responder
says revoked with the reason, the Sub CA issues nothing more, and refused reasons change
nothing. The CA is restored afterwards by SQL, as no command may un-revoke it."""

import os
import re
import subprocess

from cryptography import x509

import ocsp_util as u
from ecert_util import Subscriber, new_application, make_csr, rsa_key, certificate_of


def restore(stack, ca_id):
    stack.sql("UPDATE ca SET status = 'active', revoked_at = NULL, revocation_reason = NULL, "
              "status_changed = NOW(6) WHERE id = %s", (ca_id,))
    stack.ctl("crl", "issue", "--ca", "root")   # the ARL forgets it too


def test_revoke_sub_ca(stack):
    ca = u.issuers(stack)
    ev = ca["ev"]
    serial = "%x" % ev.cert.serial_number
    assert u.cert_status(stack, ca["root"], serial) == "GOOD"
    audits = stack.sql("SELECT COUNT(*) FROM audit_event WHERE event = 'ca.revoke'")[0][0]

    # refused: an unknown role, a reason no CA certificate carries, a serial as well
    for args, message in ((["--ca", "root", "--reason", "keyCompromise"], "--ca takes ssl or ev"),
                          (["--ca", "ev", "--reason", "certificateHold"], "not one a Sub CA"),
                          (["--ca", "ev", "--reason", "removeFromCRL"], "not one a Sub CA")):
        r = stack.ctl("revoke", *args, check=False)
        assert r.returncode != 0 and message in r.stderr, r.stderr
    r = stack.ctl("revoke", "--ca", "ev", "--reason", "keyCompromise", serial, check=False)
    assert r.returncode == 2 and "usage:" in r.stderr
    assert stack.sql("SELECT status FROM ca WHERE id = %s", (ev.id,))[0][0] == "active"

    stack.expect_log(r"ECI0002: the ev issuer's certificate is revoked")
    try:
        r = stack.ctl("revoke", "--ca", "ev", "--reason", "cACompromise", "--note", "test")
        m = re.search(r"^revoked: ev Sub CA serial ([0-9a-f]+) reason cACompromise at ", r.stdout, re.M)
        assert m and int(m.group(1), 16) == ev.cert.serial_number, r.stdout
        assert "OCSP responses re-signed" in r.stdout
        # responders drop what they cached within the second (CPS 4.9.5)
        status, _ = u.wait_for(lambda: u.cert_status(stack, ca["root"], serial), "REVOKED", 1.5)
        assert status == "REVOKED"
        resp = u.verify(u.single(stack, ca["root"], serial).ocsp(), ca["root"])
        assert resp.certificate_status.name == "REVOKED"
        assert resp.revocation_reason == x509.ReasonFlags.ca_compromise
        # openssl agrees, verifying against the root
        r = subprocess.run(["openssl", "ocsp", "-url", stack.url("/ocsp"), "-issuer", ca["root"].pem,
                            "-serial", "%#x" % ev.cert.serial_number, "-CAfile", ca["root"].pem,
                            "-no_nonce"], capture_output=True, text=True, timeout=60)
        assert "Response verify OK" in r.stderr and re.search(r": revoked$", r.stdout, re.M), r.stdout
        assert "Reason: cACompromise" in r.stdout, r.stdout
        assert stack.sql("SELECT COUNT(*) FROM audit_event WHERE event = 'ca.revoke'")[0][0] == audits + 1

        # twice: refused, except a change to keyCompromise
        r = stack.ctl("revoke", "--ca", "ev", "--reason", "superseded", check=False)
        assert r.returncode != 0 and "already revoked" in r.stderr

        # the revoked Sub CA signs no more certificates
        env = new_application(stack, "evrev%d.example.org" % (os.getpid() % 1000), "ev")
        sub = Subscriber(stack)
        sub.login(env)
        sub.confirm()
        r = sub.submit_csr(make_csr(rsa_key(), env["server_name"]))
        assert r.url.endswith("/csr") and 'class="error"' in r.text, r.url     # the CSR page says why
        assert certificate_of(stack, env) is None
        assert stack.sql("SELECT status FROM application WHERE id = %s", (env["id"],))[0][0] == "confirmed"
    finally:
        restore(stack, ev.id)
    status, _ = u.wait_for(lambda: u.cert_status(stack, ca["root"], serial), "GOOD", 2)
    assert status == "GOOD"
