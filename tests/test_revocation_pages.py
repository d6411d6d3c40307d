"""The subscriber's revocation pages (R-9; CPS 3.4, 4.9.3; BR 7.2.2): the PIN envelope login
with the flow's lockout, the certificates of the application and its renewals, the reasons a
subscriber may pick, a confirmation, then in one transaction the revocation (openssl ocsp says
revoked, the CRL lists it), the key blocked for keyCompromise, the audit event and the notice
e-mail. CSRF, isolation between applications and sessions of the other purpose."""

import re
import subprocess
import time

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

import crl_util as c
import ocsp_util as u
from ecert_util import (Subscriber, certificate_of, issue_via_web, make_csr, new_application, page_error,
                        redirected_error, rsa_key)

REASONS = [("unspecified", None), ("keyCompromise", x509.ReasonFlags.key_compromise),
           ("affiliationChanged", x509.ReasonFlags.affiliation_changed),
           ("superseded", x509.ReasonFlags.superseded),
           ("cessationOfOperation", x509.ReasonFlags.cessation_of_operation)]
OPENSSL_REASON = {"keyCompromise": "keyCompromise", "affiliationChanged": "affiliationChanged",
                  "superseded": "superseded", "cessationOfOperation": "cessationOfOperation"}


def unique(prefix):
    return "%s%d.example.org" % (prefix, time.monotonic_ns() % 10**10)


def accepted_cert(stack, name, **kw):
    env = new_application(stack, name, **kw)
    sub, key = issue_via_web(stack, env)
    r = sub.accept()
    assert r.url.endswith("/download"), page_error(r)
    cert, issuer_id, serial_hex, _ = certificate_of(stack, env)
    return env, cert, issuer_id, serial_hex, key


def revoke_login(stack, env, pin=None, lang=None):
    sub = Subscriber(stack, lang=lang)
    sub.get("/revoke")
    r = sub.post("/revoke", {"server_name": env["server_name"], "reference": env["reference"],
                             "pin": env["pin"] if pin is None else pin})
    return sub, r


