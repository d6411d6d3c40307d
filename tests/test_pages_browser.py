"""What a new applicant meets in the pages, walked in headless Chromium (JavaScript off) in
English and in Traditional Chinese: the site's root, a wildcard's names, a CSR error that
survives Back, reload and the language switch, a 375 px screen, stale tabs and the end of a
rejection. Screenshots go to tests/artefacts/ (not committed)."""

import os

import pytest
from cryptography import x509

from ecert_util import certificate_of, new_application, openssl_csr
from test_ecert_browser import ARTEFACTS, CHROMIUM, playwright, walk  # noqa: F401  (the fixture)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_pages_walk(stack, playwright, tmp_path, lang):  # noqa: F811
    tag = "%s-%d" % (lang, os.getpid() % 1000)
    base_name = "wild-%s.example.com" % tag
    wild = new_application(stack, "*." + base_name, "wildcard")
    second = new_application(stack, "stale-%s.example.com" % tag)
    _, csr = openssl_csr(str(tmp_path), "*." + base_name)
    _, csr2 = openssl_csr(str(tmp_path), second["server_name"])
    job = {"base": stack.url("").rstrip("/"), "chromium": CHROMIUM, "outdir": ARTEFACTS, "lang": lang,
           "wildcard": {k: wild[k] for k in ("server_name", "reference", "pin")},
           "second": {k: second[k] for k in ("server_name", "reference", "pin")},
           "bad_csr": "-----BEGIN NEW CERTIFICATE REQUEST-----\nnot base64!\n"
                      "-----END NEW CERTIFICATE REQUEST-----", "csr": csr, "csr2": csr2}
    report = walk(playwright, tmp_path, "walk_pages.js", job)
    for s in report["steps"]:
        assert os.path.getsize(s["screenshot"]) > 10000, s
    en = lang == "en"
    base = stack.url("/ecert")

    # 5: the site's root is the start page; it links every service and the repository
    assert report["start_url"] == base + "/"
    links = set(report["start_links"])
    assert {"/ecert/login", "/ecert/search", "/ecert/revoke", "/ecert/keycompromise",
            "/ecert/report"} <= links, links
    assert {"/root/root_ca_3.pem.crt", "/root/ecert_ssl_ca_3-17.crt", "/crl/eCertSCA3-17CRL1.crl",
            "/crl/RootCA3ARL.crl"} <= links, links
    assert any(link.startswith("http") and "cps" in link for link in links)

    # 1: the wildcard's base domain is shown before confirming, and in the certificate
    assert report["confirm_extra"] == base_name and report["confirm_extra_count"] == "1"
    assert report["cert_extra"] == base_name and report["cert_extra_count"] == "1"
    cert = certificate_of(stack, wild)[0]
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sorted(sans.get_values_for_type(x509.DNSName)) == sorted(["*." + base_name, base_name])

    # 10: the key requirement and the Guide's Back on the CSR page
    assert "2048" in report["csr_key_note"] and "RSA" in report["csr_key_note"]
    assert report["csr_back"] == "/ecert/confirm"

    # 4 and 9: the error is a GET page; reload, Back and the other language keep it
    assert report["error_url"] == base + "/csr"
    assert ("not a PEM" if en else "不是 PEM") in report["csr_error"]
    assert report["after_reload"] == {"posts": 0, "error": report["csr_error"], "kept": report["after_reload"]["kept"]}
    assert "not base64!" in report["after_reload"]["kept"]
    assert ("不是 PEM" if en else "not a PEM") in report["other_lang"]["error"]
    assert "not base64!" in report["other_lang"]["kept"]
    assert report["other_lang"]["lang"] == ("zh-Hant-HK" if en else "en")
    assert report["after_back"]["posts"] == 0 and report["after_back"]["url"].startswith(base + "/csr")

    # 9: 375 px: no sideways scrolling, the switch on one line, the reject select inside
    assert report["narrow_csr"] <= 375 and report["narrow_cert"] <= 375
    assert report["switch_height"] < 40
    assert report["select_right"] <= 375

    # 7: Reject in a second tab after Accept says what happened; nothing was rejected
    assert report["tab2"]["url"] == base + "/download"
    assert ("not rejected" if en else "沒有被拒絕") in report["tab2"]["notice"]
    assert certificate_of(stack, wild)[3] == "accepted"
    # a form of an earlier login: nothing changed, and where the application stands
    assert report["stale"]["url"] == base + "/certificate"
    assert ("before your latest login" if en else "最近一次登入之前") in report["stale"]["notice"]
    # the rejection as superseded: what happened, how renewal works, a way out that is not this page
    assert report["rejected"]["url"] == base + "/closed"
    assert ("superseded" if en else "已被取代") in report["rejected"]["notice"]
    assert ("4.6" in report["rejected"]["renewal"]) and ("new key pair" if en else "新的密碼匙對") in \
        report["rejected"]["renewal"]
    assert report["rejected"]["back"] == "/ecert/"
    assert certificate_of(stack, second)[3] == "revoked"
    reason = stack.sql("SELECT revocation_reason FROM certificate WHERE serial_hex = %s",
                       (certificate_of(stack, second)[2],))[0][0]
    assert reason == 4                                   # superseded (RFC 5280)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_pages_accessible(stack, playwright, tmp_path, lang):  # noqa: F811
    """axe-core: no WCAG 2.2 A/AA violation and AAA text contrast on every page, at 1100 and 375 px,
    and nothing wider than a 375 px screen."""
    env = new_application(stack, "axe-%s-%d.example.com" % (lang, os.getpid() % 1000))
    _, csr = openssl_csr(str(tmp_path), env["server_name"])
    job = {"base": stack.url("").rstrip("/"), "chromium": CHROMIUM, "outdir": ARTEFACTS, "lang": lang,
           "envelope": {k: env[k] for k in ("server_name", "reference", "pin")},
           "bad_csr": "-----BEGIN NEW CERTIFICATE REQUEST-----\nx\n-----END NEW CERTIFICATE REQUEST-----",
           "csr": csr}
    report = walk(playwright, tmp_path, "walk_axe.js", job, timeout=600)
    names = {p["name"] for p in report["pages"]}
    assert len(names) == 14 and len(report["pages"]) == 28, names
    bad = [(p["name"], p["width"], v["id"], v["nodes"]) for p in report["pages"] for v in p["violations"]]
    assert bad == [], bad
    wide = [(p["name"], p["scroll_width"]) for p in report["pages"] if p["width"] == 375 and p["scroll_width"] > 375]
    assert wide == [], wide
