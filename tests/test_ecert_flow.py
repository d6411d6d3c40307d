"""Subscriber web flow (User Guide C.2 - C.7, SPEC R-1, R-2, R-5 - R-8) over HTTP against
the real stack: every certificate type issued from an `openssl req` CSR, checked with
`openssl verify` and field by field with Python cryptography against CPS App. B."""

import datetime
import os
import re
import subprocess
import tempfile
import time
import urllib.parse

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import ExtensionOID, NameOID, AuthorityInformationAccessOID

from ecert_util import (Subscriber, new_application, make_csr, openssl_csr, rsa_key, page_error,
                        verify_chain, issue_via_web, certificate_of, redirected_error, notice)

CPS_URL = "http://www.eCert.gov.hk/product/cps/ecert"
CPS_OID = "1.3.6.1.4.1.16030.1.7.16"
ISSUER = {"ssl": "Hongkong Post e-Cert SSL CA 3 - 17", "ev": "Hongkong Post e-Cert EV SSL CA 3 - 17"}
CDP = {"ssl": "http://crl1.eCert.gov.hk/crl/eCertSCA3-17CRL1.crl",
       "ev": "http://crl1.eCert.gov.hk/crl/eCertESCA3-17CRL1.crl"}
AIA = {"ssl": "http://www1.ecert.gov.hk/root/ecert_ssl_ca_3-17.crt",
       "ev": "http://www1.ecert.gov.hk/root/ecert_ev_ssl_ca_3-17.crt"}

_counter = [0]


def unique(prefix):
    _counter[0] += 1
    return "%s%d-%d.example.com" % (prefix, os.getpid() % 1000, _counter[0])


def subca(stack, role):
    name = "ecert_ssl_ca_3-17.pem.crt" if role == "ssl" else "ecert_ev_ssl_ca_3-17.pem.crt"
    with open(os.path.join(stack.pubdir, "root", name), "rb") as f:
        return x509.load_pem_x509_certificate(f.read())


def check_app_b(stack, cert, env, names, role, org="Example Company Limited"):
    """Every App. B "Root CA 3" field of a subscriber certificate."""
    issuer = subca(stack, role)
    assert cert.version == x509.Version.v3
    assert cert.signature_algorithm_oid.dotted_string == "1.2.840.113549.1.1.11"
    assert cert.issuer == issuer.subject
    assert cert.issuer.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == ISSUER[role]
    # 20-octet positive serial
    assert 0 < cert.serial_number < 2 ** 159 and cert.serial_number >= 2 ** 152
    # subject: C, ST, L, O, CN (+ EV attributes); no OU
    subj = {a.oid.dotted_string: a.value for a in cert.subject}
    assert subj["2.5.4.6"] == "HK" and subj["2.5.4.8"] == "Hong Kong" and subj["2.5.4.7"] == "Hong Kong"
    assert subj["2.5.4.10"] == org
    assert subj["2.5.4.3"] == names[0]
    assert not cert.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)
    ev_oids = ("2.5.4.9", "2.5.4.5", "2.5.4.15", "1.3.6.1.4.1.311.60.2.1.3")
    if env["type"] == "ev":
        assert subj["2.5.4.9"] == "2 Connaught Place, Central"
        assert subj["2.5.4.5"] == "12345678"
        assert subj["2.5.4.15"] == "Private Organization"
        assert subj["1.3.6.1.4.1.311.60.2.1.3"] == "HK"
    else:
        assert not any(o in subj for o in ev_oids)
    assert len(cert.subject) == (9 if env["type"] == "ev" else 5)
    # key
    assert cert.public_key().key_size == 2048
    ext = {e.oid.dotted_string: e for e in cert.extensions}
    # the profile's nine, and last the SCT list of the CT logs (tests/test_ct.py checks it)
    assert set(ext) == {"1.3.6.1.5.5.7.1.1", "2.5.29.35", "2.5.29.14", "2.5.29.15", "2.5.29.32",
                        "2.5.29.17", "2.5.29.19", "2.5.29.37", "2.5.29.31", "1.3.6.1.4.1.11129.2.4.2"}
    assert cert.extensions[-1].oid.dotted_string == "1.3.6.1.4.1.11129.2.4.2"
    aia = ext["1.3.6.1.5.5.7.1.1"].value
    assert [(d.access_method, d.access_location.value) for d in aia] == [
        (AuthorityInformationAccessOID.OCSP, "http://ocsp1.eCert.gov.hk"),
        (AuthorityInformationAccessOID.CA_ISSUERS, AIA[role])]
    ski_issuer = issuer.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_KEY_IDENTIFIER).value.digest
    assert ext["2.5.29.35"].value.key_identifier == ski_issuer
    assert ext["2.5.29.35"].value.authority_cert_issuer is None
    assert ext["2.5.29.14"].value.digest == \
        x509.SubjectKeyIdentifier.from_public_key(cert.public_key()).digest
    ku = ext["2.5.29.15"]
    assert ku.critical and ku.value.digital_signature and ku.value.key_encipherment
    assert not (ku.value.content_commitment or ku.value.data_encipherment or ku.value.key_agreement
                or ku.value.key_cert_sign or ku.value.crl_sign)
    pols = ext["2.5.29.32"].value
    want = [CPS_OID, "2.23.140.1.2.2"] if role == "ssl" else \
        [CPS_OID, "2.23.140.1.1", "1.3.6.1.4.1.4146.1.1"]
    assert [p.policy_identifier.dotted_string for p in pols] == want
    for p in pols:
        assert p.policy_qualifiers == [CPS_URL]
    assert ext["2.5.29.17"].value.get_values_for_type(x509.DNSName) == names
    assert not ext["2.5.29.17"].critical
    bc = ext["2.5.29.19"]
    assert bc.value.ca is False and bc.critical
    assert [o.dotted_string for o in ext["2.5.29.37"].value] == ["1.3.6.1.5.5.7.3.1"]
    cdp = ext["2.5.29.31"].value
    assert [[n.value for n in dp.full_name] for dp in cdp] == [[CDP[role]]]
    for e in cert.extensions:
        if e.oid.dotted_string not in ("2.5.29.15", "2.5.29.19"):
            assert not e.critical
    # validity: 199 days by default, both ends counted (BR 6.3.2)
    span = cert.not_valid_after - cert.not_valid_before
    assert span.total_seconds() + 1 == 199 * 86400
    assert abs((cert.not_valid_before - datetime.datetime.utcnow()).total_seconds()) < 600


