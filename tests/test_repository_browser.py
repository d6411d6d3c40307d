"""The download page and the repository search in a real browser (headless Chromium, JavaScript
off), in English and in Traditional Chinese, at a desktop width and at 375 px. Screenshots go to
tests/artefacts/ (not committed)."""

import os

import pytest

from ecert_util import certificate_of, issue_via_web, new_application, openssl_csr
from test_ecert_browser import ARTEFACTS, CHROMIUM, playwright, walk  # noqa: F401 (the fixture)
from test_repository import accepted, pem_certs, spaced, unique


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_browser_download_and_search(stack, playwright, tmp_path, lang):  # noqa: F811
    _, _, _, _, _, revoked_serial = accepted(stack, unique("walk-rvk-%s" % lang))
    stack.ctl("revoke", revoked_serial, "--reason", "superseded")
    rejected = new_application(stack, unique("walk-rej-%s" % lang))
    rsub, _ = issue_via_web(stack, rejected)
    assert rsub.reject("wrong name").url.endswith("/closed")
    rejected_serial = certificate_of(stack, rejected)[2]
    name = unique("walk-%s" % lang)
    env = new_application(stack, name)
    _, csr = openssl_csr(str(tmp_path), name)
    job = {"base": stack.url("").rstrip("/"), "chromium": CHROMIUM, "outdir": ARTEFACTS, "lang": lang,
           "envelope": {k: env[k] for k in ("server_name", "reference", "pin")}, "csr": csr,
           "url_query": "https://%s/index.html" % name, "revoked_query": "0x" + revoked_serial.upper(),
           "unpublished_query": ":".join(rejected_serial[i:i + 2] for i in range(0, 40, 2))}
    report = walk(playwright, tmp_path, "walk_repository.js", job)
    steps = {s["step"]: s for s in report["steps"]}
    assert set(steps) == {"d1-download", "d2-download-375", "s1-by-url", "s2-revoked", "s3-revoked-375",
                          "s4-unpublished"}
    for s in steps.values():
        assert os.path.getsize(s["screenshot"]) > 10000
    # nothing wider than the phone's screen
    assert all(w <= 375 for w in report["widths"].values()), report["widths"]
    cert, _, serial_hex, status = certificate_of(stack, env)
    assert status == "accepted"
    full = report["files"]["#dl-fullchain"]
    assert full["name"] == name + "-fullchain.pem"
    with open(full["file"], "rb") as f:
        assert pem_certs(f.read())[0] == cert
    p7 = report["files"]["#dl-p7b-pem"]
    assert p7["name"] == name + ".pem.p7b"
    with open(p7["file"], "rb") as f:
        assert f.read().startswith(b"-----BEGIN PKCS7-----")
    assert report["by_url"]["serials"] == [spaced(serial_hex)] and report["by_url"]["pem_links"] == 1
    assert report["revoked"]["serials"] == [spaced(revoked_serial)] and report["revoked"]["pem_links"] == 1
    assert report["links"] == ["/ecert/", "/ecert/login"]
    u = report["unpublished"]
    assert u["serials"] == [spaced(rejected_serial)] and u["pem_links"] == 0 and rejected["server_name"] not in \
        steps["s4-unpublished"]["text"]
    d, s = steps["d1-download"]["text"], steps["s2-revoked"]["text"]
    if lang == "en":
        assert "SSLCertificateFile" in d and "ssl_certificate " in d and "Complete Certificate Request" in d
        assert "full chain" in d and "do not put it in your server's chain" in d
        assert steps["s1-by-url"]["h1"] == "Search and Download Certificate"
        assert report["by_url"]["states"] == ["Valid"] and report["by_url"]["count"].startswith("1 certificate found")
        assert report["revoked"]["states"][0].startswith("Revoked on ") and \
            report["revoked"]["states"][0].endswith("Reason: Superseded")
        assert "revoked before its certificate was published" in report["unpublished_note"]
    else:
        assert "SSLCertificateFile" in d and "完成憑證要求" in d and "中繼憑證授權單位" in d and "完整證書鏈" in d
        assert steps["s1-by-url"]["h1"] == "搜尋及下載證書"
        assert report["by_url"]["states"] == ["有效"] and "共找到 1 張證書" in report["by_url"]["count"]
        assert report["revoked"]["states"][0].startswith("已於 ") and \
            report["revoked"]["states"][0].endswith("撤銷理由：證書被取代")
        assert "證書公布前已被撤銷" in report["unpublished_note"]
    assert "e-Cert" in s or "電子證書" in s
