"""The download page's files (User Guide C.7, D, E) and the public repository search (CPS 2.1,
4.4.2; BR 4.10.2), checked with independent oracles: openssl verify and pkcs7, Python
cryptography, and the media types of real HTTP answers."""

import datetime
import os
import re
import subprocess
import time

import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import NameOID

from ecert_util import certificate_of, issue_via_web, new_application, page_error

ROOT = "root_ca_3.pem.crt"
SUBCA = "ecert_ssl_ca_3-17.pem.crt"


def unique(prefix):
    return "%s%d.example.net" % (prefix, time.monotonic_ns() % 10**10)


def spaced(serial_hex):
    return " ".join(serial_hex[i:i + 2] for i in range(0, len(serial_hex), 2))


def accepted(stack, name):
    env = new_application(stack, name)
    sub, _ = issue_via_web(stack, env)
    r = sub.accept()
    assert r.url.endswith("/download"), page_error(r)
    cert, issuer_id, serial_hex, status = certificate_of(stack, env)
    assert status == "accepted"
    return env, sub, r, cert, issuer_id, serial_hex


def search(stack, q, lang=None):
    params = {"q": q}
    if lang:
        params["lang"] = lang
    return requests.get(stack.url("/ecert/search"), params=params, timeout=30)


def results(html):
    """[(serial, status text, has download links)] of a search page."""
    out = []
    for table in re.findall(r'<table class="details result">(.*?)</table>', html, re.S):
        serial = re.search(r'class="mono r-serial">([^<]+)<', table).group(1)
        status = re.search(r'class="r-status state-(\w+)">([^<]+)<', table)
        out.append((serial, status.group(1), status.group(2), 'class="r-pem"' in table))
    return out


def pem_certs(data, strict=True):
    data = data.encode() if isinstance(data, str) else data
    blocks = re.findall(rb"-----BEGIN CERTIFICATE-----\n.*?-----END CERTIFICATE-----\n", data, re.S)
    assert not strict or b"".join(blocks) == data, data          # nothing else in the file
    return [x509.load_pem_x509_certificate(b) for b in blocks]


def openssl_verify(tmp_path, leaf_pem, chain_pem, root_pem):
    files = {}
    for n, data in (("leaf", leaf_pem), ("chain", chain_pem), ("root", root_pem)):
        files[n] = str(tmp_path / ("%s.pem" % n))
        with open(files[n], "wb") as f:
            f.write(data)
    return subprocess.run(["openssl", "verify", "-x509_strict", "-purpose", "sslserver", "-CAfile", files["root"],
                           "-untrusted", files["chain"], files["leaf"]], capture_output=True, text=True, timeout=60)