TYPES = [
    ("standard", "www", (), lambda n: [n]),
    ("wildcard", "*.wild", (), lambda n: [n, n[2:]]),
    ("multi-domain", "multi", ("a", "b"), None),
    ("ev", "ev", ("x",), None),
]


@pytest.mark.parametrize("cert_type,prefix,extra,san", TYPES, ids=[t[0] for t in TYPES])
def test_issue_every_type(stack, tmp_path, cert_type, prefix, extra, san):
    name = unique(prefix)
    extra_names = ["%s.%s" % (e, name.split(".", 1)[1]) for e in extra]
    env = new_application(stack, name, cert_type, extra=extra_names)
    _, pem = openssl_csr(str(tmp_path), name)
    sub = Subscriber(stack)
    r = sub.login(env)
    assert r.url.endswith("/confirm") and r.status_code == 200
    assert env["server_name"] in r.text
    r = sub.confirm()
    assert r.url.endswith("/csr"), page_error(r)
    r = sub.submit_csr(pem)
    assert r.status_code == 200 and r.url.endswith("/certificate"), page_error(r)
    cert, issuer_id, serial_hex, status = certificate_of(stack, env)
    assert status == "issued"
    role = "ev" if cert_type == "ev" else "ssl"
    names = san(name) if san else [name] + extra_names
    check_app_b(stack, cert, env, names, role)
    cert_pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    v = verify_chain(stack, cert_pem, role)
    assert v.returncode == 0 and ": OK" in v.stdout, v.stdout + v.stderr
    # the accept page shows what the Guide shows (C.6)
    spaced = " ".join(serial_hex[i:i + 2] for i in range(0, 40, 2))
    assert spaced in r.text
    assert env["subscriber_ref"] in r.text and ISSUER[role] in r.text
    nb, na = cert.not_valid_before + datetime.timedelta(hours=8), cert.not_valid_after + \
        datetime.timedelta(hours=8)
    assert "%s - %s (199 days)" % (nb.strftime("%d/%m/%Y"), na.strftime("%d/%m/%Y")) in r.text
    # one transaction: names, status, OCSP work, audit
    assert sorted(n for (n,) in stack.sql("SELECT name FROM certificate_name WHERE issuer_id = %s "
                                          "AND serial_hex = %s", (issuer_id, serial_hex))) == sorted(names)
    assert stack.sql("SELECT status FROM application WHERE id = %s", (env["id"],))[0][0] == "issued"
    assert ocsp_queued_or_signed(stack, issuer_id, serial_hex)
    assert stack.sql("SELECT COUNT(*) FROM audit_event WHERE event = 'certificate.issue' AND detail "
                     "LIKE %s", ("%serial " + serial_hex + "%",))[0][0] == 1
    # not in the public repository before acceptance (CPS 4.4.2)
    rs = requests.get(stack.url("/ecert/search"), params={"q": name}, timeout=30)
    assert serial_hex not in rs.text.replace(" ", "")
    r = sub.accept()
    assert r.url.endswith("/download") and r.status_code == 200
    assert certificate_of(stack, env)[3] == "accepted"
    # downloads: PEM, DER, chain, PKCS#7
    pem_dl = sub.s.get(sub.url("/download/cert.pem"), timeout=30)
    assert pem_dl.status_code == 200 and x509.load_pem_x509_certificate(pem_dl.content) == cert
    assert ".pem.crt" in pem_dl.headers["Content-Disposition"]
    der_dl = sub.s.get(sub.url("/download/cert.crt"), timeout=30)
    assert x509.load_der_x509_certificate(der_dl.content) == cert
    assert der_dl.headers["Content-Type"] == "application/pkix-cert"
    chain = sub.s.get(sub.url("/download/chain.pem"), timeout=30)
    assert chain.content.count(b"BEGIN CERTIFICATE") == 1
    assert x509.load_pem_x509_certificate(chain.content) == subca(stack, role)
    p7 = sub.s.get(sub.url("/download/cert.p7b"), timeout=30)
    certs = pkcs7.load_der_pkcs7_certificates(p7.content)
    assert cert in certs and subca(stack, role) in certs and len(certs) == 2
    out = subprocess.run(["openssl", "pkcs7", "-inform", "DER", "-print_certs", "-noout"], input=p7.content,
                         capture_output=True, timeout=30)
    assert out.returncode == 0 and ISSUER[role].encode() in out.stdout
    # links to the Sub CA and root files work
    sub_link = re.search(r'href="(/root/[^"]+)" id="subca-link"', r.text)
    assert sub_link and requests.get(stack.url(sub_link.group(1)), timeout=30).status_code == 200
    # the public search finds it now, by any SAN name and by serial
    for q in (names[-1], spaced, serial_hex.upper()):
        rs = requests.get(stack.url("/ecert/search"), params={"q": q}, timeout=30)
        assert rs.status_code == 200 and spaced in rs.text, q
    dl = requests.get(stack.url("/ecert/search/%s/%s.pem" % (issuer_id, serial_hex)), timeout=30)
    assert dl.status_code == 200 and x509.load_pem_x509_certificate(dl.content) == cert


