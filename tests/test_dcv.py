"""Domain control validation (R-3; User Guide C.4; BR 3.2.2.4.4, .7, .18, 4.2.1) and CAA (R-4;
RFC 8659, RFC 8657; BR 3.2.2.8) against real servers: the stack's Knot DNS signing a test root
(delegated zones: com. and hk. signed, broken-dnssec.com. bogus, unsigned-zone.com. insecure),
Python web servers on ports 80 and 443 of stack.web_addr (the network lab's web address, else
127.0.80.1) playing the applicants' sites, and the SMTP relay capturing the validation mails.
Every check goes through httpd's DCV worker; pages are read as a browser would, certificates
checked with openssl and Python cryptography."""

import datetime
import hashlib
import html
import os
import re
import time

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from ecert_util import (Subscriber, certificate_of, make_csr, new_application, page_error, rsa_key,
                        verify_chain)
from web_sites import WebSites

PATH = "/.well-known/pki-validation/fileauth.txt"


@pytest.fixture(autouse=True)
def _delegated_lab(stack):
    """The zones these tests use (signed, bogus, unsigned) are delegations, served on port 53;
    the web sites listen on 80 and 443. Both need root (as CI runs)."""
    if not stack.dns.delegated or os.geteuid() != 0:
        pytest.skip("the delegated test DNS (port 53) and the web sites (80, 443) need root")

_n = [0]


def unique(label, zone="com"):
    _n[0] += 1
    return "%s%d-%d.%s" % (label, int(time.time() * 1000) % 1000000, _n[0], zone)


def org():
    _n[0] += 1
    return "%08d" % (int(time.time() * 1000 + _n[0]) % 10 ** 8)


@pytest.fixture(scope="module")
def sites(stack, tmp_path_factory):
    s = WebSites(str(tmp_path_factory.mktemp("sites")), addr=stack.web_addr).start()
    yield s
    s.stop()


def dns(stack):
    return stack.dns


def site_name(stack, name, addr=None):
    """name's A record: the web sites' address."""
    dns(stack).add(name, "A", addr or stack.web_addr)


def start(stack, name, cert_type="standard", extra=(), br_no=None, step="/dcv"):
    """A non-government application logged in and confirmed: at /dcv."""
    env = new_application(stack, name, cert_type=cert_type, government=False, extra=extra,
                          br_no=br_no or org())
    sub = Subscriber(stack)
    sub.login(env)
    r = sub.confirm()
    assert r.url.endswith(step), (r.url, page_error(r))
    return env, sub


def rows(r):
    """{name: (state, reason, caa)} of the status table."""
    out = {}
    for m in re.finditer(r'<tr class="dcv-name" data-name="([^"]+)" data-state="(\w+)"'
                         r'(?: data-reason="([\w-]+)")?(?: data-caa="(\w+)")?>', r.text):
        out[m.group(1)] = (m.group(2), m.group(3), m.group(4))
    return out


def code_of(r):
    m = re.search(r'id="code">([a-z2-7]{32})<', r.text)
    return m.group(1) if m else None