def openssl_status(stack, cert):
    issuer = u.issuers(stack)["ssl"]
    with open("/tmp/ecert-rp-%d.pem" % cert.serial_number, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    r = subprocess.run(["openssl", "ocsp", "-url", stack.url("/ocsp"), "-issuer", issuer.pem, "-cert", f.name,
                        "-CAfile", u.issuers(stack)["root"].pem, "-no_nonce"], capture_output=True, text=True,
                       timeout=60)
    assert "Response verify OK" in r.stderr, r.stderr
    return r.stdout


@pytest.mark.parametrize("reason,flag", REASONS)
def test_revoke_with_each_reason(stack, reason, flag):
    env, cert, issuer_id, serial_hex, key = accepted_cert(stack, unique("rev-" + reason.lower()[:8] + "-"))
    sub, r = revoke_login(stack, env)
    assert r.status_code == 200 and r.url.endswith("/revoke/select"), (r.status_code, r.url, page_error(r))
    spaced = " ".join(serial_hex[i:i + 2] for i in range(0, 40, 2))
    assert spaced in r.text and 'value="%s:%s"' % (issuer_id, serial_hex) in r.text
    # the five reasons, unspecified preselected; privilegeWithdrawn is not offered (BR 7.2.2)
    offered = re.findall(r'name="reason" value="([A-Za-z]+)"', r.text)
    assert offered == [x[0] for x in REASONS]
    assert re.search(r'value="unspecified" id="r-unspecified" checked', r.text)
    assert "privilegeWithdrawn" not in offered
    # the confirmation says it is permanent; nothing is revoked yet
    r = sub.get("/revoke/confirm", params={"cert": "%s:%s" % (issuer_id, serial_hex), "reason": reason})
    assert r.status_code == 200 and 'id="permanent"' in r.text and "permanent" in r.text
    assert certificate_of(stack, env)[3] == "accepted"
    audits = stack.sql("SELECT COUNT(*) FROM audit_event WHERE event = 'certificate.revoke'")[0][0]
    r = sub.post("/revoke/confirm", {"cert": "%s:%s" % (issuer_id, serial_hex), "reason": reason})
    assert r.status_code == 200 and "/revoke/done" in r.url and 'id="revoked"' in r.text, page_error(r)
    row = stack.sql("SELECT status, revocation_reason FROM certificate WHERE serial_hex = %s", (serial_hex,))[0]
    assert row[0] == "revoked"
    assert row[1] == (None if flag is None else {"keyCompromise": 1, "affiliationChanged": 3, "superseded": 4,
                                                  "cessationOfOperation": 5}[reason])
    assert stack.sql("SELECT COUNT(*) FROM audit_event WHERE event = 'certificate.revoke'")[0][0] == audits + 1
    # OCSP: revoked at once, on the relying party's own tool
    deadline = time.monotonic() + 2
    out = ""
    while time.monotonic() < deadline:
        out = openssl_status(stack, cert)
        if ": revoked" in out:
            break
        time.sleep(0.1)
    assert ": revoked" in out, out
    if flag is None:
        assert "Reason:" not in out
    else:
        assert "Reason: %s" % OPENSSL_REASON[reason] in out
    # the CRL within ECertCRLRevocationDelay (5 s here), same reason mapping
    got = c.wait_for_entry(stack, "ssl", cert.serial_number, timeout=15)
    assert got
    entry = got[2]
    if flag is None:
        assert len(entry.extensions) == 0
    else:
        assert entry.extensions.get_extension_for_class(x509.CRLReason).value.reason == flag
    # keyCompromise blocks the key (BR 6.1.1.3)
    blocked = stack.sql("SELECT COUNT(*) FROM blocked_key b JOIN certificate c ON c.spki_sha256 = b.spki_sha256 "
                        "WHERE c.serial_hex = %s", (serial_hex,))[0][0]
    assert blocked == (1 if reason == "keyCompromise" else 0)
    # the notice to the authorised representative (CPS 4.9.3)
    got = stack.smtp.wait_for(lambda m: "Revocation of e-Cert" in str(m["Subject"]) and spaced in m.get_content())
    assert got, "no revocation notice"
    to, _, msg = got
    assert to == ["admin@example.com"] and env["server_name"] in str(msg["Subject"])
    assert (reason if reason != "unspecified" else "unspecified") in msg.get_content()
    # twice: refused, nothing changes
    r = sub.post("/revoke/confirm", {"cert": "%s:%s" % (issuer_id, serial_hex), "reason": "superseded"})
    assert "already" in redirected_error(r, "/revoke/select")


def test_privilege_withdrawn_and_bad_input_change_nothing(stack):
    env, cert, issuer_id, serial_hex, _ = accepted_cert(stack, unique("rev-bad-"))
    sub, r = revoke_login(stack, env)
    val = "%s:%s" % (issuer_id, serial_hex)
    for params, status in (({"cert": val, "reason": "privilegeWithdrawn"}, 400),
                           ({"cert": val, "reason": "cACompromise"}, 400),
                           ({"cert": val, "reason": "nonsense"}, 400),
                           ({"cert": "x:" + serial_hex, "reason": "superseded"}, 400),
                           ({"cert": "<script>", "reason": "superseded"}, 400)):
        r = sub.get("/revoke/confirm", params=params)
        assert r.status_code == status, (params, r.status_code)
        assert "<script>" not in r.text
    r = sub.post("/revoke/confirm", {"cert": val, "reason": "privilegeWithdrawn"})
    assert redirected_error(r, "/revoke/select")
    r = sub.post("/revoke/confirm", {"cert": val, "reason": "superseded"}, csrf=False)
    assert "nothing was revoked" in redirected_error(r, "/revoke/select")
    assert certificate_of(stack, env)[3] == "accepted"


def test_lockout_applies_to_the_revocation_login(stack):
    env, cert, *_ = accepted_cert(stack, unique("rev-lock-"))
    for _ in range(5):
        _, r = revoke_login(stack, env, pin="1111 2222 3333 4444")
        assert r.history[0].status_code == 303 and r.url.endswith("/revoke") and page_error(r)
    assert stack.sql("SELECT locked FROM application WHERE id = %s", (env["id"],))[0][0] == 1
    _, r = revoke_login(stack, env)
    assert r.url.endswith("/revoke") and "locked after too many" in page_error(r)
    r = Subscriber(stack).login(env)
    assert r.url.endswith("/login") and "locked after too many" in page_error(r)
    # the form needs its CSRF token
    sub = Subscriber(stack)
    sub.get("/revoke")
    r = sub.post("/revoke", {"server_name": env["server_name"], "reference": env["reference"],
                             "pin": env["pin"]}, csrf=False)
    assert r.status_code == 403


def test_sessions_and_applications_are_kept_apart(stack):
    env_a, cert_a, issuer_a, serial_a, _ = accepted_cert(stack, unique("rev-a-"))
    env_b, *_ = accepted_cert(stack, unique("rev-b-"))
    sub, r = revoke_login(stack, env_b)
    assert serial_a not in r.text
    r = sub.get("/revoke/confirm", params={"cert": "%s:%s" % (issuer_a, serial_a), "reason": "superseded"})
    assert r.status_code == 400
    r = sub.post("/revoke/confirm", {"cert": "%s:%s" % (issuer_a, serial_a), "reason": "superseded"})
    assert redirected_error(r, "/revoke/select")
    assert certificate_of(stack, env_a)[3] == "accepted"
    # a revocation session does not open the flow, and the reverse
    r = sub.get("/download")
    assert r.url.endswith("/login")
    flow = Subscriber(stack)
    flow.login(env_a)
    r = flow.get("/revoke/select")
    assert r.url.endswith("/revoke")
    # escaped: what the login form sends back
    s2 = Subscriber(stack)
    s2.get("/revoke")
    r = s2.post("/revoke", {"server_name": "<b>x</b>.example.org", "reference": "123", "pin": "1"})
    assert "<b>x</b>" not in r.text and "&lt;b&gt;x&lt;/b&gt;" in r.text


def test_a_renewal_sees_the_certificate_it_renews(stack):
    name = unique("rev-renew-")
    env, cert, issuer_id, serial_hex, _ = accepted_cert(stack, name)
    env2 = new_application(stack, name, renewal_of=env["reference"])
    sub2, _ = issue_via_web(stack, env2)
    cert2, _, serial2, _ = certificate_of(stack, env2)
    sub, r = revoke_login(stack, env2)
    assert serial_hex in r.text.replace(" ", "").replace(":", "") or \
        " ".join(serial_hex[i:i + 2] for i in range(0, 40, 2)) in r.text
    # the old one, superseded by the new
    r = sub.post("/revoke/confirm", {"cert": "%s:%s" % (issuer_id, serial_hex), "reason": "superseded"})
    assert "/revoke/done" in r.url, page_error(r)
    assert certificate_of(stack, env)[3] == "revoked"
    assert stack.sql("SELECT status FROM certificate WHERE serial_hex = %s", (serial2,))[0][0] == "issued"


def test_start_and_download_pages_link_the_services(stack):
    r = Subscriber(stack).get("/")                       # the start page
    for href in ("/ecert/revoke", "/ecert/keycompromise", "/ecert/report"):
        assert 'href="%s"' % href in r.text
    env, *_ = accepted_cert(stack, unique("rev-links-"))
    sub = Subscriber(stack)
    r = sub.login(env)
    assert r.url.endswith("/download") and 'id="revoke-link"' in r.text