def test_confirm_opt_with_chinese(stack):
    name = unique("zh")
    env = new_application(stack, name, org_zh="範例有限公司", branch_en="IT Branch", branch_zh="資訊科技部")
    sub = Subscriber(stack)
    r = sub.login(env)
    assert "Confirm Opt with Chinese" in r.text and "範例有限公司" in r.text
    r = sub.confirm(chinese=True)
    assert r.url.endswith("/csr")
    r = sub.submit_csr(make_csr(rsa_key(), name))
    assert r.url.endswith("/certificate"), page_error(r)
    cert = certificate_of(stack, env)[0]
    o = cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0]
    assert o.value == "範例有限公司"
    assert o._type.name == "UTF8String"
    # the accept page shows the organisation and branch in Chinese
    assert re.search(r'id="c-org">範例有限公司<', r.text) and re.search(r'id="c-branch">資訊科技部<', r.text)


def test_english_only_has_no_chinese_button(stack):
    env = new_application(stack, unique("en"))
    sub = Subscriber(stack)
    r = sub.login(env)
    assert "Confirm Opt with Chinese" not in r.text and 'value="confirm"' in r.text


def test_chinese_domain_name(stack):
    """A U-label server name: the CSR may carry the U-label or the A-label; the certificate
    holds A-labels (IDNA2008)."""
    ulabel = "郵政%d.example.hk" % (os.getpid() % 1000)
    env = new_application(stack, ulabel)
    alabel = stack.sql("SELECT server_name FROM application WHERE id = %s", (env["id"],))[0][0]
    assert alabel.startswith("xn--")
    sub = Subscriber(stack)
    r = sub.login(env)                      # the subscriber types the Chinese name
    assert r.url.endswith("/confirm"), page_error(r)
    assert ulabel in r.text
    sub.confirm()
    r = sub.submit_csr(make_csr(rsa_key(), ulabel))
    assert r.url.endswith("/certificate"), page_error(r)
    cert = certificate_of(stack, env)[0]
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == alabel
    assert cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value \
        .get_values_for_type(x509.DNSName) == [alabel]
    # the A-label form of the CN is accepted too
    env2 = new_application(stack, "中文%d.example.hk" % (os.getpid() % 1000))
    alabel2 = stack.sql("SELECT server_name FROM application WHERE id = %s", (env2["id"],))[0][0]
    sub2 = Subscriber(stack)
    sub2.login(env2)
    sub2.confirm()
    r = sub2.submit_csr(make_csr(rsa_key(), alabel2))
    assert r.url.endswith("/certificate"), page_error(r)


