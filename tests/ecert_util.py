"""Helpers for the subscriber-flow tests: applications, a subscriber's browser session
over plain HTTP (requests), keys and CSRs made with Python cryptography, and the
openssl command line as an independent oracle."""

import html
import os
import re
import subprocess
import tempfile

import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

# A session's token (64 hex digits) or an anonymous form's (8 of time and 64 of HMAC).
CSRF_RE = re.compile(r'name="csrf" value="([0-9a-f]{64}(?:[0-9a-f]{8})?)"')


def new_application(stack, server_name, cert_type="standard", government=True, extra=(),
                    org_en="Example Company Limited", org_zh=None, branch_en=None,
                    branch_zh=None, br_no="12345678", **kw):
    """Registers an application with ecertctl; returns its envelope as a dict."""
    args = ["application", "add", "--server-name", server_name, "--type", cert_type,
            "--email", "admin@example.com", "--br-no", br_no]
    if org_en:
        args += ["--org-en", org_en]
    if org_zh:
        args += ["--org-zh", org_zh]
    if branch_en:
        args += ["--branch-en", branch_en]
    if branch_zh:
        args += ["--branch-zh", branch_zh]
    if government:
        args.append("--government")
    for n in extra:
        args += ["--extra-name", n]
    if kw.get("renewal_of"):
        args += ["--renewal-of", kw["renewal_of"]]
    if cert_type == "ev":
        args += ["--ev-street", kw.get("ev_street", "2 Connaught Place, Central"),
                 "--ev-reg-no", kw.get("ev_reg_no", "12345678"),
                 "--ev-category", kw.get("ev_category", "Private Organization")]
    out = stack.ctl(*args).stdout
    env = {
        "reference": re.search(r"^\s*Reference Number:\s*(\d{9})\s*$", out, re.M).group(1),
        "pin": re.search(r"^\s*e-Cert PIN:\s*([\d ]{19})\s*$", out, re.M).group(1),
        "subscriber_ref": re.search(r"Subscriber Reference Number:\s*(\d{10})", out).group(1),
        "server_name": server_name,
        "type": cert_type,
    }
    env["id"] = stack.sql("SELECT id FROM application WHERE envelope_ref = %s",
                          (env["reference"],))[0][0]
    return env


class Subscriber:
    """One browser: cookies, the CSRF token of the last page, the last response."""

    def __init__(self, stack, instance=1, lang=None):
        self.stack = stack
        self.instance = instance
        self.s = requests.Session()
        if lang:
            self.s.headers["Accept-Language"] = lang
        self.csrf = None
        self.r = None

    def url(self, path):
        return self.stack.url("/ecert" + path, instance=self.instance)

    def _seen(self, r):
        self.r = r
        m = CSRF_RE.search(r.text) if r.headers.get("Content-Type", "").startswith("text/html") else None
        if m:
            self.csrf = m.group(1)
        return r

    def get(self, path, **kw):
        return self._seen(self.s.get(self.url(path), timeout=30, **kw))

    def post(self, path, data, csrf=True, **kw):
        data = dict(data)
        if csrf and self.csrf:
            data.setdefault("csrf", self.csrf)
        return self._seen(self.s.post(self.url(path), data=data, timeout=60, **kw))

    def login(self, env, server_name=None, pin=None, reference=None):
        self.get("/login")
        return self.post("/login", {
            "server_name": env["server_name"] if server_name is None else server_name,
            "reference": env["reference"] if reference is None else reference,
            "pin": env["pin"] if pin is None else pin,
        })

    def confirm(self, chinese=False):
        return self.post("/confirm", {"action": "confirm_zh" if chinese else "confirm"})

    def submit_csr(self, pem):
        if isinstance(pem, bytes):
            pem = pem.decode()
        return self.post("/csr", {"csr": pem})

    def accept(self):
        return self.post("/accept", {})

    def reject(self, reason="wrong organisation name", code="unspecified"):
        return self.post("/reject", {"reason": reason, "code": code})

    def cookie(self):
        return self.s.cookies.get("ecert_sid")


def page_error(r):
    """Text of the error paragraph of a page, or None."""
    m = re.search(r'<p class="error"[^>]*>(.*?)</p>', r.text, re.S)
    return html.unescape(re.sub(r"<[^>]+>", "", m.group(1))) if m else None


def notice(r):
    """Text of the page's notice (what happened to the form before it), or None."""
    m = re.search(r'<p class="notice-box"[^>]*>(.*?)</p>', r.text, re.S)
    return html.unescape(re.sub(r"<[^>]+>", "", m.group(1))) if m else None