def pkcs7_print(data, form):
    r = subprocess.run(["openssl", "pkcs7", "-inform", form, "-print_certs"], input=data, capture_output=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    return pem_certs(r.stdout, strict=False)


def download_all(sub):
    got = {}
    for f in ("cert.pem", "cert.crt", "chain.pem", "fullchain.pem", "cert.p7b", "cert.pem.p7b"):
        r = sub.s.get(sub.url("/download/" + f), timeout=30)
        assert r.status_code == 200, f
        got[f] = r
    return got


def check_files(tmp_path, stack, got, cert, chain):
    """Every file offered is what its label says, by openssl and cryptography."""
    root_pem = open(os.path.join(stack.pubdir, "root", ROOT), "rb").read()
    root = x509.load_pem_x509_certificate(root_pem)
    assert x509.load_pem_x509_certificate(got["cert.pem"].content) == cert
    assert got["cert.pem"].content.count(b"BEGIN CERTIFICATE") == 1
    assert x509.load_der_x509_certificate(got["cert.crt"].content) == cert
    assert pem_certs(got["chain.pem"].content) == chain and root not in chain
    full = got["fullchain.pem"].content
    assert pem_certs(full) == [cert] + chain
    v = openssl_verify(tmp_path, full, got["chain.pem"].content, root_pem)
    assert v.returncode == 0 and ": OK" in v.stdout, v.stdout + v.stderr
    # the full chain in the order a server sends it: each certificate issued by the next
    for child, parent in zip([cert] + chain, chain):
        assert child.issuer == parent.subject
    der_p7 = got["cert.p7b"].content
    pem_p7 = got["cert.pem.p7b"].content
    assert pem_p7.startswith(b"-----BEGIN PKCS7-----\n") and pem_p7.rstrip().endswith(b"-----END PKCS7-----")
    for certs in (pkcs7.load_der_pkcs7_certificates(der_p7), pkcs7.load_pem_pkcs7_certificates(pem_p7),
                  pkcs7_print(der_p7, "DER"), pkcs7_print(pem_p7, "PEM")):
        assert sorted(c.serial_number for c in certs) == sorted(c.serial_number for c in [cert] + chain)
    # the PEM form carries the same DER
    der_of_pem = subprocess.run(["openssl", "pkcs7", "-inform", "PEM", "-outform", "DER"], input=pem_p7,
                                capture_output=True, timeout=60).stdout
    assert der_of_pem == der_p7
    types = {f: r.headers["Content-Type"] for f, r in got.items()}
    assert types == {"cert.pem": "application/x-pem-file", "cert.crt": "application/pkix-cert",
                     "chain.pem": "application/x-pem-file", "fullchain.pem": "application/x-pem-file",
                     "cert.p7b": "application/pkcs7-mime", "cert.pem.p7b": "application/x-pem-file"}


def test_download_files_and_instructions(stack, tmp_path):
    name = unique("dl")
    env, sub, page, cert, issuer_id, serial_hex = accepted(stack, name)
    subca = x509.load_pem_x509_certificate(open(os.path.join(stack.pubdir, "root", SUBCA), "rb").read())
    got = download_all(sub)
    check_files(tmp_path, stack, got, cert, [subca])
    assert re.search(r'filename="%s-fullchain\.pem"' % re.escape(name), got["fullchain.pem"].headers[
        "Content-Disposition"])
    assert 'filename="%s.pem.p7b"' % name in got["cert.pem.p7b"].headers["Content-Disposition"]
    text = re.sub(r"<[^>]+>", "", page.text)
    # each file named by purpose; the leaf-only PEM is not offered for nginx
    assert "IIS" in text and "Apache httpd and nginx need the full chain" in text
    assert "SSLCertificateFile    /etc/ssl/certs/%s-fullchain.pem" % name in text
    assert "SSLCertificateKeyFile /etc/ssl/private/%s.key" % name in text
    assert "ssl_certificate     /etc/ssl/certs/%s-fullchain.pem;" % name in text
    assert "ssl_certificate_key /etc/ssl/private/%s.key;" % name in text
    assert "Intermediate Certification Authorities" in text and "Complete Certificate Request" in text
    assert "for reference only: do not put it in your server's chain" in text
    assert "BEGIN PKCS7" in text and 'id="dl-p7b-pem"' in page.text
    assert 'id="cross-link"' not in page.text and "cross certificate" not in text
    zh = sub.get("/download?lang=zh")
    assert "完整證書鏈" in zh.text and "中繼憑證授權單位" in zh.text and "請勿放入伺服器的證書鏈" in zh.text
    # the repository serves the certificate's own two files too, typed by content
    for ext, ctype in (("pem", "application/x-pem-file"), ("crt", "application/pkix-cert")):
        r = requests.get(stack.url("/ecert/search/%s/%s.%s" % (issuer_id, serial_hex, ext)), timeout=30)
        assert r.status_code == 200 and r.headers["Content-Type"] == ctype, ext


def test_published_files_media_types(stack):
    """The published CA certificates and CRLs, as files: PEM is not announced as DER."""
    want = {"/root/" + ROOT: "application/x-pem-file", "/root/" + SUBCA: "application/x-pem-file",
            "/root/root_ca_3.crt": "application/pkix-cert", "/root/ecert_ssl_ca_3-17.crt": "application/pkix-cert"}
    for path, ctype in want.items():
        r = requests.get(stack.url(path), timeout=30)
        assert r.status_code == 200 and r.headers["Content-Type"] == ctype, (path, r.headers.get("Content-Type"))
        if ctype == "application/pkix-cert":
            x509.load_der_x509_certificate(r.content)
        else:
            x509.load_pem_x509_certificate(r.content)
    crls = [f for f in os.listdir(os.path.join(stack.pubdir, "crl")) if f.endswith(".crl")]
    assert crls
    r = requests.get(stack.url("/crl/" + crls[0]), timeout=30)
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/pkix-crl"
    x509.load_der_x509_crl(r.content)


def test_search_title_links_inputs_and_status(stack):
    name = unique("srch")
    env, sub, _, cert, issuer_id, serial_hex = accepted(stack, name)
    sp = spaced(serial_hex)
    r = search(stack, name)
    assert r.status_code == 200
    assert re.search(r"<title>Search and Download Certificate - ", r.text)
    assert "<h1>Search and Download Certificate</h1>" in r.text
    assert 'href="/ecert/" id="start-link"' in r.text and 'href="/ecert/login" id="login-link"' in r.text
    assert '1 certificate found for "%s".' % name in r.text.replace("&#34;", '"')
    nb = (cert.not_valid_before + datetime.timedelta(hours=8)).strftime("%d/%m/%Y")
    na = (cert.not_valid_after + datetime.timedelta(hours=8)).strftime("%d/%m/%Y")
    assert "%s - %s (199 days)" % (nb, na) in r.text
    assert results(r.text) == [(sp, "valid", "Valid", True)]
    colons = ":".join(serial_hex[i:i + 2] for i in range(0, 40, 2))
    for q in ("0x" + serial_hex.upper(), "0X" + serial_hex, colons.upper(), " " + sp.upper() + " ",
              "serial=" + serial_hex.upper(), "https://%s/index.html?x=1" % name, "%s." % name,
              "HTTPS://%s:443/" % name.upper(), " %s " % name):
        r = search(stack, q)
        assert r.status_code == 200 and [x[0] for x in results(r.text)] == [sp], q
    for bad in ("https:///", "exa mple..com", "0x12:zz:34", "-.example.com"):
        r = search(stack, bad)
        assert r.status_code == 400 and 'id="error"' in r.text and "r-serial" not in r.text, bad
    r = search(stack, "nothing-%s" % name)
    assert 'No certificate found for' in r.text
    r = search(stack, "nothing-%s" % name, "zh")
    assert "找不到「nothing-%s」的證書。" % name in r.text and "<h1>搜尋及下載證書</h1>" in r.text
    r = search(stack, name, "zh")
    assert "「%s」共找到 1 張證書。" % name in r.text and "有效" in r.text and "（199 日）" in r.text
    # expired: the date it ended (not_after moved into the past)
    stack.sql("UPDATE certificate SET not_after = '2026-01-02 03:00:00' WHERE issuer_id = %s AND serial_hex = %s",
              (issuer_id, serial_hex))
    assert results(search(stack, serial_hex).text) == [(sp, "expired", "Expired on 02/01/2026", True)]


def test_search_revoked_and_unpublished(stack):
    # published then revoked: still listed, with the date and the reason, still downloadable
    name = unique("rvk")
    env, sub, _, cert, issuer_id, serial_hex = accepted(stack, name)
    stack.ctl("revoke", serial_hex, "--reason", "keyCompromise")
    at = stack.sql("SELECT revoked_at FROM certificate WHERE issuer_id = %s AND serial_hex = %s",
                   (issuer_id, serial_hex))[0][0]
    day = (at + datetime.timedelta(hours=8)).strftime("%d/%m/%Y")
    want = [(spaced(serial_hex), "revoked", "Revoked on %s. Reason: Key compromise" % day, True)]
    assert results(search(stack, name).text) == want
    assert results(search(stack, serial_hex).text) == want
    zh = search(stack, name, "zh").text
    assert "已於 %s 撤銷。撤銷理由：密碼匙資料外洩" % day in zh
    r = requests.get(stack.url("/ecert/search/%s/%s.pem" % (issuer_id, serial_hex)), timeout=30)
    assert r.status_code == 200 and x509.load_pem_x509_certificate(r.content) == cert

    # pending (issued, not accepted): not published (CPS 4.4.2), by name or serial
    pname = unique("pend")
    penv = new_application(stack, pname)
    psub, _ = issue_via_web(stack, penv)
    _, p_issuer, p_serial, p_status = certificate_of(stack, penv)
    assert p_status == "issued"
    for q in (pname, p_serial):
        assert results(search(stack, q).text) == [], q
    assert requests.get(stack.url("/ecert/search/%s/%s.pem" % (p_issuer, p_serial)), timeout=30).status_code == 404

    # rejected: revoked without ever being published: by serial its status only
    r = psub.reject("the organisation name is wrong")
    assert r.url.endswith("/closed"), page_error(r)
    assert results(search(stack, pname).text) == []
    r = search(stack, p_serial)
    [(serial, state, _, links)] = results(r.text)
    assert serial == spaced(p_serial) and state == "revoked" and not links
    assert "r-unpublished" in r.text and pname not in r.text and "r-validity" not in r.text
    assert requests.get(stack.url("/ecert/search/%s/%s.pem" % (p_issuer, p_serial)), timeout=30).status_code == 404

    # a revoked signing record: the row holds a TBSCertificate, no application, no names
    tbs_serial = "7" + os.urandom(19).hex()[1:]
    stack.sql("INSERT INTO certificate (serial_hex, issuer_id, application_id, server_name, spki_sha256, cert_der, "
              "not_before, not_after, status, revoked_at) VALUES (%s, %s, NULL, %s, UNHEX(REPEAT('ab', 32)), "
              "UNHEX('3003020101'), NOW(), NOW() + INTERVAL 199 DAY, 'revoked', NOW())",
              (tbs_serial, p_issuer, "never-" + pname))
    r = search(stack, "0x" + tbs_serial)
    [(serial, state, status, links)] = results(r.text)
    assert serial == spaced(tbs_serial) and state == "revoked" and not links
    assert "Reason: No reason given" in status and "never-" not in r.text
    assert results(search(stack, "never-" + pname).text) == []
    for ext in ("pem", "crt"):
        assert requests.get(stack.url("/ecert/search/%s/%s.%s" % (p_issuer, tbs_serial, ext)),
                            timeout=30).status_code == 404


def make_cross(stack, tmp_path):
    """A cross certificate of Root CA 3 by another root, both made here with Python cryptography:
    the other root's certificate and the cross (subject and key of Root CA 3)."""
    root = x509.load_pem_x509_certificate(open(os.path.join(stack.pubdir, "root", ROOT), "rb").read())
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    gs_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test Cross Root CA - R3"),
                         x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Test Cross Root")])
    now = datetime.datetime.now(datetime.timezone.utc)

    def ca(subject, pub, serial):
        return (x509.CertificateBuilder().subject_name(subject).issuer_name(gs_name).public_key(pub)
                .serial_number(serial).not_valid_before(now - datetime.timedelta(days=1))
                .not_valid_after(now + datetime.timedelta(days=3650))
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(pub), critical=False)
                .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()), critical=False)
                .sign(key, hashes.SHA256()))
    other = ca(gs_name, key.public_key(), 1)
    cross = ca(root.subject, root.public_key(), x509.random_serial_number())
    cross_path = os.path.join(stack.pubdir, "root", "root_ca_3_x_test_r3.pem.crt")
    with open(cross_path, "wb") as f:
        f.write(cross.public_bytes(serialization.Encoding.PEM))
    other_path = tmp_path / "other_root.pem"
    other_path.write_bytes(other.public_bytes(serialization.Encoding.PEM))
    return cross_path, cross, other_path