def test_csr_sans_are_ignored(stack):
    name = unique("san")
    env = new_application(stack, name)
    sub = Subscriber(stack)
    sub.login(env)
    sub.confirm()
    r = sub.submit_csr(make_csr(rsa_key(), name, sans=["evil.example.net", name]))
    assert r.url.endswith("/certificate"), page_error(r)
    cert = certificate_of(stack, env)[0]
    assert cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value \
        .get_values_for_type(x509.DNSName) == [name]


def test_reject_revokes(stack):
    name = unique("rej")
    env = new_application(stack, name)
    sub, key = issue_via_web(stack, env)
    cert, issuer_id, serial_hex, _ = certificate_of(stack, env)
    stack.sql("DELETE FROM ocsp_pending WHERE issuer_id = %s AND serial_hex = %s", (issuer_id, serial_hex))
    r = sub.reject("")                              # a reason is required
    assert "reason" in redirected_error(r, "/certificate")
    assert certificate_of(stack, env)[3] == "issued"
    r = sub.reject("the organisation name is wrong", "superseded")
    assert r.status_code == 200 and r.url.endswith("/closed")
    assert "revoked" in r.text
    row = stack.sql("SELECT status, revocation_reason, revoked_at FROM certificate WHERE issuer_id = %s "
                    "AND serial_hex = %s", (issuer_id, serial_hex))[0]
    assert row[0] == "revoked" and row[1] == 4 and row[2] is not None
    assert stack.sql("SELECT status FROM application WHERE id = %s", (env["id"],))[0][0] == "rejected"
    assert stack.sql("SELECT COUNT(*) FROM audit_event WHERE event = 'certificate.reject' AND detail "
                     "LIKE %s", ("%" + serial_hex + "%",))[0][0] == 1
    check_ocsp_revoked(stack, cert, "ssl")
    # a rejected certificate is not in the repository, and cannot be accepted afterwards
    rs = requests.get(stack.url("/ecert/search"), params={"q": name}, timeout=30)
    assert "No certificate found" in rs.text
    r = sub.accept()
    assert certificate_of(stack, env)[3] == "revoked"


def ocsp_queued_or_signed(stack, issuer_id, serial_hex):
    """The issuance/revocation asked for OCSP pre-signing: the ocsp_pending row is there,
    or the responder's background work already consumed it and signed a response that is
    not older than the certificate's last status change."""
    if stack.sql("SELECT COUNT(*) FROM ocsp_pending WHERE issuer_id = %s AND serial_hex = %s",
                 (issuer_id, serial_hex))[0][0] == 1:
        return True
    return stack.sql("SELECT COUNT(*) FROM ocsp_response o JOIN certificate c ON c.issuer_id = o.issuer_id "
                     "AND c.serial_hex = o.serial_hex WHERE o.issuer_id = %s AND o.serial_hex = %s "
                     "AND o.status_changed >= c.status_changed", (issuer_id, serial_hex))[0][0] >= 1


def check_ocsp_revoked(stack, cert, role):
    """/ocsp (openssl as the client) says revoked within the 1 s the responder promises."""
    with tempfile.TemporaryDirectory() as d:
        cp, ip = os.path.join(d, "c.pem"), os.path.join(stack.pubdir, "root",
                                                        "ecert_ssl_ca_3-17.pem.crt")
        with open(cp, "wb") as f:
            f.write(cert.public_bytes(serialization.Encoding.PEM))
        deadline = time.monotonic() + 1.0
        while True:
            r = subprocess.run(["openssl", "ocsp", "-issuer", ip, "-cert", cp, "-url", stack.url("/ocsp"),
                                "-no_nonce", "-noverify", "-resp_text"], capture_output=True, text=True,
                               timeout=60)
            assert r.returncode == 0 and "Cert Status:" in r.stdout, r.stdout + r.stderr
            if "Cert Status: revoked" in r.stdout or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert "Cert Status: revoked" in r.stdout, r.stdout
        return True


def test_non_government_stops_at_dcv(stack):
    name = unique("dcv")
    env = new_application(stack, name, government=False)
    sub = Subscriber(stack)
    sub.login(env)
    r = sub.confirm()
    assert r.url.endswith("/dcv") and "Domain Control Validation" in r.text and name in r.text
    assert sub.get("/csr").url.endswith("/dcv")
    r = sub.submit_csr(make_csr(rsa_key(), name))
    assert r.history[0].status_code == 303 and r.url.endswith("/dcv")
    assert "Domain Control Validation" in notice(r)
    assert certificate_of(stack, env) is None


