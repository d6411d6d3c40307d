"""Foundation: modules and directives, the key ceremony (checked with openssl and
Python cryptography), keys that never leave the token, applications and PIN
envelopes registered by ecertctl, and the audit chain."""

import hashlib
import os
import re
import subprocess

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID, NameOID

ROOT_CN = "Hongkong Post Root CA 3"
SSL_CN = "Hongkong Post e-Cert SSL CA 3 - 17"
EV_CN = "Hongkong Post e-Cert EV SSL CA 3 - 17"
CPS_URL = "http://www.eCert.gov.hk/product/cps/ecert"
FILES = {ROOT_CN: "root_ca_3", SSL_CN: "ecert_ssl_ca_3-17", EV_CN: "ecert_ev_ssl_ca_3-17"}


def pub(stack, name):
    return os.path.join(stack.rundir, "pub", "root", name)


def load(stack, cn, ocsp=False):
    path = pub(stack, FILES[cn] + ("_ocsp" if ocsp else "") + ".pem.crt")
    with open(path, "rb") as f:
        return x509.load_pem_x509_certificate(f.read())


def subject_of(cn):
    return [("C", "HK"), ("ST", "Hong Kong"), ("L", "Hong Kong"), ("O", "Hongkong Post"), ("CN", cn)]


def rdns(name):
    short = {NameOID.COUNTRY_NAME: "C", NameOID.STATE_OR_PROVINCE_NAME: "ST",
             NameOID.LOCALITY_NAME: "L", NameOID.ORGANIZATION_NAME: "O", NameOID.COMMON_NAME: "CN"}
    return [(short.get(a.oid, a.oid.dotted_string), a.value) for a in name]


def keyid(cert):
    spki = cert.public_key().public_bytes(serialization.Encoding.DER,
                                          serialization.PublicFormat.SubjectPublicKeyInfo)
    return x509.SubjectKeyIdentifier.from_public_key(cert.public_key()).digest, spki


def apache_test(stack, extra):
    """`apache2 -t` on the stack's config plus extra lines: (returncode, output)."""
    conf = os.path.join(stack.rundir, "bad-%d.conf" % abs(hash(extra)))
    with open(os.path.join(stack.rundir, "httpd.conf")) as f:
        text = f.read()
    with open(conf, "w") as f:
        f.write(text + "\n" + extra + "\n")
    r = subprocess.run(["/usr/sbin/apache2", "-t", "-f", conf], env=stack.env(),
                       capture_output=True, text=True, timeout=60)
    os.unlink(conf)
    return r.returncode, r.stdout + r.stderr


# ---------------------------------------------------------------- modules