def test_cross_certificate(stack, tmp_path):
    """ECertCrossCertificate: the chain files and both PKCS#7 carry it after the Sub CA, the page
    names it and its issuer; the full chain verifies up to either root."""
    cross_path, cross, other_path = make_cross(stack, tmp_path)
    saved = stack.extra_conf
    stack.extra_conf = (saved + "\n" if saved else "") + 'ECertCrossCertificate "%s"\n' % cross_path
    stack.restart_httpd()
    try:
        name = unique("cross")
        env, sub, page, cert, _, _ = accepted(stack, name)
        subca = x509.load_pem_x509_certificate(open(os.path.join(stack.pubdir, "root", SUBCA), "rb").read())
        got = download_all(sub)
        check_files(tmp_path, stack, got, cert, [subca, cross])
        v = openssl_verify(tmp_path, got["fullchain.pem"].content, got["chain.pem"].content, other_path.read_bytes())
        assert v.returncode == 0 and ": OK" in v.stdout, v.stdout + v.stderr
        assert 'href="/root/root_ca_3_x_test_r3.pem.crt" id="cross-link"' in page.text
        assert 'issued by "Test Cross Root CA - R3"' in page.text
        assert "followed by the cross certificate" in page.text and "root_ca_3_x_test_r3.pem.crt</a>" in page.text
        r = requests.get(stack.url("/root/root_ca_3_x_test_r3.pem.crt"), timeout=30)
        assert r.headers["Content-Type"] == "application/x-pem-file"
        assert x509.load_pem_x509_certificate(r.content) == cross
    finally:
        stack.extra_conf = saved
        stack.restart_httpd()
        os.unlink(cross_path)