def redirected_error(r, page):
    """A form that failed answers 303 to its page (post/redirect/get), which shows the message:
    the message's text. Checks the redirect and where it led."""
    assert [h.status_code for h in r.history][:1] == [303], (r.status_code, [h.status_code for h in r.history])
    assert r.status_code == 200 and r.request.method == "GET", (r.status_code, r.request.method)
    assert r.url.split("?")[0].endswith("/ecert" + page), (r.url, page)
    return page_error(r)


def error_code(r):
    m = re.search(r'data-code="([^"]+)"', r.text)
    return m.group(1) if m else None


def rsa_key(bits=2048):
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def make_csr(key, cn, header="NEW CERTIFICATE REQUEST", sans=(), extra_subject=(), hash_alg=None):
    """PEM CSR as IIS writes it (NEW CERTIFICATE REQUEST) or as openssl does."""
    attrs = [x509.NameAttribute(NameOID.COUNTRY_NAME, "HK"),
             x509.NameAttribute(NameOID.STATE_OR_PROVINCE_NAME, "Hong Kong"),
             x509.NameAttribute(NameOID.LOCALITY_NAME, "Hong Kong"),
             x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Example Company Limited"),
             x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "IT")]
    attrs += list(extra_subject)
    if cn is not None:
        attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
    b = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(attrs))
    if sans:
        b = b.add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in sans]), False)
    pem = b.sign(key, hash_alg or hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode()
    if header != "CERTIFICATE REQUEST":
        pem = pem.replace("CERTIFICATE REQUEST", header)
    return pem


def openssl_csr(tmpdir, cn, bits=2048):
    """A CSR made by `openssl req` (the reference tool); returns (key path, csr pem)."""
    key = os.path.join(tmpdir, "key-%s.pem" % re.sub(r"[^\w.-]", "_", cn))
    csr = key.replace("key-", "csr-")
    subprocess.run(["openssl", "req", "-new", "-newkey", "rsa:%d" % bits, "-nodes", "-keyout", key,
                    "-out", csr, "-subj", "/C=HK/ST=Hong Kong/L=Hong Kong/O=Example/CN=%s" % cn,
                    "-utf8"], check=True, capture_output=True, timeout=120)
    with open(csr) as f:
        return key, f.read()


def openssl(*args, input=None, check=True):
    r = subprocess.run(["openssl"] + list(args), input=input, capture_output=True, timeout=60,
                       text=isinstance(input, str) or input is None)
    if check and r.returncode != 0:
        raise AssertionError("openssl %s failed: %s %s" % (" ".join(args), r.stdout, r.stderr))
    return r


def verify_chain(stack, cert_pem, role="ssl"):
    """`openssl verify -CAfile root -untrusted subca`; returns the CompletedProcess."""
    root = os.path.join(stack.pubdir, "root", "root_ca_3.pem.crt")
    sub = os.path.join(stack.pubdir, "root", "ecert_ssl_ca_3-17.pem.crt" if role == "ssl"
                       else "ecert_ev_ssl_ca_3-17.pem.crt")
    with tempfile.NamedTemporaryFile("w", suffix=".pem", delete=False) as f:
        f.write(cert_pem)
        path = f.name
    try:
        return subprocess.run(["openssl", "verify", "-x509_strict", "-purpose", "sslserver",
                               "-CAfile", root, "-untrusted", sub, path],
                              capture_output=True, text=True, timeout=60)
    finally:
        os.unlink(path)


def issue_via_web(stack, env, key=None, cn=None, chinese=False):
    """login -> confirm -> CSR; returns (subscriber, certificate PEM)."""
    sub = Subscriber(stack)
    r = sub.login(env)
    assert r.status_code == 200 and "/confirm" in r.url, (r.status_code, r.url, page_error(r))
    r = sub.confirm(chinese=chinese)
    assert r.url.endswith("/csr"), (r.url, page_error(r))
    key = key or rsa_key()
    r = sub.submit_csr(make_csr(key, cn or env["server_name"]))
    assert r.status_code == 200 and r.url.endswith("/certificate"), (r.status_code, r.url, page_error(r))
    return sub, key


def certificate_of(stack, env):
    """(x509 certificate, issuer_id, serial_hex, status) of the application's certificate."""
    rows = stack.sql("SELECT HEX(cert_der), issuer_id, serial_hex, status FROM certificate "
                     "WHERE application_id = %s ORDER BY created_at DESC", (env["id"],))
    if not rows:
        return None
    der = bytes.fromhex(rows[0][0])
    return x509.load_der_x509_certificate(der), rows[0][1], rows[0][2], rows[0][3]