def test_both_modules_load(stack):
    r = subprocess.run(["/usr/sbin/apache2", "-t", "-D", "DUMP_MODULES", "-f",
                        os.path.join(stack.rundir, "httpd.conf")], env=stack.env(),
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert re.search(r"ecert_module \(shared\)", r.stdout)
    assert re.search(r"ocsp_module \(shared\)", r.stdout)


@pytest.mark.parametrize("line,message", [
    ("OCSPValidity 2h", "OCSPValidity takes a duration from 28800s to 864000s"),
    ("OCSPValidity 11d", "OCSPValidity takes a duration"),
    ("OCSPRefresh 5d", "OCSPRefresh takes a duration"),
    ("OCSPMaxCertIDs 0", "OCSPMaxCertIDs takes a whole number from 1 to 100"),
    ("OCSPNonce maybe", "OCSPNonce must be On or Off"),
    ("OCSPTokenPIN 1234", "OCSPTokenPIN: the token PIN is given as keyring:NAME"),
    ("ECertTokenPIN file:/etc/pin", "ECertTokenPIN: the token PIN is given as keyring:NAME"),
    ("ECertTokenPIN 1234", "ECertTokenPIN: the token PIN is given as keyring:NAME"),
    ("ECertValidityDays 398", "ECertValidityDays takes a whole number from 1 to 200"),
    # Certificate Transparency
    ("ECertCTLog only three args", "ECertCTLog takes NAME OPERATOR URL KEY START END"),
    ("ECertCTLog l op ftp://x/ AAAA 2026-01-01 2027-01-01", "ECertCTLog l: the log URL is not http(s)://"),
    ("ECertCTLog l op http://x/ bm90IGEga2V5 2026-01-01 2027-01-01",
     "ECertCTLog l: the log key is not a SubjectPublicKeyInfo"),
    ("ECertCTLog l op http://x/ AAAA 2026-01-01 2026-13-01", "START and END are dates YYYY-MM-DD"),
    ("ECertCTTimeout 0", "ECertCTTimeout takes seconds from 1 to 60"),
    ("ECertIssuer premium /dev/null pkcs11:token=ecert", "role 'premium' is neither ssl nor ev"),
    ("ECertIssuer ssl /dev/null /tmp/key.pem", "named by a pkcs11: URI"),
    # CRLs (BR 4.9.7, 7.2)
    ("ECertCRLValidity 11d", "ECertCRLValidity takes a duration from 3600s to 864000s"),
    ("ECertARLValidity 400d", "ECertARLValidity takes a duration from 86400s to 31536000s"),
    ("ECertCRLRevocationDelay 2h", "ECertCRLRevocationDelay takes a duration from 0s to 3600s"),
    ("ECertCRLSchedule 25:00", "'25:00' is not a UTC time of day"),
    ("ECertCRLSchedule 01:15 01:15", "01:15 is listed twice"),
    ("ECertCRLSchedule every 5s", "ECertCRLSchedule every: ECertCRLSchedule takes a duration from 10s"),
    ("ECertCRLShards 1", "ECertCRLShards takes Off or a number of partitions from 2 to 256"),
    ("ECertRootKey /tmp/root.key", "ECertRootKey: the key is named by a pkcs11: URI"),
    ("<VirtualHost 127.0.0.1:1>\nECertCRLValidity 1d\n</VirtualHost>", "cannot occur within <VirtualHost>"),
    # the token is the whole server's
] + [("<VirtualHost 127.0.0.1:1>\n%s\n</VirtualHost>" % d,
      "%s cannot occur within <VirtualHost> section (the token is the whole server's)" % d.split()[0])
     for d in ("ECertPKCS11Module /usr/lib/softhsm/libsofthsm2.so", "ECertTokenPIN env:PIN", "ECertSessions 2",
               "OCSPPKCS11Module /usr/lib/softhsm/libsofthsm2.so", "OCSPTokenPIN env:PIN", "OCSPSessions 2")
])
def test_bad_directive_value_is_a_clear_startup_error(stack, line, message):
    rc, out = apache_test(stack, line)
    assert rc != 0
    assert message in out, out


def test_good_config_passes(stack):
    rc, out = apache_test(stack, "OCSPValidity 4d\nOCSPRefresh 1d\nECertValidityDays 199\n"
                          "ECertCRLSchedule 01:15 06:15 11:00\nECertCRLValidity 7d\nECertARLValidity 365d\n"
                          "ECertCRLShards Off\nECertCRLMaxAge 1h")
    assert rc == 0, out


def test_subscriber_start_page(stack):
    import requests
    r = requests.get(stack.url("/"), timeout=10)          # the site's root: the start page
    assert r.status_code == 200 and r.url == stack.url("/ecert/")
    assert [h.status_code for h in r.history] == [302]
    assert "e-Cert (Server) online services" in r.text and 'href="/ecert/login"' in r.text
    # every repository link of the start page answers, with the type it should
    for href in re.findall(r'href="(/(?:root|crl)/[^"]+)"', r.text):
        got = requests.get(stack.url(href), timeout=10)
        assert got.status_code == 200, href
        if href.endswith(".crl"):
            assert got.headers["Content-Type"] == "application/pkix-crl", href
    r = requests.get(stack.url("/ecert/login"), timeout=10)
    assert r.status_code == 200
    assert "Reference Number" in r.text and "e-Cert PIN" in r.text


# ---------------------------------------------------------------- ceremony

def test_chain_verifies_with_openssl(stack):
    root = pub(stack, "root_ca_3.pem.crt")
    for sub in ("ecert_ssl_ca_3-17", "ecert_ev_ssl_ca_3-17"):
        r = subprocess.run(["openssl", "verify", "-x509_strict", "-CAfile", root,
                            pub(stack, sub + ".pem.crt")], capture_output=True, text=True)
        assert r.returncode == 0 and ": OK" in r.stdout, r.stdout + r.stderr
        r = subprocess.run(["openssl", "verify", "-CAfile", root, "-untrusted",
                            pub(stack, sub + ".pem.crt"), "-purpose", "ocsphelper",
                            pub(stack, sub + "_ocsp.pem.crt")], capture_output=True, text=True)
        assert r.returncode == 0 and ": OK" in r.stdout, r.stdout + r.stderr
    r = subprocess.run(["openssl", "verify", "-CAfile", root, pub(stack, "root_ca_3_ocsp.pem.crt")],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_der_and_pem_published_alike(stack):
    for base in list(FILES.values()) + [f + "_ocsp" for f in FILES.values()]:
        with open(pub(stack, base + ".pem.crt"), "rb") as f:
            pem = x509.load_pem_x509_certificate(f.read())
        with open(pub(stack, base + ".crt"), "rb") as f:
            assert f.read() == pem.public_bytes(serialization.Encoding.DER)


def check_common(cert, issuer, cn):
    assert cert.version == x509.Version.v3
    assert rdns(cert.subject) == subject_of(cn)
    assert rdns(cert.issuer) == subject_of(issuer.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)
    assert cert.signature_hash_algorithm.name == "sha256"
    assert cert.signature_algorithm_oid.dotted_string == "1.2.840.113549.1.1.11"
    key = cert.public_key()
    assert isinstance(key, rsa.RSAPublicKey) and key.key_size == 2048
    assert key.public_numbers().e == 65537
    # 20-octet positive serial from a CSPRNG (CPS 7.1)
    assert 0 < cert.serial_number < 2 ** 159 and cert.serial_number >= 2 ** 152
    issuer.public_key().verify(cert.signature, cert.tbs_certificate_bytes, padding.PKCS1v15(),
                               hashes.SHA256())
    ski = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    assert ski == keyid(cert)[0]
    # UTF8String for text attributes, PrintableString for C
    for attr in cert.subject:
        want = x509.name._ASN1Type.PrintableString if attr.oid == NameOID.COUNTRY_NAME \
            else x509.name._ASN1Type.UTF8String
        assert attr._type == want, attr


def test_root_profile(stack):
    root = load(stack, ROOT_CN)
    check_common(root, root, ROOT_CN)
    bc = root.extensions.get_extension_for_class(x509.BasicConstraints)
    assert bc.critical and bc.value.ca and bc.value.path_length is None
    ku = root.extensions.get_extension_for_class(x509.KeyUsage)
    assert ku.critical and ku.value.key_cert_sign and ku.value.crl_sign
    assert not ku.value.digital_signature and not ku.value.key_encipherment
    days = (root.not_valid_after - root.not_valid_before).days
    assert 25 * 365 <= days <= 25 * 366, days
    with pytest.raises(x509.ExtensionNotFound):
        root.extensions.get_extension_for_class(x509.ExtendedKeyUsage)


@pytest.mark.parametrize("cn,policy", [(SSL_CN, "2.23.140.1.2.2"), (EV_CN, "2.23.140.1.1")])
def test_sub_ca_profile(stack, cn, policy):
    root, sub = load(stack, ROOT_CN), load(stack, cn)
    check_common(sub, root, cn)
    ext = sub.extensions
    bc = ext.get_extension_for_class(x509.BasicConstraints)
    assert bc.critical and bc.value.ca and bc.value.path_length == 0
    ku = ext.get_extension_for_class(x509.KeyUsage)
    assert ku.critical and ku.value.key_cert_sign and ku.value.crl_sign and ku.value.digital_signature
    eku = ext.get_extension_for_class(x509.ExtendedKeyUsage)
    assert list(eku.value) == [ExtendedKeyUsageOID.SERVER_AUTH]
    pols = ext.get_extension_for_class(x509.CertificatePolicies).value
    assert [p.policy_identifier.dotted_string for p in pols] == ["1.3.6.1.4.1.16030.1.7.16", policy]
    for p in pols:
        assert p.policy_qualifiers == [CPS_URL]
    aia = ext.get_extension_for_class(x509.AuthorityInformationAccess).value
    got = {(d.access_method.dotted_string, d.access_location.value) for d in aia}
    assert got == {("1.3.6.1.5.5.7.48.1", "http://ocsp1.eCert.gov.hk"),
                   ("1.3.6.1.5.5.7.48.2", "http://www1.ecert.gov.hk/root/root_ca_3.crt")}
    cdp = ext.get_extension_for_class(x509.CRLDistributionPoints).value
    assert [n.value for n in cdp[0].full_name] == ["http://crl1.eCert.gov.hk/crl/RootCA3ARL.crl"]
    aki = ext.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    assert aki.key_identifier == keyid(root)[0]
    assert sub.not_valid_after <= root.not_valid_after
    days = (sub.not_valid_after - sub.not_valid_before).days
    assert 15 * 365 <= days <= 15 * 366, days


@pytest.mark.parametrize("cn", [ROOT_CN, SSL_CN, EV_CN])
def test_ocsp_responder_profile(stack, cn):
    ca, resp = load(stack, cn), load(stack, cn, ocsp=True)
    check_common(resp, ca, cn + " OCSP Responder")
    ext = resp.extensions
    assert list(ext.get_extension_for_class(x509.ExtendedKeyUsage).value) == [ExtendedKeyUsageOID.OCSP_SIGNING]
    nocheck = ext.get_extension_for_oid(x509.ObjectIdentifier("1.3.6.1.5.5.7.48.1.5"))
    assert not nocheck.critical
    pols = ext.get_extension_for_class(x509.CertificatePolicies).value
    assert [p.policy_identifier.dotted_string for p in pols] == ["1.3.6.1.4.1.16030.1.6"]
    ku = ext.get_extension_for_class(x509.KeyUsage)
    assert ku.critical and ku.value.digital_signature and not ku.value.key_cert_sign
    bc = ext.get_extension_for_class(x509.BasicConstraints)
    assert bc.critical and not bc.value.ca
    aki = ext.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    assert aki.key_identifier == keyid(ca)[0]
    assert resp.not_valid_after <= ca.not_valid_after


def test_hierarchy_recorded_in_database(stack):
    rows = stack.sql("SELECT role, name, HEX(cert_der), HEX(key_sha1), key_uri FROM ca ORDER BY id")
    assert [(r[0], r[1]) for r in rows] == [
        ("root", ROOT_CN), ("ssl", SSL_CN), ("ev", EV_CN), ("ocsp", ROOT_CN + " OCSP Responder"),
        ("ocsp", SSL_CN + " OCSP Responder"), ("ocsp", EV_CN + " OCSP Responder")]
    for role, name, der_hex, key_sha1, uri in rows:
        cert = x509.load_der_x509_certificate(bytes.fromhex(der_hex))
        assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == name
        assert bytes.fromhex(key_sha1) == keyid(cert)[0]
        assert uri.startswith("pkcs11:token=ecert;object=") and uri.endswith(";type=private")
    events = stack.sql("SELECT event FROM audit_event WHERE event = 'ca.ceremony'")
    assert len(events) == 1


def test_ceremony_refuses_to_run_twice(stack):
    before = stack.sql("SELECT HEX(cert_der) FROM ca ORDER BY id")
    r = stack.ctl("init", check=False)
    assert r.returncode == 1
    assert "already exists" in r.stderr and "--force" in r.stderr
    assert stack.sql("SELECT HEX(cert_der) FROM ca ORDER BY id") == before


# ---------------------------------------------------------------- the token

def token_objects(stack):
    r = subprocess.run(["pkcs11-tool", "--module", stack.p11module, "--token-label", "ecert",
                        "--login", "--pin", stack.token_pin, "--list-objects"],
                       env=stack.env(), capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_ca_keys_are_not_extractable(stack):
    out = token_objects(stack)
    blocks = re.split(r"\n(?=\S)", out)
    private = {}
    for b in blocks:
        m = re.search(r"label:\s*(.+)", b)
        if b.startswith("Private Key Object") and m:
            private[m.group(1).strip()] = b
    want = [ROOT_CN, SSL_CN, EV_CN] + [c + " OCSP Responder" for c in (ROOT_CN, SSL_CN, EV_CN)] + \
        ["e-Cert Audit Checkpoint Key"]
    assert sorted(private) == sorted(want)
    for label, b in private.items():
        access = re.search(r"Access:\s*(.+)", b).group(1)
        assert "never extractable" in access and "sensitive" in access, (label, access)
        assert re.search(r"Usage:\s*sign", b), b


def test_private_key_cannot_be_read(stack):
    """Ask the token directly (PyKCS11, not our code) for the private parts."""
    import PyKCS11
    old = os.environ.get("SOFTHSM2_CONF")
    os.environ["SOFTHSM2_CONF"] = stack.env()["SOFTHSM2_CONF"]
    try:
        lib = PyKCS11.PyKCS11Lib()
        lib.load(stack.p11module)
        slot = [s for s in lib.getSlotList(tokenPresent=True)
                if lib.getTokenInfo(s).label.strip() == "ecert"][0]
        session = lib.openSession(slot)
        session.login(stack.token_pin)
        keys = session.findObjects([(PyKCS11.CKA_CLASS, PyKCS11.CKO_PRIVATE_KEY)])
        assert len(keys) == 7          # the six CA keys and the audit checkpoint key
        for key in keys:
            ext, sens = session.getAttributeValue(key, [PyKCS11.CKA_EXTRACTABLE, PyKCS11.CKA_SENSITIVE])
            assert ext is False and sens is True
            # CKR_ATTRIBUTE_SENSITIVE: PyKCS11 reports the value as unavailable
            try:
                value = session.getAttributeValue(key, [PyKCS11.CKA_PRIVATE_EXPONENT,
                                                        PyKCS11.CKA_PRIME_1], allAsBinary=True)
            except PyKCS11.PyKCS11Error as e:
                assert "SENSITIVE" in str(e)
            else:
                assert value == [None, None], value
        session.logout()
        session.closeSession()
    finally:
        if old is None:
            os.environ.pop("SOFTHSM2_CONF", None)
        else:
            os.environ["SOFTHSM2_CONF"] = old


def test_no_private_key_or_pin_in_tree_or_logs(stack):
    pin = stack.token_pin.encode()
    assert len(pin) == 40
    roots = [os.path.join(stack.rundir, d) for d in ("pub", "httpd")] + \
        [os.path.join(stack.srcdir, d) for d in ("core", "cli", "mod_ecert", "mod_ocsp", "conf", "htdocs",
                                                 "sql", "scripts")]
    for top in roots:
        for dirpath, _, files in os.walk(top):
            for name in files:
                with open(os.path.join(dirpath, name), "rb") as f:
                    assert b"PRIVATE KEY-----" not in f.read(), os.path.join(dirpath, name)
    # the PIN is in no file of the whole run directory (database, token, logs, shares): only
    # in the kernel keyring while activated
    for dirpath, _, files in os.walk(stack.rundir):
        for name in files:
            path = os.path.join(dirpath, name)
            if os.path.isfile(path) and not os.path.islink(path):
                with open(path, "rb") as f:
                    data = f.read()
                assert pin not in data and pin.upper() not in data, path


# ---------------------------------------------------------------- applications

APP = ["application", "add", "--server-name", "shop.example.org", "--type", "standard",
       "--org-en", "Example Shop Limited", "--org-zh", "範例商店有限公司", "--branch-en", "Online",
       "--br-no", "12345678", "--ci-no", "0123456", "--email", "it@example.org", "--period", "1"]


def envelope(text):
    ref = re.search(r"^\s*Reference Number:\s*(\d{9})\s*$", text, re.M).group(1)
    pin = re.search(r"^\s*e-Cert PIN:\s*(\d{4} \d{4} \d{4} \d{4})\s*$", text, re.M).group(1)
    sub = re.search(r"^\s*Subscriber Reference Number:\s*(\d{10})\s*$", text, re.M).group(1)
    return ref, pin.replace(" ", ""), sub


def test_application_registered_with_pin_hashed(stack):
    out = stack.ctl(*APP).stdout
    ref, pin, sub = envelope(out)
    rows = stack.sql("SELECT * FROM application WHERE envelope_ref = %s", (ref,))
    assert len(rows) == 1
    row = rows[0]
    assert sub in [str(v) for v in row]
    cols = [c[0] for c in stack.sql("SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE "
                                    "TABLE_SCHEMA='ecert' AND TABLE_NAME='application' "
                                    "ORDER BY ORDINAL_POSITION")]
    rec = dict(zip(cols, row))
    assert rec["server_name"] == "shop.example.org" and rec["cert_type"] == "standard"
    assert rec["org_name_zh"] == "範例商店有限公司" and rec["government"] == 0
    assert rec["pin_hash"].startswith("$scrypt$ln=15,r=8,p=1$")
    for v in row:
        assert pin not in str(v)
    # the hash really is scrypt of the PIN (independent check with hashlib)
    _, _, params, salt, digest = rec["pin_hash"].split("$")
    assert hashlib.scrypt(pin.encode(), salt=bytes.fromhex(salt), n=2 ** 15, r=8, p=1,
                          maxmem=2 ** 26, dklen=32).hex() == digest
    audit = stack.sql("SELECT actor, detail FROM audit_event WHERE event = 'application.create' "
                      "AND detail LIKE %s", ("%" + ref + "%",))
    assert len(audit) == 1 and audit[0][0].startswith("operator:")
    assert pin not in audit[0][1]
    shown = stack.ctl("application", "show", ref).stdout
    assert "shop.example.org" in shown and "範例商店有限公司" in shown and pin not in shown


def test_every_type_and_field_registers(stack):
    ref, _, _ = envelope(stack.ctl(
        "application", "add", "--server-name", "香港郵政.hk", "--type", "multi-domain",
        "--org-zh", "香港郵政", "--government", "--email", "a@hongkongpost.hk",
        *sum([["--extra-name", "www%d.hongkongpost.hk" % i] for i in range(49)], [])).stdout)
    rows = stack.sql("SELECT a.server_name, a.government, COUNT(n.name) FROM application a JOIN "
                     "application_name n ON n.application_id = a.id WHERE a.envelope_ref = %s "
                     "GROUP BY a.id", (ref,))
    assert list(rows) == [("xn--5bvv2rbn4a0hh.hk", 1, 49)]
    ref, _, _ = envelope(stack.ctl(
        "application", "add", "--server-name", "secure.example.net", "--type", "ev", "--org-en", "Ex Ltd",
        "--email", "a@example.net", "--ev-street", "1 Queen's Road", "--ev-reg-no", "76543210",
        "--ev-category", "Private Organization").stdout)
    assert stack.sql("SELECT ev_jurisdiction_c, ev_business_category FROM application WHERE envelope_ref=%s",
                     (ref,))[0] == ("HK", "Private Organization")
    ref, _, _ = envelope(stack.ctl("application", "add", "--server-name", "*.example.com", "--type",
                                   "wildcard", "--org-en", "Ex", "--email", "a@example.com").stdout)
    assert stack.sql("SELECT server_name FROM application WHERE envelope_ref=%s", (ref,))[0] == ("*.example.com",)


def test_preprinted_envelope(stack):
    out = stack.ctl(*APP, "--reference", "987654321", "--pin", "1111 2222 3333 4444").stdout
    assert envelope(out)[:2] == ("987654321", "1111222233334444")


BAD = [
    (["--reference", "123456789", "--pin", "1234 5678 9012 3456 7"], "exactly 16 digits"),
    (["--reference", "12345678", "--pin", "1234567890123456"], "9 digits"),
    (["--type", "premium"], "unknown certificate type 'premium'"),
    (["--type", "multi-domain"] + sum([["--extra-name", "n%d.example.org" % i] for i in range(50)], []),
     "at most 49 additional server names"),
    (["--type", "multi-domain", "--extra-name", "a.example.org", "--extra-name", "*.example.org"],
     "wildcard is not allowed"),
    (["--type", "standard", "--extra-name", "a.example.org"], "has no additional server names"),
    (["--server-name", "*.example.org"], "wildcard is not allowed"),
    (["--server-name", "localhost"], "fully qualified"),
    (["--email", "nobody"], "e-mail address is not valid"),
    (["--br-no", "12345678901234567"], "at most 16"),
    (["--type", "ev"], "EV application needs"),
    (["--period", "7"], "1 to 3 years"),
    # what issuance would refuse or should never print (issue 13)
    (["--org-en", "A" * 65], "65 characters"),
    (["--org-en", "Example \u202eLimited"], "U+202E"),
    (["--org-zh", "\ufeff範例有限公司"], "U+FEFF"),
    (["--org-en", "Example <b>Limited</b>"], "U+003C"),
    (["--org-en", "Example \U0001f600 Limited"], "U+1F600"),
    (["--branch-en", "IT\u200b"], "U+200B"),
    (["--type", "ev", "--ev-street", "1 Queen's Road \u202e", "--ev-reg-no", "1", "--ev-category",
      "Private Organization"], "U+202E"),
    (["--type", "ev", "--ev-street", "1 Queen's Road", "--ev-reg-no", "12345678\u00e9", "--ev-category",
      "Private Organization"], "registration number"),
]


@pytest.mark.parametrize("change,message", BAD)
def test_bad_application_refused_and_nothing_written(stack, change, message):
    args = list(APP)
    # later options override earlier ones; --extra-name and new flags are appended
    override = {}
    extra = []
    i = 0
    while i < len(change):
        if change[i] in args and change[i] != "--extra-name":
            override[change[i]] = change[i + 1]
        else:
            extra += change[i:i + 2]
        i += 2
    for k, v in override.items():
        args[args.index(k) + 1] = v
    args += extra
    before = stack.sql("SELECT (SELECT COUNT(*) FROM application), (SELECT COUNT(*) FROM "
                       "application_name), (SELECT COUNT(*) FROM audit_event)")
    r = stack.ctl(*args, check=False)
    assert r.returncode == 1, r.stdout
    assert message in r.stderr, r.stderr
    assert "nothing was registered" in r.stderr
    assert "e-Cert PIN" not in r.stdout
    after = stack.sql("SELECT (SELECT COUNT(*) FROM application), (SELECT COUNT(*) FROM "
                      "application_name), (SELECT COUNT(*) FROM audit_event)")
    assert after == before


def test_duplicate_preprinted_reference_refused(stack):
    stack.ctl(*APP, "--reference", "555555555", "--pin", "1111222233334444")
    r = stack.ctl(*APP, "--reference", "555555555", "--pin", "9999222233334444", check=False)
    assert r.returncode == 1 and "already used" in r.stderr


def test_new_pin_replaces_the_old_one(stack):
    ref, pin, _ = envelope(stack.ctl(*APP).stdout)
    old = stack.sql("SELECT pin_hash FROM application WHERE envelope_ref=%s", (ref,))[0][0]
    ref2, pin2, _ = envelope(stack.ctl("application", "new-pin", ref).stdout)
    assert ref2 == ref and pin2 != pin
    assert stack.sql("SELECT pin_hash FROM application WHERE envelope_ref=%s", (ref,))[0][0] != old
    r = stack.ctl("application", "new-pin", "100000000", check=False)
    assert r.returncode == 1 and "no application" in r.stderr


# ---------------------------------------------------------------- audit

def test_audit_chain_verifies_and_is_append_only(stack):
    r = stack.ctl("audit", "verify")
    m = re.search(r"audit log intact: (\d+) events", r.stdout)
    assert m and int(m.group(1)) >= 2
    import pymysql
    # the runtime account has no UPDATE or DELETE there; the owner meets the trigger
    with pytest.raises(pymysql.err.OperationalError, match="UPDATE command denied"):
        stack.sql("UPDATE audit_event SET detail = 'x' WHERE seq = 1")
    with pytest.raises(pymysql.err.OperationalError, match="DELETE command denied"):
        stack.sql("DELETE FROM audit_event WHERE seq = 1")
    with pytest.raises(pymysql.err.OperationalError, match="append-only"):
        stack.sql_owner("UPDATE audit_event SET detail = 'x' WHERE seq = 1")
    # the chain links: each prev_hash is the previous event's hash
    rows = stack.sql("SELECT seq, HEX(prev_hash), HEX(hash) FROM audit_event ORDER BY seq")
    for a, b in zip(rows, rows[1:]):
        assert b[1] == a[2] and b[0] == a[0] + 1