def test_publication_backfill(stack):
    """sql/017 on rows made before it: a revoked certificate is published when its acceptance's
    audit event says so, a rejected one is not; an accepted one always is."""
    env, _, _, _, issuer_id, serial_hex = accepted(stack, unique("bf-rvk"))
    stack.ctl("revoke", serial_hex, "--reason", "cessationOfOperation")
    accepted_at = stack.sql("SELECT MIN(at) FROM audit_event WHERE event = 'certificate.accept' AND detail LIKE %s",
                            ("%serial " + serial_hex + " %",))[0][0]
    renv = new_application(stack, unique("bf-rej"))
    rsub, _ = issue_via_web(stack, renv)
    assert rsub.reject("wrong").url.endswith("/closed")
    r_serial = certificate_of(stack, renv)[2]
    aenv, _, _, _, a_issuer, a_serial = accepted(stack, unique("bf-acc"))
    keys = ((issuer_id, serial_hex), (a_issuer, a_serial))
    for k in keys:
        stack.sql("UPDATE certificate SET published_at = NULL WHERE issuer_id = %s AND serial_hex = %s", k)
    assert results(search(stack, serial_hex).text)[0][3] is False        # unpublished now
    with open(os.path.join(stack.sqldir, "017_repository.sql"), "rb") as f:
        stack.mysql_admin(db="ecert", stdin=f)
    got = stack.sql("SELECT published_at FROM certificate WHERE issuer_id = %s AND serial_hex = %s", keys[0])[0][0]
    assert got is not None and abs((got - accepted_at.replace(microsecond=0)).total_seconds()) <= 1
    assert stack.sql("SELECT published_at IS NOT NULL FROM certificate WHERE issuer_id = %s AND serial_hex = %s",
                     keys[1])[0][0] == 1
    assert stack.sql("SELECT published_at FROM certificate WHERE serial_hex = %s", (r_serial,))[0][0] is None
    assert results(search(stack, serial_hex).text)[0][3] is True