# ------------------------------------------------------------------ login, sessions

def test_login_generic_error_and_lockout(stack):
    env = new_application(stack, unique("lock"))
    wrong = [dict(pin="0000 0000 0000 0000"), dict(server_name="other.example.com"),
             dict(reference="999999999"), dict(pin=env["pin"][:-1] + ("1" if env["pin"][-1] != "1" else "2"))]
    messages = set()
    for w in wrong:
        r = Subscriber(stack).login(env, **w)
        # answered by a redirect to the form (post/redirect/get), which says why
        assert r.history[0].status_code == 303 and r.status_code == 200 and r.url.endswith("/login")
        messages.add(re.sub(r"\d+", "N", page_error(r)))     # the attempts left aside
    assert len(messages) == 1, messages                  # no oracle on which field was wrong
    # the wrong PINs counted against the envelope (a wrong server name or an unknown reference
    # is another pair's failure: it could never log in to this envelope)
    assert stack.sql("SELECT failed_logins, locked FROM application WHERE id = %s", (env["id"],))[0] == (2, 0)
    # a PIN that is not 16 digits is no attempt at all: the form says so, nothing is counted
    r = Subscriber(stack).login(env, pin="123")
    assert "16 digits" in r.text and page_error(r) not in messages
    assert stack.sql("SELECT failed_logins, locked FROM application WHERE id = %s", (env["id"],))[0] == (2, 0)
    for _ in range(3):
        r = Subscriber(stack).login(env, pin="1111 1111 1111 1111")
    assert stack.sql("SELECT failed_logins, locked FROM application WHERE id = %s", (env["id"],))[0] == (5, 1)
    assert "locked after too many" in page_error(r)
    r = Subscriber(stack).login(env)                    # the right PIN no longer works
    assert r.status_code == 200 and r.url.endswith("/login") and "locked after too many" in page_error(r)
    assert stack.sql("SELECT COUNT(*) FROM audit_event WHERE event = 'login.failure' AND detail LIKE %s",
                     ("%" + env["reference"] + ": envelope locked%",))[0][0] == 1
    # the back office unlocks it
    stack.sql("UPDATE application SET locked = FALSE, failed_logins = 0 WHERE id = %s", (env["id"],))
    r = Subscriber(stack).login(env)
    assert r.url.endswith("/confirm")


def test_pin_with_or_without_spaces(stack):
    env = new_application(stack, unique("pin"))
    r = Subscriber(stack).login(env, pin=env["pin"].replace(" ", ""))
    assert r.url.endswith("/confirm")
    r = Subscriber(stack).login(env, pin=env["pin"], server_name=env["server_name"].upper())
    assert r.url.endswith("/confirm")


def test_session_cookie_rotated_and_flags(stack):
    env = new_application(stack, unique("sess"))
    sub = Subscriber(stack)
    r = sub.get("/login")
    # the anonymous login form makes no session: only its CSRF nonce cookie, scoped and strict
    assert sub.cookie() is None
    sc = r.headers["Set-Cookie"]
    assert sc.startswith("ecert_form=") and "Path=/ecert/" in sc
    assert "HttpOnly" in sc and "SameSite=Strict" in sc and "Secure" not in sc   # plain HTTP here
    r = sub.post("/login", {"server_name": env["server_name"], "reference": env["reference"],
                            "pin": env["pin"]}, allow_redirects=False)
    assert r.status_code == 303
    assert "HttpOnly" in r.headers["Set-Cookie"] and "SameSite=Strict" in r.headers["Set-Cookie"]
    before = sub.cookie()
    assert re.fullmatch(r"[0-9a-f]{64}", before)
    # the table holds only hashes of cookie values
    assert stack.sql("SELECT COUNT(*) FROM session WHERE HEX(id_sha256) = UPPER(%s)", (before,))[0][0] == 0
    # a login with a session cookie already there gives a new id; the old one reaches nothing
    other = Subscriber(stack)
    other.s.cookies.set("ecert_sid", before, domain=urllib.parse.urlsplit(stack.url("/")).hostname,
                        path="/ecert/")
    other.get("/revoke")                     # an anonymous form page: its token
    r = other.post("/login", {"server_name": env["server_name"], "reference": env["reference"],
                              "pin": env["pin"]}, allow_redirects=False)
    assert r.status_code == 303
    after = other.cookie()
    assert after != before and re.fullmatch(r"[0-9a-f]{64}", after)
    old = requests.get(stack.url("/ecert/confirm"), cookies={"ecert_sid": before}, allow_redirects=False,
                       timeout=30)
    assert old.status_code == 303 and old.headers["Location"].endswith("/login")
    assert other.get("/confirm").status_code == 200


