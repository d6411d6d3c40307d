"""The subscriber flow in a real browser (headless Chromium driven by Playwright, with
JavaScript off), in English and in Traditional Chinese, as User Guide C shows it.
Screenshots go to tests/artefacts/ (not committed)."""

import json
import os
import re
import shutil
import subprocess

import pytest
from cryptography import x509

from ecert_util import new_application, openssl_csr, certificate_of

HERE = os.path.dirname(os.path.abspath(__file__))
BROWSER_DIR = os.path.join(HERE, "browser")
ARTEFACTS = os.path.join(HERE, "artefacts")
CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="module")
def playwright():
    if not (shutil.which("node") and os.path.exists(CHROMIUM)):
        pytest.fail("node and Debian's chromium are needed (make deps)")
    if not all(os.path.isdir(os.path.join(BROWSER_DIR, "node_modules", m)) for m in ("playwright-core", "axe-core")):
        r = subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=BROWSER_DIR, capture_output=True,
                           text=True, timeout=600)
        assert r.returncode == 0, r.stdout + r.stderr
    os.makedirs(ARTEFACTS, exist_ok=True)
    return BROWSER_DIR


def walk(playwright, tmp_path, script, job, timeout=300):
    """Runs tests/browser/SCRIPT with job as its JSON input; its report, which has no error."""
    jf = tmp_path / ("%s.json" % script)
    jf.write_text(json.dumps(job))
    r = subprocess.run(["node", os.path.join(playwright, script), str(jf)], capture_output=True, text=True,
                       timeout=timeout, cwd=playwright)
    report = json.loads(r.stdout or "{}")
    assert "error" not in report and r.returncode == 0, (report.get("error"), r.stderr)
    return report


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_browser_walk(stack, playwright, tmp_path, lang):
    name = "browser-%s-%d.example.com" % (lang, os.getpid() % 1000)
    env = new_application(stack, name, "multi-domain", extra=["www." + name],
                          org_zh="範例有限公司", branch_en="IT", branch_zh="資訊科技部")
    _, csr = openssl_csr(str(tmp_path), name)
    job = {"base": stack.url("").rstrip("/"), "chromium": CHROMIUM, "outdir": ARTEFACTS, "lang": lang,
           "envelope": {k: env[k] for k in ("server_name", "reference", "pin")},
           "bad_csr": "-----BEGIN NEW CERTIFICATE REQUEST-----\nnot base64!\n"
                      "-----END NEW CERTIFICATE REQUEST-----", "csr": csr}
    report = walk(playwright, tmp_path, "walk.js", job)
    steps = {s["step"]: s for s in report["steps"]}
    assert set(steps) == {"1-login", "2-confirm", "3-csr", "4-csr-error", "5-accept-reject", "6-download",
                          "7-search"}
    for s in steps.values():
        assert os.path.getsize(s["screenshot"]) > 10000
    if lang == "en":
        assert steps["1-login"]["h1"] == "Submission of Certificate Signing Request (CSR) - e-Cert (Server)"
        assert "Reference Number" in steps["1-login"]["text"]
        assert "Personal Data (Privacy) Ordinance" in steps["1-login"]["text"]
        assert "1 May 2025" in steps["1-login"]["text"]
        assert "Subscriber Details" in steps["2-confirm"]["text"] and "Confirm Opt with Chinese" in \
            steps["2-confirm"]["text"]
        assert "not a PEM" in steps["4-csr-error"]["text"]
        assert "Hongkong Post e-Cert SSL CA 3 - 17" in steps["5-accept-reject"]["text"]
        assert report["switch_text"] == "繁體中文"
        assert "(199 days)" in report["validity"]
    else:
        assert steps["1-login"]["h1"] == "遞交「簽發證書要求」(CSR) - 電子證書（伺服器）"
        assert "參考編號" in steps["1-login"]["text"] and "個人資料（私隱）條例" in steps["1-login"]["text"]
        assert "登記人資料" in steps["2-confirm"]["text"] and "確認並選用中文" in steps["2-confirm"]["text"]
        assert "不是 PEM" in steps["4-csr-error"]["text"]
        assert "範例有限公司" in steps["5-accept-reject"]["text"] and "資訊科技部" in steps["5-accept-reject"]["text"]
        assert report["switch_text"] == "English"
        assert "（199 日）" in report["validity"]
    assert "not base64!" in report["kept"]
    cert, _, serial_hex, status = certificate_of(stack, env)
    assert status == "accepted"
    spaced = " ".join(serial_hex[i:i + 2] for i in range(0, 40, 2))
    assert report["serial"] == spaced and report["found"] == [spaced]
    assert report["download"]["name"] == name + ".pem.crt"
    with open(report["download"]["file"], "rb") as f:
        assert x509.load_pem_x509_certificate(f.read()) == cert
    o = cert.subject.get_attributes_for_oid(x509.NameOID.ORGANIZATION_NAME)[0].value
    assert o == ("範例有限公司" if lang == "zh" else "Example Company Limited")


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_browser_revocation_and_key_compromise_report(stack, playwright, tmp_path, lang):
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import NameOID
    from ecert_util import issue_via_web, rsa_key
    name = "browser-rev-%s-%d.example.com" % (lang, os.getpid() % 1000)
    env = new_application(stack, name)
    sub, _ = issue_via_web(stack, env)
    sub.accept()
    _, _, serial_hex, _ = certificate_of(stack, env)
    leaked = rsa_key()
    proof = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(
        [x509.NameAttribute(NameOID.COMMON_NAME, "香港郵政的密碼匙資料被外洩證據")])).sign(
        leaked, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode()
    job = {"base": stack.url("").rstrip("/"), "chromium": CHROMIUM, "outdir": ARTEFACTS, "lang": lang,
           "envelope": {k: env[k] for k in ("server_name", "reference", "pin")}, "proof_csr": proof}
    report = walk(playwright, tmp_path, "walk_revoke.js", job)
    steps = {s["step"]: s for s in report["steps"]}
    assert set(steps) == {"r1-login", "r2-select", "r3-confirm", "r4-done", "k1-form", "k2-done"}
    for s in steps.values():
        assert os.path.getsize(s["screenshot"]) > 10000
    spaced = " ".join(serial_hex[i:i + 2] for i in range(0, 40, 2))
    assert report["listed"] == [spaced] and report["done_serial"] == spaced
    assert certificate_of(stack, env)[3] == "revoked"
    assert re.fullmatch(r"KCR-\d{8}", report["report_no"])
    if lang == "en":
        assert steps["r1-login"]["h1"] == "Revoke an e-Cert (Server)"
        assert "Superseded" in steps["r2-select"]["text"] and "Key compromise" in steps["r2-select"]["text"]
        assert "permanent" in steps["r3-confirm"]["text"]
        assert "has been revoked" in steps["r4-done"]["text"]
        assert "香港郵政的密碼匙資料被外洩證據" in steps["k1-form"]["text"]
        assert "key is now blocked" in steps["k2-done"]["text"]
    else:
        assert steps["r1-login"]["h1"] == "撤銷電子證書（伺服器）"
        assert "證書被取代" in steps["r2-select"]["text"] and "密碼匙資料外洩" in steps["r2-select"]["text"]
        assert "永久" in steps["r3-confirm"]["text"]
        assert "證書已撤銷" in steps["r4-done"]["text"]
        assert "報告已記錄" in steps["k2-done"]["text"]


@pytest.mark.skipif(os.geteuid() != 0, reason="the applicants' web sites listen on port 80")
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_browser_domain_validation(stack, playwright, tmp_path, lang):
    """Website Change, DNS Change and Constructed E-mail through the pages, in a real browser."""
    from web_sites import WebSites
    from ecert_util import Subscriber
    sites = WebSites(str(tmp_path), addr=stack.web_addr).start()
    try:
        tag = "%s%d" % (lang, os.getpid() % 1000)
        envs = {}
        for method, name, ctype in (("website", "www.bw-%s.com" % tag, "standard"),
                                    ("dns", "*.bd-%s.com" % tag, "wildcard"),
                                    ("email", "www.be-%s.hk" % tag, "standard")):
            env = new_application(stack, name, ctype, government=False, br_no="7%07d" % (hash(name) % 10 ** 7))
            envs[method] = env
            # the subscriber confirmed earlier and publishes what the page gave them
            sub = Subscriber(stack)
            sub.login(env)
            sub.confirm()
            if method == "website":
                stack.dns.add(name, "A", stack.web_addr)
                sites.route(name, "/.well-known/pki-validation/fileauth.txt", body=sub.get("/dcv/fileauth.txt").text)
            elif method == "dns":
                code = re.search(r'id="code">([a-z2-7]{32})<', sub.get("/dcv?method=dns").text).group(1)
                stack.dns.add(name[2:], "TXT", '"%s"' % code)
        envs["email"]["address"] = "webmaster@be-%s.hk" % tag
        stack.dns.settle()
        job = {"base": stack.url("").rstrip("/"), "chromium": CHROMIUM, "outdir": ARTEFACTS, "lang": lang,
               "mail_dir": stack.smtp.dir}
        for m, env in envs.items():
            job[m] = {k: env[k] for k in ("server_name", "reference", "pin")}
        job["email"]["address"] = envs["email"]["address"]
        jf = tmp_path / "job.json"
        jf.write_text(json.dumps(job))
        r = subprocess.run(["node", os.path.join(playwright, "walk_dcv.js"), str(jf)], capture_output=True,
                           text=True, timeout=300, cwd=playwright)
    finally:
        sites.stop()
    report = json.loads(r.stdout or "{}")
    assert "error" not in report and r.returncode == 0, (report.get("error"), r.stderr)
    steps = {s["step"]: s for s in report["steps"]}
    assert set(steps) == {"w1-methods", "w2-instructions", "w3-validated", "w4-csr", "d1-instructions",
                          "d2-validated", "e1-choose", "e2-sent", "e3-wrong", "e4-validated"}
    for s in steps.values():
        assert os.path.getsize(s["screenshot"]) > 10000
    assert report["states"]["website"] == [[envs["website"]["server_name"], "valid"]]
    assert report["states"]["dns"] == [[envs["dns"]["server_name"][2:], "valid"]]
    assert report["states"]["email"] == [[envs["email"]["server_name"], "valid"]]
    assert steps["w4-csr"]["url"].endswith("/ecert/csr")
    assert report["fileauth_href"].endswith("/ecert/dcv/fileauth.txt")
    assert "webmaster@be-%s.hk" % tag in report["addresses"]
    if lang == "en":
        assert steps["w1-methods"]["h1"] == "Domain Control Validation (DCV)"
        assert report["dns_methods"] == ["DNS Change", "Constructed E-mail"]
        t = steps["d1-instructions"]["text"]
        assert "Record Type" in t and "TXT" in t and "3600" in t and report["dns_value"] in t
        assert "within 30 days" in t
        assert "Validated" in steps["w3-validated"]["text"]
        assert "not the Validation Code" in steps["e3-wrong"]["text"]
        assert "CAA: issuance by Hongkong Post is allowed" in steps["e4-validated"]["text"]
    else:
        assert steps["w1-methods"]["h1"] == "網域控制驗證（DCV）"
        assert report["dns_methods"] == ["DNS 變更", "指定電郵"]
        t = steps["d1-instructions"]["text"]
        assert "記錄類型" in t and "TXT" in t and "3600" in t and "30 日內" in t
        assert "已驗證" in steps["w3-validated"]["text"]
        assert "這不是已發送的驗證碼" in steps["e3-wrong"]["text"]


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_browser_login_answers(stack, playwright, tmp_path, lang):
    env = new_application(stack, "browser-login-%s-%d.example.com" % (lang, os.getpid() % 1000))
    locked = new_application(stack, "browser-lock-%s-%d.example.com" % (lang, os.getpid() % 1000))
    pin = env["pin"].replace(" ", "")
    job = {"base": stack.url("").rstrip("/"), "chromium": CHROMIUM, "outdir": ARTEFACTS, "lang": lang,
           "envelope": {k: env[k] for k in ("server_name", "reference", "pin")},
           "locked": {k: locked[k] for k in ("server_name", "reference", "pin")},
           "wrong_pin": ("1" if pin[0] != "1" else "2") + pin[1:],
           "fullwidth_pin": "\u3000".join("".join(chr(0xff10 + int(c)) for c in pin[i:i + 4])
                                          for i in range(0, 16, 4))}
    jf = tmp_path / "job.json"
    jf.write_text(json.dumps(job))
    try:
        r = subprocess.run(["node", os.path.join(playwright, "walk_login.js"), str(jf)], capture_output=True,
                           text=True, timeout=300, cwd=playwright)
    finally:
        stack.sql("DELETE FROM login_attempt WHERE client_addr = '127.0.0.1' AND success = FALSE")
    report = json.loads(r.stdout or "{}")
    assert "error" not in report and r.returncode == 0, (report.get("error"), r.stderr)
    steps = {s["step"]: s for s in report["steps"]}
    assert set(steps) == {"l1-form", "l2-wrong", "l3-reload", "l4-switched", "l5-malformed", "l6-back",
                          "l7-confirm", "l8-logged-out", "l9-deep-link", "l10-locked", "l11-revoke-login"}
    for s in steps.values():
        assert os.path.getsize(s["screenshot"]) > 10000
    assert report["notice_first"] and report["revoke_notice_first"]
    other = "zh" if lang == "en" else "en"
    html_lang = {"en": "en", "zh": "zh-Hant-HK"}
    assert report["wrong"]["url"].endswith("/ecert/login") and report["reload"] == {
        "url": report["wrong"]["url"], "error": report["wrong"]["error"]}
    assert report["wrong"]["name"] == " https://%s/ " % env["server_name"].upper()
    assert report["switched"]["lang"] == html_lang[other] and report["switched"]["reference"] == env["reference"]
    assert report["malformed"]["invalid"] == "true" and report["malformed"]["describedby"] == "pin-error pin-hint"
    # Back: the page before, a GET (the language switched back), never a form posted again
    assert re.search(r"/ecert/login\?lang=%s$" % lang, report["back"]["url"]) and report["back"]["form"] == 1
    assert report["confirm_url"].endswith("/confirm")
    assert report["logged_out"]["url"].endswith("/ecert/login") and report["logged_out"]["lang"] == html_lang[other]
    assert report["deep"]["url"].endswith("/ecert/login")
    assert stack.sql("SELECT locked FROM application WHERE id = %s", (locked["id"],))[0][0] == 1
    en = {"wrong": "Attempts left before the PIN envelope with this server name and reference number is locked: 4.",
          "malformed": "The e-Cert PIN has 16 digits", "logged_out": "You have logged out.",
          "deep": "Your session has ended or you have not logged in", "locked": "telephone 2921 6633"}
    zh = {"wrong": "尚餘嘗試次數：4。", "malformed": "電子證書密碼為 16 位數字", "logged_out": "你已登出。",
          "deep": "你的連線時段已結束或你尚未登入", "locked": "致電 2921 6633"}
    mine, theirs = (en, zh) if lang == "en" else (zh, en)
    assert mine["wrong"] in report["wrong"]["error"] and theirs["wrong"] in report["switched"]["error"]
    assert mine["malformed"] in report["malformed"]["field"]
    assert theirs["logged_out"] == report["logged_out"]["info"] and theirs["deep"] in report["deep"]["info"]
    assert theirs["locked"] in report["locked"]