def wait_checked(sub, method, timeout=40):
    """Polls /dcv as the page's own refresh does until the check is over."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = sub.get("/dcv?method=" + method)
        if 'id="checking"' not in r.text:
            return r
        assert '<meta http-equiv="refresh" content="2">' in r.text
        time.sleep(0.3)
    raise AssertionError("the check did not finish in %d s" % timeout)


def check(sub, method):
    sub.stack.dns.settle()
    sub.get("/dcv?method=" + method)
    r = sub.post("/dcv/check", {"method": method})
    assert r.status_code == 200
    return wait_checked(sub, method)


def issue(sub, env, key=None):
    r = sub.get("/dcv")
    assert r.url.endswith("/dcv") and 'id="dcv-continue"' in r.text, rows(r)
    r = sub.get("/csr")
    assert r.url.endswith("/csr"), r.url
    r = sub.submit_csr(make_csr(key or rsa_key(), env["server_name"]))
    return r


def evidence(stack, env):
    return sorted((n, k) for n, k in stack.sql(
        "SELECT e.name, e.kind FROM issuance_evidence e JOIN certificate c ON c.issuer_id = e.issuer_id "
        "AND c.serial_hex = e.serial_hex WHERE c.application_id = %s", (env["id"],)))


# ------------------------------------------------------------------ names (BR 3.2.2.6, 4.2.2)

@pytest.mark.parametrize("name,wildcard,why", [
    ("*.co.uk", True, "public suffix co.uk"),
    ("*.com.hk", True, "public suffix com.hk"),
    ("*.github.io", True, "public suffix github.io"),
    ("example.internal", False, "internal or reserved"),
    ("localhost.localdomain", False, "internal or reserved"),
    ("www.example.test", False, "internal or reserved"),
    ("host.onion", False, "special-use"),
    ("4.3.2.1.in-addr.arpa", False, "special-use"),
    ("com.hk", False, "is a public suffix"),
])
def test_names_refused_at_application(stack, name, wildcard, why):
    before = stack.sql("SELECT COUNT(*) FROM application")[0][0]
    r = stack.ctl("application", "add", "--server-name", name, "--type", "wildcard" if wildcard else "standard",
                  "--org-en", "Bad Names Ltd", "--email", "a@example.com", check=False)
    assert r.returncode != 0 and why in r.stderr, r.stderr
    assert "dcv." not in r.stderr and "names." not in r.stderr
    assert stack.sql("SELECT COUNT(*) FROM application")[0][0] == before


def test_internal_extra_name_refused(stack):
    r = stack.ctl("application", "add", "--server-name", unique("www"), "--type", "multi-domain",
                  "--extra-name", "intranet.corp", "--org-en", "X Ltd", "--email", "a@example.com", check=False)
    assert r.returncode != 0 and "additional server name: 'intranet.corp' is an internal or reserved name" in r.stderr


def test_registered_names_accepted(stack):
    for name, t in (("*.shop.com.hk", "wildcard"), ("www.example.co.uk", "standard"),
                    ("*.user.github.io", "wildcard")):
        r = stack.ctl("application", "add", "--server-name", name, "--type", t, "--org-en", "Good Ltd",
                      "--email", "a@example.com", check=False)
        assert r.returncode == 0, r.stderr


# ------------------------------------------------------------------ which methods

def test_only_applicable_methods_are_offered(stack):
    _, sub = start(stack, unique("std"))
    r = sub.get("/dcv")
    assert all('id="m-%s"' % m in r.text for m in ("website", "dns", "email"))
    _, sub = start(stack, "*." + unique("wild"), cert_type="wildcard")
    r = sub.get("/dcv")
    assert 'id="m-website"' not in r.text and 'id="m-dns"' in r.text and 'id="m-email"' in r.text
    assert 'not applicable to e-Cert (Server) with "Wildcard" feature' in html.unescape(r.text)
    _, sub = start(stack, unique("multi"), cert_type="multi-domain", extra=[unique("alt")])
    r = sub.get("/dcv")
    assert 'id="m-website"' in r.text and 'id="m-dns"' in r.text and 'id="m-email"' not in r.text
    # a method that does not apply is refused when posted anyway
    r = sub.post("/dcv/email/send", {"address": "admin@example.com"})
    assert 'data-note="not-offered"' in r.text
    # no CSR before validation
    assert sub.get("/csr").url.endswith("/dcv")


# ------------------------------------------------------------------ DNS Change (BR 3.2.2.4.7)

def test_dns_change_standard_passes_and_issues(stack):
    name = unique("www")
    env, sub = start(stack, name)
    r = sub.get("/dcv?method=dns")
    code = code_of(r)
    assert code and len(code) == 32            # 160 bits in base32
    # the Guide's screen: Record Type TXT, Host = the name, Value = the code, TTL 3600
    assert re.search(r"<th scope=\"row\">Record Type</th><td>TXT</td>", r.text)
    assert '<td class="mono dns-host">%s</td>' % name in r.text and "<td>3600</td>" in r.text
    assert rows(r)[name][0] == "pending"
    dns(stack).add(name, "TXT", '"%s"' % code)
    r = check(sub, "dns")
    assert rows(r)[name] == ("valid", None, "permit"), rows(r)
    r = issue(sub, env)
    assert r.url.endswith("/certificate"), page_error(r)
    cert = certificate_of(stack, env)
    assert cert and cert[3] == "issued"
    assert evidence(stack, env) == [(name, "caa"), (name, "dcv")]
    at = stack.sql("SELECT method, passed, reason, dns, HEX(code_sha256) FROM dcv_attempt WHERE application_id = %s",
                   (env["id"],))
    assert at[0][:3] == ("dns", 1, "passed")
    assert "TXT rcode 0 secure" in at[0][3] and code in at[0][3]
    assert at[0][4].lower() == hashlib.sha256(code.encode()).hexdigest()
    ev = stack.sql("SELECT event FROM audit_event WHERE detail LIKE %s", ("%%envelope %s%%" % env["reference"],))
    assert {"dcv.check", "dcv.pass", "certificate.issue"} <= {e[0] for e in ev}


def test_dns_change_failures_then_underscore_label(stack):
    name = unique("www")
    env, sub = start(stack, name)
    code = code_of(sub.get("/dcv?method=dns"))
    r = check(sub, "dns")
    assert rows(r)[name][:2] == ("failed", "not-found")
    assert "there is no TXT record at %s" % name in r.text
    dns(stack).add(name, "TXT", '"v=spf1 -all"')
    r = check(sub, "dns")
    assert rows(r)[name][:2] == ("failed", "code-absent")
    dns(stack).add("_dnsauth." + name, "TXT", '"%s"' % code)
    r = check(sub, "dns")
    assert rows(r)[name][0] == "valid"
    assert certificate_of(stack, env) is None


def test_dns_change_bogus_and_insecure(stack):
    bogus = unique("www", "broken-dnssec.com")
    env, sub = start(stack, bogus)
    code = code_of(sub.get("/dcv?method=dns"))
    dns(stack).add(bogus, "TXT", '"%s"' % code)
    r = check(sub, "dns")
    assert rows(r)[bogus][:2] == ("failed", "bogus"), rows(r)
    assert "failed DNSSEC validation (bogus)" in r.text
    assert sub.get("/csr").url.endswith("/dcv")
    # an unsigned zone is usable (BR 3.2.2.4: DNSSEC is validated where it is deployed)
    insecure = unique("www", "unsigned-zone.com")
    env, sub = start(stack, insecure)
    code = code_of(sub.get("/dcv?method=dns"))
    dns(stack).add(insecure, "TXT", '"%s"' % code)
    r = check(sub, "dns")
    assert rows(r)[insecure][0] == "valid"
    at = stack.sql("SELECT dns FROM dcv_attempt WHERE application_id = %s AND passed", (env["id"],))[0][0]
    assert "insecure" in at


def test_dns_change_wildcard_and_ev(stack):
    base = unique("wild")
    env, sub = start(stack, "*." + base, cert_type="wildcard")
    r = sub.get("/dcv?method=dns")
    assert list(rows(r)) == [base]                       # validated at the base domain
    dns(stack).add(base, "TXT", '"%s"' % code_of(r))
    r = check(sub, "dns")
    assert rows(r)[base][0] == "valid"
    r = issue(sub, env)
    assert r.url.endswith("/certificate"), page_error(r)
    cert = certificate_of(stack, env)[0]
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName)
    assert sans == ["*." + base, base]
    assert evidence(stack, env) == sorted([("*." + base, "caa"), (base, "caa"), (base, "dcv")])
    # EV, two names, one of them validated through _dnsauth
    n1, n2 = unique("ev"), unique("ev2", "hk")
    env, sub = start(stack, n1, cert_type="ev", extra=[n2])
    code = code_of(sub.get("/dcv?method=dns"))
    dns(stack).add(n1, "TXT", '"%s"' % code)
    dns(stack).add("_dnsauth." + n2, "TXT", '"%s"' % code)
    r = check(sub, "dns")
    assert {n: s[0] for n, s in rows(r).items()} == {n1: "valid", n2: "valid"}
    r = issue(sub, env)
    assert r.url.endswith("/certificate"), page_error(r)
    pem = certificate_of(stack, env)[0].public_bytes(Encoding.PEM).decode()
    assert verify_chain(stack, pem, role="ev").returncode == 0


def test_dns_change_multi_domain_one_bad_of_three_then_website_ev(stack, sites):
    n1, n2, n3 = unique("md"), unique("md"), unique("md", "hk")
    env, sub = start(stack, n1, cert_type="multi-domain", extra=[n2, n3])
    code = code_of(sub.get("/dcv?method=dns"))
    dns(stack).add(n1, "TXT", '"%s"' % code)
    dns(stack).add(n3, "TXT", '"%s"' % code)
    r = check(sub, "dns")
    st = rows(r)
    assert (st[n1][0], st[n2][:2], st[n3][0]) == ("valid", ("failed", "not-found"), "valid"), st
    assert sub.get("/csr").url.endswith("/dcv")
    r = issue_refused_ctl(stack, env)
    assert "control of %s has not been validated" % n2 in r.stderr
    # EV by Website Change
    e1, e2 = unique("evw"), unique("evw")
    env, sub = start(stack, e1, cert_type="ev", extra=[e2])
    sub.get("/dcv?method=website")
    body = sub.get("/dcv/fileauth.txt").text
    for n in (e1, e2):
        site_name(stack, n)
        sites.route(n, PATH, body=body)
    r = check(sub, "website")
    assert all(v[0] == "valid" for v in rows(r).values()), rows(r)
    assert issue(sub, env).url.endswith("/certificate")


def test_lookup_failure_refuses(stack):
    """A zone whose server does not answer: the TXT check and CAA both refuse, with the reason."""
    lame = unique("lame")
    d = dns(stack)
    d.set("com.", lame, "NS", "ns." + lame + ".", ttl=3600)
    quiet = stack.net.dead_addr if stack.net else "127.0.53.254"     # nothing listens there
    d.set("com.", "ns." + lame, "A", quiet, ttl=3600)
    env, sub = start(stack, "www." + lame)
    r = check(sub, "dns")
    assert rows(r)["www." + lame][:2] == ("failed", "dns"), rows(r)
    assert caa(stack, "www." + lame)["www." + lame][0] == "failed"


# ------------------------------------------------------------------ Website Change (BR 3.2.2.4.18)

def test_website_change_multi_domain_one_bad_of_three(stack, sites):
    n1, n2, n3 = unique("web"), unique("web"), unique("web")
    env, sub = start(stack, n1, cert_type="multi-domain", extra=[n2, n3])
    r = sub.get("/dcv?method=website")
    assert all("http://%s%s" % (n, PATH) in r.text for n in (n1, n2, n3))
    f = sub.get("/dcv/fileauth.txt")
    assert f.headers["Content-Disposition"] == 'attachment; filename="fileauth.txt"'
    code = f.text.strip()
    assert re.fullmatch(r"[a-z2-7]{32}", code)
    for n in (n1, n2, n3):
        site_name(stack, n)
    sites.route(n1, PATH, body=f.text)
    sites.route(n2, PATH, body="some text\n" + code + "\nmore\n")     # anywhere in the body
    r = check(sub, "website")
    st = rows(r)
    assert st[n1][0] == "valid" and st[n2][0] == "valid" and st[n3][:2] == ("failed", "not-found"), st
    assert "http://%s%s was not found (404)" % (n3, PATH) in r.text
    assert 'id="dcv-continue"' not in r.text and sub.get("/csr").url.endswith("/dcv")
    # the CA never put the code in a URL it requested
    assert not [q for q in sites.requests if code in q[2]]
    assert any(q[1] == n1 and q[3].startswith("e-Cert-DCV/") for q in sites.requests)
    # the last name fixed: only it is fetched again
    seen = len([q for q in sites.requests if q[1] == n1])
    sites.route(n3, PATH, body=f.text)
    r = check(sub, "website")
    assert all(s[0] == "valid" for s in rows(r).values())
    assert len([q for q in sites.requests if q[1] == n1]) == seen
    assert issue(sub, env).url.endswith("/certificate")
    url = stack.sql("SELECT url FROM dcv_attempt WHERE application_id = %s AND name = %s AND passed",
                    (env["id"], n3))[0][0]
    assert url == "GET http://%s%s -> 200 (%s)" % (n3, PATH, stack.web_addr)


@pytest.mark.parametrize("case,reason", [
    ("https", None), ("301-http", None), ("307", None), ("308", None),
    ("303", "redirect"), ("port", "redirect"), ("ftp", "redirect"), ("loop", "redirect"),
    ("ip", "redirect"), ("empty", "code-absent"), ("500", "http"), ("big", "too-large"),
    ("code-in-url", "redirect"),
])
def test_website_change_redirects_and_bodies(stack, sites, case, reason):
    name = unique("rd")
    env, sub = start(stack, name)
    sub.get("/dcv?method=website")
    body = sub.get("/dcv/fileauth.txt").text
    code = body.strip()
    site_name(stack, name)
    other = unique("moved")
    site_name(stack, other)
    loc = {
        "https": "https://%s/secure.txt" % name,
        "301-http": "http://%s/elsewhere.txt" % other,
        "307": "http://%s/elsewhere.txt" % other,
        "308": "/relative.txt",
        "303": "http://%s/elsewhere.txt" % other,
        "port": "http://%s:8080/elsewhere.txt" % other,
        "ftp": "ftp://%s/elsewhere.txt" % other,
        "ip": "http://%s/elsewhere.txt" % stack.web_addr,
        "code-in-url": "http://%s/%s.txt" % (other, code),
    }.get(case)
    status = {"https": 302, "301-http": 301, "307": 307, "308": 308, "303": 303, "port": 302, "ftp": 301,
              "ip": 302, "code-in-url": 302}.get(case)
    if case == "loop":
        sites.route(name, PATH, status=302, headers={"Location": "http://%s/a" % name})
        sites.route(name, "/a", status=302, headers={"Location": "http://%s/b" % name})
        sites.route(name, "/b", status=302, headers={"Location": "http://%s/a" % name})
    elif case == "empty":
        sites.route(name, PATH, body="\n")
    elif case == "500":
        sites.route(name, PATH, status=500, body=body)
    elif case == "big":
        sites.route(name, PATH, body=body + "x" * 70000)
    else:
        sites.route(name, PATH, status=status, headers={"Location": loc})
        sites.route(name, "/relative.txt", body=body)
        sites.route(name, "/secure.txt", body=body)
        sites.route(other, "/elsewhere.txt", body=body)
    r = check(sub, "website")
    st = rows(r)[name]
    if reason is None:
        assert st[0] == "valid", (st, r.text[-3000:])
        if case == "https":
            assert any(q[0] == 443 and q[1] == name and q[2] == "/secure.txt" for q in sites.requests)
    else:
        assert st[:2] == ("failed", reason), st
    assert certificate_of(stack, env) is None


def test_website_change_timeout(stack, sites):
    name = unique("slow")
    env, sub = start(stack, name)
    sub.get("/dcv?method=website")
    body = sub.get("/dcv/fileauth.txt").text
    site_name(stack, name)
    sites.route(name, PATH, body=body, delay=17)
    r = check(sub, "website")
    assert rows(r)[name][:2] == ("failed", "timeout")


def test_website_change_refuses_non_public_address_by_default(stack, sites):
    """With the production default (ECertDCVPrivateAddresses refuse) a name on the web sites'
    address (the lab's 10.X.0.80, or 127.0.80.1: neither is global unicast) is never fetched:
    ecertctl runs the check with this stack's file minus that line."""
    name = unique("ssrf")
    env, sub = start(stack, name)
    sub.get("/dcv?method=website")
    site_name(stack, name)
    sites.route(name, PATH, body=sub.get("/dcv/fileauth.txt").text)
    conf = open(stack.ecert_conf).read().replace("ECertDCVPrivateAddresses allow", "")
    path = stack.ecert_conf + ".refuse"
    with open(path, "w") as f:
        f.write(conf)
    before = len(sites.requests)
    r = stack.ctl("dcv", "check", env["reference"], "website", conf=path, check=False)
    assert r.returncode == 1 and "not on the public Internet" in r.stdout, r.stdout + r.stderr
    assert len(sites.requests) == before


# ------------------------------------------------------------------ Constructed E-mail (BR 3.2.2.4.4)

def wait_mail(stack, to, n, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        msgs = [m for m in stack.smtp.messages() if to in str(m[2]["To"])]
        if len(msgs) >= n:
            return msgs[n - 1][2]
        time.sleep(0.2)
    raise AssertionError("mail %d to %s did not arrive" % (n, to))


def test_constructed_email_wildcard(stack):
    base = unique("mail")
    env, sub = start(stack, "*." + base, cert_type="wildcard")
    r = sub.get("/dcv?method=email")
    offered = re.findall(r'<option value="([^"]+)">', r.text)
    assert offered == ["%s@%s" % (l, base) for l in ("admin", "administrator", "webmaster", "hostmaster",
                                                        "postmaster")]
    # only the constructed addresses, never at a public suffix or elsewhere
    for bad in ("admin@com", "root@" + base, "admin@other-" + base, "admin@" + base + ".evil.com"):
        r = sub.post("/dcv/email/send", {"address": bad})
        assert 'data-note="address"' in r.text, bad
    to = "hostmaster@" + base
    r = sub.post("/dcv/email/send", {"address": to})
    assert 'data-note="sent"' in r.text and "A Validation Code was sent to %s" % to in r.text
    msg = wait_mail(stack, to, 1)
    body = msg.get_content()
    code = re.search(r"^\s+([a-z2-7]{32})\s*$", body, re.M).group(1)
    assert base in body and "3.2.2.4.4" in body
    # the code is nowhere in the store: only its hash; the delivered message body is dropped
    assert not stack.sql("SELECT id FROM dcv_code WHERE code = %s", (code,))
    h = hashlib.sha256(code.encode()).hexdigest().upper()
    assert stack.sql("SELECT email_to FROM dcv_code WHERE HEX(code_sha256) = %s", (h,))[0][0] == to
    time.sleep(0.5)
    assert not stack.sql("SELECT id FROM mail_queue WHERE kind = 'dcv-code' AND sent_at IS NOT NULL "
                         "AND message LIKE %s", ("%%%s%%" % code,))
    # a wrong code: tries counted
    r = sub.post("/dcv/email/verify", {"code": "a" * 32})
    assert 'data-note="wrong"' in r.text and "4 tries left" in r.text
    r = sub.post("/dcv/email/verify", {"code": " %s " % code.upper()})     # as typed: spaces, case
    assert 'data-note="verified"' in r.text, page_error(r)
    r = wait_checked(sub, "email")
    assert rows(r)[base][0] == "valid" and rows(r)[base][2] == "permit"
    assert issue(sub, env).url.endswith("/certificate")
    at = stack.sql("SELECT reason, email_to FROM dcv_attempt WHERE application_id = %s ORDER BY id", (env["id"],))
    assert [tuple(a) for a in at] == [("code-wrong", to), ("passed", to)]
    # the code is spent
    assert certificate_of(stack, env)[3] == "issued"


def test_constructed_email_parent_domain_tries_and_rate(stack):
    name = "www." + unique("shop")
    parent = name.split(".", 1)[1]
    env, sub = start(stack, name)
    r = sub.get("/dcv?method=email")
    offered = re.findall(r'<option value="([^"]+)">', r.text)
    assert "admin@" + name in offered and "admin@" + parent in offered and "admin@com" not in offered
    to = "admin@" + parent
    sub.post("/dcv/email/send", {"address": to})
    wait_mail(stack, to, 1)
    for i in range(4):
        r = sub.post("/dcv/email/verify", {"code": "wrong%d" % i})
        assert 'data-note="wrong"' in r.text
    r = sub.post("/dcv/email/verify", {"code": "wrong-again"})
    assert 'data-note="spent"' in r.text
    # even the right code does not help now
    code = re.search(r"^\s+([a-z2-7]{32})\s*$", wait_mail(stack, to, 1).get_content(), re.M).group(1)
    r = sub.post("/dcv/email/verify", {"code": code})
    assert 'data-note="no-code"' in r.text
    # at most 5 mails an hour (one sent above)
    for i in range(4):
        assert 'data-note="sent"' in sub.post("/dcv/email/send", {"address": to}).text
    r = sub.post("/dcv/email/send", {"address": to})
    assert 'data-note="rate"' in r.text
    assert stack.sql("SELECT COUNT(*) FROM dcv_code WHERE application_id = %s AND method = 'email'",
                     (env["id"],))[0][0] == 5
    # a validation of the parent covers the name below it
    code = re.search(r"^\s+([a-z2-7]{32})\s*$", wait_mail(stack, to, 5).get_content(), re.M).group(1)
    r = sub.post("/dcv/email/verify", {"code": code})
    assert 'data-note="verified"' in r.text
    r = wait_checked(sub, "email")
    assert rows(r)[name][0] == "valid" and ("domain " + parent) in r.text


def test_constructed_email_can_be_switched_off(stack):
    env = new_application(stack, unique("off"), government=False, br_no=org())
    stack.start_httpd2(extra_conf="ECertDCVEmail off\n")
    try:
        sub = Subscriber(stack, instance=2)
        sub.login(env)
        r = sub.confirm()
        assert r.url.endswith("/dcv")
        assert 'id="m-dns"' in r.text and 'id="m-email"' not in r.text
        r = sub.post("/dcv/email/send", {"address": "admin@" + env["server_name"]})
        assert 'data-note="not-offered"' in r.text
        # the same application on the node with the default: offered
        sub1 = Subscriber(stack)
        sub1.login(env)
        assert 'id="m-email"' in sub1.get("/dcv").text
    finally:
        stack.stop_httpd2()
    bad = stack.ecert_conf + ".bad"
    with open(bad, "w") as f:
        f.write(open(stack.ecert_conf).read() + "\nECertDCVEmail maybe\n")
    r = stack.ctl("dcv", "caa", "example.com", conf=bad, check=False)
    assert r.returncode == 1 and "ECertDCVEmail takes on or off" in r.stderr


# ------------------------------------------------------------------ codes and reuse (BR 4.2.1)

def test_code_expires_after_30_days(stack, clock):
    name = unique("exp")
    env, sub = start(stack, name)
    first = code_of(sub.get("/dcv?method=dns"))
    clock.set_days(29)
    assert code_of(sub.get("/dcv?method=dns")) == first
    clock.set_days(31)
    second = code_of(sub.get("/dcv?method=dns"))
    assert second and second != first
    dns(stack).add(name, "TXT", '"%s"' % first)          # the old code no longer counts
    r = check(sub, "dns")
    assert rows(r)[name][:2] == ("failed", "code-absent")
    dns(stack).add(name, "TXT", '"%s"' % second)
    r = check(sub, "dns")
    assert rows(r)[name][0] == "valid"


def test_validation_reused_within_window_for_same_organisation(stack, clock):
    name, br = unique("reuse"), org()
    env, sub = start(stack, name, br_no=br)
    dns(stack).add(name, "TXT", '"%s"' % code_of(sub.get("/dcv?method=dns")))
    assert rows(check(sub, "dns"))[name][0] == "valid"
    # another application of the same organisation for a name below it: no new validation
    below = "shop." + name
    env2, sub2 = start(stack, below, br_no=br, step="/csr")     # straight on to the CSR
    r = sub2.get("/dcv")
    assert rows(r)[below][0] == "valid" and "an earlier validation of your organisation" in r.text
    # another organisation: its own validation
    env3, sub3 = start(stack, below, br_no=org())
    assert rows(sub3.get("/dcv"))[below][0] == "pending"
    # BR 4.2.1 on the issuance date: 200 days before 2027-03-15, 100 days from then, 10 from
    # 2029-03-15 (the boundaries themselves: tests/unit/test_dcv.c)
    clock.set_days(window_days(50) > 50 and 50 or 5)
    assert rows(sub2.get("/dcv"))[below][0] == "valid"
    clock.set_days(250)
    assert rows(sub2.get("/dcv"))[below][0] == "pending"
    assert sub2.get("/csr").url.endswith("/dcv")
    r = issue_refused_ctl(stack, env2)
    assert re.search(r"control of %s has not been validated within the last %d days"
                     % (re.escape(below), window_days(250)), r.stderr), r.stderr


def window_days(ahead):
    d = datetime.datetime.now(datetime.timezone.utc).date() + datetime.timedelta(days=ahead)
    return 398 if d < datetime.date(2026, 3, 15) else 200 if d < datetime.date(2027, 3, 15) \
        else 100 if d < datetime.date(2029, 3, 15) else 10


def issue_refused_ctl(stack, env, tmp="/tmp"):
    path = "%s/ecert-dcv-%s.csr" % (tmp, env["reference"])
    with open(path, "w") as f:
        f.write(make_csr(rsa_key(), env["server_name"]))
    try:
        r = stack.ctl("issue", "--reference", env["reference"], "--csr", path, check=False)
    finally:
        os.unlink(path)
    assert r.returncode == 1
    assert certificate_of(stack, env) is None
    return r


# ------------------------------------------------------------------ CAA (RFC 8659, 8657)

def caa(stack, *args):
    r = stack.ctl("dcv", "caa", *args, check=False)
    out = {}
    for line in r.stdout.splitlines():
        parts = line.split("\t")
        out[parts[0]] = (parts[1], parts[3])
    return out


def test_caa_semantics(stack):
    d = dns(stack)
    z = unique("caa")
    d.add("permit." + z, "CAA", '0 issue "ECert.gov.HK"')                     # case-insensitive
    d.add("other." + z, "CAA", '0 issue "letsencrypt.org"')
    d.add("none." + z, "CAA", '0 issue ";"')
    d.add("wild." + z, "CAA", '0 issue "ecert.gov.hk"')
    d.add("wild." + z, "CAA", '0 issuewild "other-ca.example"')
    d.add("crit." + z, "CAA", '0 issue "ecert.gov.hk"')
    d.add("crit." + z, "CAA", '128 future "x"')
    d.add("noncrit." + z, "CAA", '0 issue "ecert.gov.hk"')
    d.add("noncrit." + z, "CAA", '0 future "x"')
    d.add("iodef." + z, "CAA", '0 iodef "mailto:sec@example.com"')          # no issue: anyone
    d.add("methods." + z, "CAA", '0 issue "hongkongpost.gov.hk; validationmethods=ca-ecert-dns,dns-01"')
    d.add("account." + z, "CAA", '0 issue "ecert.gov.hk; accounturi=https://acme.example/acct/1"')
    d.add("params." + z, "CAA", '0 issue "ecert.gov.hk; foo=bar; baz=1"')
    d.add("malformed." + z, "CAA", '0 issue "ecert.gov.hk; =="')
    d.add("target." + z, "CAA", '0 issue "other-ca.example"')
    d.add("alias." + z, "CNAME", "target." + z + ".")
    d.add("parent." + z, "CAA", '0 issue "other-ca.example"')
    r = caa(stack, "permit." + z, "www.permit." + z, "other." + z, "none." + z, "wild." + z,
            "*.wild." + z, "crit." + z, "noncrit." + z, "iodef." + z, "account." + z, "params." + z,
            "malformed." + z, "alias." + z, "deep.sub.parent." + z, "nothing." + z)
    assert r["permit." + z][0] == "permit"
    assert r["www.permit." + z] == ("permit", "relevant at permit." + z)        # climbs to the parent
    assert r["other." + z][0] == "forbid" and "do not name this CA" in r["other." + z][1]
    assert r["none." + z][0] == "forbid"
    assert r["wild." + z][0] == "permit"                 # issue governs the name itself
    assert r["*.wild." + z][0] == "forbid"               # issuewild governs the wildcard
    assert r["crit." + z][0] == "forbid" and "unknown critical property 'future'" in r["crit." + z][1]
    assert r["noncrit." + z][0] == "permit"
    assert r["iodef." + z][0] == "permit"
    assert r["account." + z][0] == "forbid" and "accounturi" in r["account." + z][1]
    assert r["params." + z][0] == "permit"
    assert r["malformed." + z][0] == "forbid"
    assert r["alias." + z][0] == "forbid"                 # the CNAME's target's CAA set applies
    assert r["deep.sub.parent." + z] == ("forbid", r["deep.sub.parent." + z][1])
    assert "relevant at parent." + z in r["deep.sub.parent." + z][1]
    assert r["nothing." + z] == ("permit", "no CAA records")
    # validationmethods (RFC 8657): our labels
    m = "methods." + z
    assert caa(stack, m, "--method", "dns")[m][0] == "permit"
    assert caa(stack, m, "--method", "website")[m][0] == "forbid"
    assert "only for the validation methods ca-ecert-dns,dns-01" in caa(stack, m, "--method", "email")[m][1]
    # a lookup that fails DNSSEC validation refuses
    b = "www." + unique("x", "broken-dnssec.com")
    assert caa(stack, b)[b][0] == "failed"


def test_caa_checked_again_just_before_signing(stack):
    name = unique("late")
    env, sub = start(stack, name)
    dns(stack).add(name, "TXT", '"%s"' % code_of(sub.get("/dcv?method=dns")))
    r = check(sub, "dns")
    assert rows(r)[name] == ("valid", None, "permit")
    # the subscriber's DNS changes between validation and the CSR
    dns(stack).add(name, "CAA", '0 issue "other-ca.example"')
    time.sleep(1.5)                                      # the resolver's 1 s negative cache
    sub.get("/csr")
    r = sub.submit_csr(make_csr(rsa_key(), name))
    assert r.history[0].status_code == 303 and 'data-code="caa.forbid_short"' in r.text
    assert "%s: the CAA issue records do not name this CA" % name in r.text
    assert certificate_of(stack, env) is None
    ev = stack.sql("SELECT detail FROM audit_event WHERE event = 'issue.precheck' AND detail LIKE %s",
                   ("%%envelope %s%%" % env["reference"],))
    assert ev and "caa: caa.forbid_short" in ev[0][0]
    # the page shows it after "check again", with the way out
    r = sub.post("/dcv/caa", {})
    r = wait_checked(sub, "dns")
    assert rows(r)[name][2] == "forbid" and 'id="caa-recheck"' in r.text
    dns(stack).unset(dns(stack).zone_of(name), name, "CAA")
    dns(stack).add(name, "CAA", '0 issue "hongkongpost.gov.hk; validationmethods=ca-ecert-dns"')
    time.sleep(1.5)
    sub.post("/dcv/caa", {})
    r = wait_checked(sub, "dns")
    assert rows(r)[name][2] == "permit"
    assert issue(sub, env).url.endswith("/certificate")


def test_dcv_posts_need_the_csrf_token(stack):
    name = unique("csrf")
    env, sub = start(stack, name)
    sub.get("/dcv?method=dns")
    r = sub.post("/dcv/check", {"method": "dns", "csrf": "0" * 64})
    assert r.history[0].status_code == 303 and r.url.endswith("/dcv") and 'id="notice"' in r.text
    assert not stack.sql("SELECT 1 FROM dcv_job WHERE application_id = %s", (env["id"],))


# ------------------------------------------------------------------ limits under attack

@pytest.mark.parametrize("rep", range(3))
def test_concurrent_sends_and_tries_stay_within_the_limits(stack, rep):
    """12 sends at once leave at most ECertDCVMailsPerHour (5) codes; 12 wrong codes at once
    spend the code after exactly 5 tries (the row lock serialises them)."""
    import concurrent.futures
    import requests
    base = unique("race")
    env, sub = start(stack, "*." + base, cert_type="wildcard")
    sub.get("/dcv?method=email")
    cookies, token = sub.s.cookies.get_dict(), sub.csrf

    def post(path, data):
        data = dict(data, csrf=token)
        return requests.post(sub.url(path), data=data, cookies=cookies, allow_redirects=False, timeout=60).status_code

    with concurrent.futures.ThreadPoolExecutor(12) as ex:
        codes = list(ex.map(lambda i: post("/dcv/email/send", {"address": "admin@" + base}), range(12)))
    assert all(c in (303, 302) for c in codes), codes
    sent = stack.sql("SELECT COUNT(*) FROM dcv_code WHERE application_id = %s AND method = 'email'", (env["id"],))[0][0]
    assert 1 <= sent <= 5, sent
    with concurrent.futures.ThreadPoolExecutor(12) as ex:
        list(ex.map(lambda i: post("/dcv/email/verify", {"code": "wrong%02d" % i}), range(12)))
    tries = stack.sql("SELECT COUNT(*) FROM dcv_attempt WHERE application_id = %s AND reason IN "
                      "('code-wrong', 'code-spent')", (env["id"],))[0][0]
    assert tries == 5, (tries, stack.sql("SELECT code_id, reason, detail FROM dcv_attempt WHERE application_id = %s ORDER BY id", (env["id"],)), stack.sql("SELECT id, tries, spent, created_at FROM dcv_code WHERE application_id = %s", (env["id"],)))
    assert stack.sql("SELECT COUNT(*) FROM dcv_code WHERE application_id = %s AND NOT spent", (env["id"],))[0][0] == 0
    assert certificate_of(stack, env) is None


def test_garbage_in_every_field_changes_nothing(stack):
    name = unique("junk")
    env, sub = start(stack, name)
    sub.get("/dcv")
    mails = stack.sql("SELECT COUNT(*) FROM mail_queue")[0][0]
    for path, data in (("/dcv/check", {"method": "../../etc/passwd"}), ("/dcv/check", {"method": ""}),
                       ("/dcv/check", {}), ("/dcv/email/send", {"address": "a" * 5000}),
                       ("/dcv/email/send", {"address": "admin@%s\r\nBcc: x@example.org" % name}),
                       ("/dcv/email/send", {"address": "admin@" + name + "\x00.evil.com"}),
                       ("/dcv/email/verify", {"code": "\x00\xff" * 4000}), ("/dcv/nowhere", {"x": "y"})):
        r = sub.post(path, data)
        assert r.status_code in (200, 400), (path, r.status_code)
    for q in ("?method=%3Cscript%3E", "?note=%3Cscript%3Ealert(1)%3C/script%3E", "?method=email&note=x" * 50):
        r = sub.get("/dcv" + q)
        assert r.status_code == 200 and "<script>" not in r.text
    assert not stack.sql("SELECT 1 FROM dcv_job WHERE application_id = %s", (env["id"],))
    assert stack.sql("SELECT COUNT(*) FROM mail_queue")[0][0] == mails
    assert not stack.sql("SELECT 1 FROM dcv_validation WHERE application_id = %s", (env["id"],))