def session_rows(stack):
    return stack.sql("SELECT COUNT(*) FROM session")[0][0]


def test_anonymous_pages_store_nothing(stack):
    """A flood of anonymous form pages leaves the session table as it was."""
    import threading
    before = session_rows(stack)
    stop = time.time() + 3
    seen = []

    def browse():
        s = requests.Session()
        while time.time() < stop:
            for path in ("/login", "/", "/revoke", "/keycompromise", "/report"):
                seen.append(s.get(stack.url("/ecert" + path), timeout=30).status_code)

    threads = [threading.Thread(target=browse) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(seen) > 20 and set(seen) == {200}
    assert session_rows(stack) == before


def anon_token(stack, nonce, when):
    """An anonymous form's token made as the server makes it, with the shared key."""
    import hashlib
    import hmac
    key = stack.sql("SELECT secret FROM form_secret WHERE name = 'csrf'")[0][0]
    t = "%08x" % int(when)
    return t + hmac.new(bytes(key), ("ecert-form|%s|%s" % (nonce, t)).encode(), hashlib.sha256).hexdigest()


def test_anonymous_form_tokens(stack):
    """The login form's token is bound to this browser's nonce cookie and to a bounded time:
    missing, forged, expired or another browser's, the POST is refused and changes nothing."""
    env = new_application(stack, unique("anon"))
    a, b = Subscriber(stack), Subscriber(stack)
    a.get("/login")
    b.get("/login")
    nonce = a.s.cookies.get("ecert_form")
    assert re.fullmatch(r"[0-9a-f]{64}", nonce) and nonce != b.s.cookies.get("ecert_form")
    assert a.csrf == anon_token(stack, nonce, int(a.csrf[:8], 16))   # the token is what ec_csrf.h says
    fields = {"server_name": env["server_name"], "reference": env["reference"], "pin": env["pin"]}
    sessions = session_rows(stack)
    attempts = stack.sql("SELECT COUNT(*) FROM login_attempt")[0][0]
    for token in (None, "0" * 72, "0" * 64, b.csrf, anon_token(stack, nonce, time.time() - 3700),
                  anon_token(stack, nonce, time.time() + 3600), anon_token(stack, "1" * 64, time.time())):
        data = dict(fields)
        if token is not None:
            data["csrf"] = token
        r = a.s.post(a.url("/login"), data=data, allow_redirects=False, timeout=30)
        assert r.status_code == 403 and "not sent from this site" in page_error(r), token
        assert 'name="server_name"' in r.text          # the form again, to start over
    # no cookie at all, with a token that is right for some nonce
    r = requests.post(stack.url("/ecert/login"), data=dict(fields, csrf=a.csrf), allow_redirects=False,
                      timeout=30)
    assert r.status_code == 403
    assert session_rows(stack) == sessions
    assert stack.sql("SELECT COUNT(*) FROM login_attempt")[0][0] == attempts
    assert stack.sql("SELECT failed_logins FROM application WHERE id = %s", (env["id"],))[0][0] == 0
    # a token made a while ago, still within its hour, passes; so does the right one
    r = a.s.post(a.url("/login"), data=dict(fields, csrf=anon_token(stack, nonce, time.time() - 3000)),
                 allow_redirects=False, timeout=30)
    assert r.status_code == 303 and r.headers["Location"].endswith("/confirm")


def test_idle_timeout(stack):
    env = new_application(stack, unique("idle"))
    sub = Subscriber(stack)
    sub.login(env)
    assert sub.get("/confirm").url.endswith("/confirm")
    stack.sql("UPDATE session SET last_seen = NOW() - INTERVAL 2 HOUR WHERE application_id = %s", (env["id"],))
    r = sub.get("/confirm")
    assert r.url.endswith("/login")
    assert stack.sql("SELECT COUNT(*) FROM session WHERE application_id = %s", (env["id"],))[0][0] == 0


def test_session_has_an_absolute_lifetime(stack):
    """Active all along, a session still ends EC_SESSION_MAX_AGE (8 h) after it began."""
    env = new_application(stack, unique("absolute"))
    sub = Subscriber(stack)
    sub.login(env)
    assert sub.get("/confirm").url.endswith("/confirm")
    stack.sql("UPDATE session SET created_at = NOW() - INTERVAL 30 DAY, last_seen = NOW() "
              "WHERE application_id = %s", (env["id"],))
    assert sub.get("/confirm").url.endswith("/login")
    assert stack.sql("SELECT COUNT(*) FROM session WHERE application_id = %s", (env["id"],))[0][0] == 0


def test_csrf_less_post_refused(stack):
    env = new_application(stack, unique("csrf"))
    sub = Subscriber(stack)
    sub.login(env)
    for data in ({"action": "confirm"}, {"action": "confirm", "csrf": "0" * 64}):
        r = sub.s.post(sub.url("/confirm"), data=data, timeout=30)
        assert r.history[0].status_code == 303 and r.url.endswith("/confirm")
        assert "nothing was changed" in notice(r) and "latest login" in notice(r)
    assert stack.sql("SELECT status FROM application WHERE id = %s", (env["id"],))[0][0] == "approved"
    # login form without its token
    r = requests.post(stack.url("/ecert/login"), data={"server_name": env["server_name"],
                                                       "reference": env["reference"], "pin": env["pin"]},
                      timeout=30)
    assert r.status_code == 403
    # a token of another session does not work either
    other = Subscriber(stack)
    other.get("/login")
    r = sub.s.post(sub.url("/confirm"), data={"action": "confirm", "csrf": other.csrf}, timeout=30)
    assert r.history[0].status_code == 303 and "nothing was changed" in notice(r)
    assert stack.sql("SELECT status FROM application WHERE id = %s", (env["id"],))[0][0] == "approved"


def test_session_cannot_reach_other_application(stack):
    a = new_application(stack, unique("appa"))
    b = new_application(stack, unique("appb"))
    sb, _ = issue_via_web(stack, b)
    sb.accept()
    sa = Subscriber(stack)
    sa.login(a)
    # every page of A's session shows A, never B; B's files are not reachable through it
    for path in ("/confirm", "/csr", "/certificate", "/download", "/download/cert.pem",
                 "/download/cert.pem?application=%s" % b["id"]):
        r = sa.get(path)
        assert b["server_name"] not in r.text
        assert not r.headers.get("Content-Type", "").startswith("application/")
    r = sa.post("/accept", {})
    assert certificate_of(stack, a) is None and certificate_of(stack, b)[3] == "accepted"
    # no application id anywhere in A's pages or URLs
    assert "application" not in sa.r.url


def test_rate_limit_per_address(stack):
    env = new_application(stack, unique("rate"))
    stack.sql("INSERT INTO login_attempt (client_addr, success) VALUES " +
              ",".join(["('127.0.0.1', FALSE)"] * 40))
    try:
        r = Subscriber(stack).login(env)
        assert r.history[0].status_code == 303 and r.url.endswith("/login") and "Too many" in page_error(r)
    finally:
        stack.sql("DELETE FROM login_attempt WHERE client_addr = '127.0.0.1' AND success = FALSE")
    assert Subscriber(stack).login(env).url.endswith("/confirm")


def test_sessions_shared_between_nodes(stack):
    """Sessions live in the database: the next step may land on another httpd."""
    env = new_application(stack, unique("node"))
    try:
        stack.start_httpd2()
        s1 = Subscriber(stack, instance=1)
        s1.login(env)
        s2 = Subscriber(stack, instance=2)
        s2.s.cookies = s1.s.cookies
        s2.csrf = s1.csrf
        r = s2.confirm()
        assert r.url.endswith("/csr") and ":%d/" % stack.port2 in r.url
        r = s2.submit_csr(make_csr(rsa_key(), env["server_name"]))
        assert r.url.endswith("/certificate"), page_error(r)
    finally:
        stack.stop_httpd2()


# ------------------------------------------------------------------ pages

def test_languages(stack):
    r = requests.get(stack.url("/ecert/login"), headers={"Accept-Language": "zh-HK,zh;q=0.9,en;q=0.8"},
                     timeout=30)
    assert 'lang="zh-Hant-HK"' in r.text and "遞交「簽發證書要求」" in r.text and "參考編號" in r.text
    assert "個人資料" in r.text and "2025 年 5 月 1 日" in r.text
    r = requests.get(stack.url("/ecert/login"), headers={"Accept-Language": "en-GB,zh;q=0.5"}, timeout=30)
    assert 'lang="en"' in r.text and "Reference Number" in r.text
    assert "Personal Data (Privacy) Ordinance" in r.text and "1 May 2025" in r.text
    s = requests.Session()
    r = s.get(stack.url("/ecert/login?lang=zh"), timeout=30)
    assert "電子證書密碼" in r.text and 'href="/ecert/login?lang=en"' in r.text
    r = s.get(stack.url("/ecert/search"), timeout=30)          # remembered
    assert "搜尋及下載證書" in r.text


def test_every_dynamic_value_escaped(stack):
    # registration refuses markup: the values reach the table some other way (an older
    # record, a back-office edit), and the pages must still escape them
    env = new_application(stack, unique("xss"))
    stack.sql("UPDATE application SET org_name_en = %s, branch_name_en = %s WHERE id = %s",
              ("<script>alert(1)</script> & Co", '"><img src=x onerror=alert(1)>', env["id"]))
    sub = Subscriber(stack)
    r = sub.login(env)
    assert "<script>alert(1)" not in r.text and "&lt;script&gt;alert(1)&lt;/script&gt; &amp; Co" in r.text
    assert "<img src=x" not in r.text and "&#34;&gt;&lt;img" in r.text
    r = requests.get(stack.url("/ecert/search"), params={"q": "<b>x</b>"}, timeout=30)
    assert r.status_code == 400 and "<b>x</b>" not in r.text and "&lt;b&gt;x&lt;/b&gt;" in r.text


def test_assets_and_unknown_paths(stack):
    r = requests.get(stack.url("/ecert/assets/ecert.css"), timeout=30)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/css")
    for bad in ("/ecert/assets/%2e%2e/templates/i18n/en.txt", "/ecert/assets/..%2ftemplates%2fi18n%2fen.txt",
                "/ecert/assets/x.txt", "/ecert/assets/.hidden.css"):
        r = requests.get(stack.url(bad), timeout=30, allow_redirects=False)
        # never the file: 404, or httpd's own normalisation leads outside assets/ (303)
        assert r.status_code in (303, 400, 403, 404) and "page.title" not in r.text, bad
    assert requests.get(stack.url("/ecert/search/1/zz.pem"), timeout=30).status_code == 404


def test_issuance_is_all_or_nothing(stack):
    """A failure late in the issuance transaction (here: the OCSP work queue refuses the
    row) leaves no certificate, no names, no status change and no issuance audit event; the
    signature made before it is revoked at once (its signing record, sql/011)."""
    name = unique("atomic")
    env = new_application(stack, name)
    stack.expect_log(r"ECS0005: issue_ocsp_queue: .*injected failure")
    stack.expect_log(r"ECI0012: ")
    stack.sql_owner("CREATE TRIGGER test_ocsp_fail BEFORE INSERT ON ocsp_pending FOR EACH ROW "
              "IF EXISTS (SELECT 1 FROM certificate WHERE serial_hex = NEW.serial_hex AND server_name = '%s' "
              "AND application_id IS NOT NULL) "
              "THEN SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'injected failure'; END IF" % name)
    try:
        sub = Subscriber(stack)
        sub.login(env)
        sub.confirm()
        r = sub.submit_csr(make_csr(rsa_key(), name))
        assert "nothing was recorded" in redirected_error(r, "/csr")
    finally:
        stack.sql_owner("DROP TRIGGER test_ocsp_fail")
    assert certificate_of(stack, env) is None
    assert stack.sql("SELECT COUNT(*) FROM certificate_name WHERE name = %s", (name,))[0][0] == 0
    assert stack.sql("SELECT status FROM application WHERE id = %s", (env["id"],))[0][0] == "confirmed"
    assert stack.sql("SELECT COUNT(*) FROM audit_event WHERE event = 'certificate.issue' AND detail LIKE %s",
                     ("%server " + name + " %",))[0][0] == 0
    # the signature it made was never delivered: revoked at once, on the next CRL and in OCSP
    (serial, state), = stack.sql("SELECT serial_hex, state FROM signing_record WHERE application_id = %s",
                                 (env["id"],))
    assert state == "revoked"
    assert stack.sql("SELECT status, application_id FROM certificate WHERE serial_hex = %s",
                     (serial,)) == (("revoked", None),)
    # and the subscriber can simply submit again
    r = sub.submit_csr(make_csr(rsa_key(), name))
    assert r.url.endswith("/certificate"), page_error(r)
    assert certificate_of(stack, env)[3] == "issued"


def test_issuance_is_logged_under_the_module_name(stack):
    """LogLevel ecert:info: the pages' lines carry the module's name, so issuance's info
    line reaches the log (it was filed under no module, at the server's warn level)."""
    env = new_application(stack, unique("logged"))
    issue_via_web(stack, env)
    serial = certificate_of(stack, env)[0].serial_number
    lines = [ln for ln in stack.error_log_lines() if "ECE0030: issued serial" in ln and
             ln.endswith("application %s" % env["id"])]
    assert lines and "[ecert:info]" in lines[-1], lines
    assert ("%x" % serial) in lines[-1].lower()
    unnamed = [ln for ln in stack.error_log_lines() if re.search(r"\] \[:(emerg|alert|crit|error|warn|notice|info)\]", ln)]
    assert not unnamed, unnamed[:3]
