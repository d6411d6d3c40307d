"""Multi-perspective issuance corroboration (R-16; BR 3.2.2.9, 3.2.2.8) against real remote
perspectives: httpd with mod_perspective and mod_ssl, each in a network namespace of its own
(scripts/net_lab.py) with its own resolver, reaching the same test DNS and web sites as the
CA — until a test hijacks one perspective's view: its traffic to the web sites' or the DNS
server's address then stays inside its namespace and reaches a hijacker (a BGP hijack as that
vantage point would see it). The CA is configured with five of the six (the BR's number from
2026-12-15); one test uses all six. Outcomes are read from the pages, the store (mpic_check,
mpic_answer) and the audit log."""

import html
import os
import re
import subprocess
import time

import pytest

import mpic_wire
from test_dcv import PATH, check, code_of, issue, rows, site_name, start, unique
from web_sites import WebSites

HERE = os.path.dirname(os.path.abspath(__file__))


@pytest.fixture(scope="module", autouse=True)
def lab(stack):
    if stack.net is None or not stack.dns.delegated:
        pytest.skip("remote perspectives in network namespaces need root (as CI runs)")
    assert len(stack.mpic) == 6
    yield stack.net


@pytest.fixture(scope="module")
def sites(stack, tmp_path_factory):
    s = WebSites(str(tmp_path_factory.mktemp("mpic-sites")), addr=stack.web_addr).start()
    yield s
    s.stop()


@pytest.fixture
def hijack(stack, lab):
    """hijack.web(i, {(host, path): body}) / hijack.dns(i, {(name., type): [rdata]}): perspective
    i's view hijacked until the test ends."""
    done = []

    class H:
        def web(self, i, routes):
            lab.hijack_web(stack.mpic[i].netns, routes)
            done.append(("web", i))

        def dns(self, i, overrides):
            lab.hijack_dns(stack.mpic[i].netns, overrides)
            done.append(("dns", i))

    yield H()
    for kind, i in done:
        (lab.unhijack_web if kind == "web" else lab.unhijack_dns)(stack.mpic[i].netns)


def configured(stack):
    return [p.name for p in stack.mpic][:5] if stack.mpic.use is None else stack.mpic.use


def checks(stack, env, purpose=None):
    q = ("SELECT id, purpose, name, outcome, remote, corroborating, allowed, required, detail FROM mpic_check "
         "WHERE application_id = %s" + (" AND purpose = %s" if purpose else "") + " ORDER BY id")
    return stack.sql(q, (env["id"], purpose) if purpose else (env["id"],))


def answers(stack, check_id):
    return {r[0]: r[1:] for r in stack.sql(
        "SELECT perspective, outcome, result, reason, detail, ms FROM mpic_answer WHERE check_id = %s", (check_id,))}


def audit(stack, env, event):
    return stack.sql("SELECT detail FROM audit_event WHERE event = %s AND detail LIKE %s",
                     (event, "%%envelope %s %%" % env["reference"]))


def website_app(stack, sites):
    name = unique("mp")
    env, sub = start(stack, name)
    sub.get("/dcv?method=website")
    body = sub.get("/dcv/fileauth.txt").text
    site_name(stack, name)
    sites.route(name, PATH, body=body)
    return name, env, sub, body


# ------------------------------------------------------------------ all agree

def test_all_perspectives_agree_and_the_certificate_issues(stack, sites):
    name, env, sub, _ = website_app(stack, sites)
    r = check(sub, "website")
    assert rows(r)[name][0] == "valid", rows(r)
    dcv = checks(stack, env, "dcv")
    assert len(dcv) == 1
    cid, _, cname, outcome, remote, corr, allowed, required = dcv[0][:8]
    assert (cname, outcome, remote, corr, allowed) == (name, "corroborated", 5, 5, 1)
    assert required == 4                         # today, 2026-12; 5 from 2026-12-15
    ans = answers(stack, cid)
    assert sorted(ans) == sorted(configured(stack))
    assert all(a[0] == "corroborates" and a[1] == "pass" and a[2] == "passed" for a in ans.values()), ans
    # each perspective fetched the file itself, through its own network
    ev = stack.sql("SELECT evidence FROM mpic_answer WHERE check_id = %s", (cid,))
    assert all("GET http://%s%s -> 200 (%s)" % (name, PATH, stack.web_addr) in e[0] for e in ev), ev
    att = stack.sql("SELECT mpic_check_id FROM dcv_attempt WHERE application_id = %s AND passed", (env["id"],))
    assert list(att) == [(cid,)]
    r = issue(sub, env)
    assert r.url.endswith("/certificate")
    caa = checks(stack, env, "caa")
    assert len(caa) == 1 and caa[0][3] == "corroborated" and caa[0][5] == 5
    assert all(a[1] == "permit" for a in answers(stack, caa[0][0]).values())
    linked = stack.sql("SELECT c.mpic_check_id FROM caa_check c JOIN issuance_evidence e ON e.ref_id = c.id "
                       "AND e.kind = 'caa' WHERE c.application_id = %s", (env["id"],))
    assert list(linked) == [(caa[0][0],)]
    assert len(audit(stack, env, "mpic.corroborated")) == 2


# ------------------------------------------------------------------ hijacks

def test_one_hijacked_perspective_is_within_the_quorum(stack, sites, hijack):
    name, env, sub, _ = website_app(stack, sites)
    hijack.web(2, {(name, PATH): "attacker's page\n"})
    r = check(sub, "website")
    assert rows(r)[name][0] == "valid", rows(r)
    cid = checks(stack, env, "dcv")[0][0]
    ans = answers(stack, cid)
    hijacked = stack.mpic[2].name
    assert ans[hijacked][:3] == ("differs", "fail", "code-absent"), ans[hijacked]
    assert sum(a[0] == "corroborates" for a in ans.values()) == 4
    assert "4 of 5" in checks(stack, env, "dcv")[0][8]
    assert issue(sub, env).url.endswith("/certificate")


def test_two_hijacked_of_five_refuse_and_say_so_in_both_languages(stack, sites, hijack):
    name, env, sub, _ = website_app(stack, sites)
    hijack.web(0, {(name, PATH): "attacker's page\n"})
    hijack.web(3, {})                               # nothing there: 404
    r = check(sub, "website")
    st = rows(r)
    assert st[name][:2] == ("failed", "mpic"), st
    text = html.unescape(r.text)
    assert "Your site answered differently from several places on the Internet" in text
    assert "seen from 3 of 5 other places on the Internet; at least 4 must see it" in text
    # the page names no perspective and no address of one
    for p in stack.mpic:
        assert p.addr not in r.text and p.name not in r.text
    zh = sub.get("/dcv?method=website&lang=zh")
    assert "你的網站從互聯網上多個地方看到的回應並不一致" in html.unescape(zh.text)
    c = checks(stack, env, "dcv")[0]
    assert c[3:6] == ("not-corroborated", 5, 3)
    ans = answers(stack, c[0])
    assert ans[stack.mpic[0].name][:2] == ("differs", "fail") and ans[stack.mpic[3].name][:3] == ("differs", "fail", "not-found")
    assert not stack.sql("SELECT id FROM dcv_validation WHERE application_id = %s", (env["id"],))
    assert len(audit(stack, env, "mpic.not_corroborated")) == 1
    # no CSR step
    assert sub.get("/csr").url.endswith("/dcv")


def test_six_perspectives_allow_two_non_corroborations(stack, sites, hijack):
    stack.mpic.use = [p.name for p in stack.mpic]
    stack.write_config()
    stack.restart_httpd()
    try:
        name, env, sub, _ = website_app(stack, sites)
        hijack.web(1, {})
        hijack.web(4, {})
        r = check(sub, "website")
        assert rows(r)[name][0] == "valid", rows(r)
        assert checks(stack, env, "dcv")[0][3:7] == ("corroborated", 6, 4, 2)
        hijack.web(5, {})
        name2, env2, sub2, _ = website_app(stack, sites)
        r = check(sub2, "website")
        assert rows(r)[name2][:2] == ("failed", "mpic")
        assert checks(stack, env2, "dcv")[0][3:7] == ("not-corroborated", 6, 3, 2)
    finally:
        stack.mpic.use = None
        stack.write_config()
        stack.restart_httpd()


def test_dns_change_hijacked_in_an_unsigned_zone(stack, hijack):
    """Two perspectives get a forged TXT record (an unsigned zone: no DNSSEC to catch it)."""
    name = unique("txt", zone="unsigned-zone.com")
    env, sub = start(stack, name)
    code = code_of(sub.get("/dcv?method=dns"))
    stack.dns.add(name, "TXT", '"%s"' % code)
    for i in (1, 2):
        hijack.dns(i, {(name + ".", "TXT"): ['"not-the-code"'], ("_dnsauth." + name + ".", "TXT"): ['"nope"']})
    r = check(sub, "dns")
    assert rows(r)[name][:2] == ("failed", "mpic"), rows(r)
    ans = answers(stack, checks(stack, env, "dcv")[0][0])
    assert ans[stack.mpic[1].name][:3] == ("differs", "fail", "code-absent")
    assert ans[stack.mpic[0].name][0] == "corroborates"


def caa_app(stack, sites):
    name = unique("caa", zone="unsigned-zone.com")
    env, sub = start(stack, name)
    sub.get("/dcv?method=website")
    site_name(stack, name)
    sites.route(name, PATH, body=sub.get("/dcv/fileauth.txt").text)
    assert rows(check(sub, "website"))[name][0] == "valid"
    return name, env, sub


def test_caa_differs_at_one_perspective_issues_at_two_refuses(stack, sites, hijack):
    """BR 3.2.2.8: a remote CAA answer corroborates when it permits; one forbidding is within
    the quorum, two are not, and then nothing is signed."""
    name, env, sub = caa_app(stack, sites)
    hijack.dns(0, {(name + ".", "CAA"): ['0 issue "other-ca.example"']})
    assert issue(sub, env).url.endswith("/certificate")
    c = checks(stack, env, "caa")[-1]
    assert c[3:6] == ("corroborated", 5, 4)
    assert answers(stack, c[0])[stack.mpic[0].name][:3] == ("differs", "forbid", "forbid")

    name, env, sub = caa_app(stack, sites)
    for i in (1, 4):                               # (perspective 0's hijacker knows only the first name)
        hijack.dns(i, {(name + ".", "CAA"): ['0 issue "other-ca.example"']})
    before = stack.sql("SELECT COUNT(*) FROM certificate")[0][0]
    r = issue(sub, env)
    assert not r.url.endswith("/certificate")
    assert "answered differently from several places on the Internet" in html.unescape(r.text)
    for p in stack.mpic:
        assert p.addr not in r.text
    assert stack.sql("SELECT COUNT(*) FROM certificate")[0][0] == before
    c = checks(stack, env, "caa")[-1]
    assert c[3:6] == ("not-corroborated", 5, 3)
    assert len(audit(stack, env, "mpic.not_corroborated")) == 1


# ------------------------------------------------------------------ down, slow, forged, replayed

def test_down_and_slow_perspectives_count_against(stack, sites, hijack):
    down, slow = stack.mpic[1], stack.mpic[2]
    down.stop()
    try:
        name, env, sub, _ = website_app(stack, sites)
        r = check(sub, "website")
        assert rows(r)[name][0] == "valid"                 # 4 of 5
        ans = answers(stack, checks(stack, env, "dcv")[0][0])
        assert ans[down.name][0] == "unreachable", ans[down.name]
        slow.pause()
        try:
            name, env, sub, _ = website_app(stack, sites)
            t0 = time.monotonic()
            r = check(sub, "website")
            assert rows(r)[name][:2] == ("failed", "mpic"), rows(r)
            ans = answers(stack, checks(stack, env, "dcv")[0][0])
            assert ans[slow.name][0] == "timeout" and ans[slow.name][4] >= 4000, ans[slow.name]
            assert "no answer within 4 s" in ans[slow.name][3]
            assert time.monotonic() - t0 < 30
        finally:
            slow.resume()
    finally:
        down.start()
        down.wait()


@pytest.fixture
def impostor(stack, lab):
    """Replaces perspective 3 by tests/fake_perspective.py at its address, with its TLS
    certificate but not its key."""
    victim = stack.mpic[3]
    procs = []

    def run(mode, answer_file=None):
        victim.stop()
        argv = victim.netns.cmd(["python3", os.path.join(HERE, "fake_perspective.py"), victim.addr,
                                 str(victim.port), os.path.join(victim.dir, "server.crt"),
                                 os.path.join(victim.dir, "server.key"), mode] + ([answer_file] if answer_file else []))
        p = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
        procs.append(p)
        assert p.stdout.readline().strip() == "listening"
    yield run
    for p in procs:
        p.terminate()
        p.wait(10)
    victim.start()
    victim.wait()


def post(stack, p, data, ctype="application/x-ecert-mpic", host=None):
    """A request to perspective p from the host, as curl sends it (TLS checked with the CA's
    ECertPerspectiveCA)."""
    r = subprocess.run(["curl", "-sS", "--max-time", "15", "--cacert", stack.mpic.ca_crt, "-H",
                        "Content-Type: " + ctype, "--data-binary", "@-", "-o", "-", "-w", "\n%{http_code}", p.url],
                       input=data, capture_output=True)
    body, _, status = r.stdout.rpartition(b"\n")
    return int(status or 0), body


def test_forged_answer_is_refused(stack, sites, hijack, impostor):
    impostor("forge")
    name, env, sub, _ = website_app(stack, sites)
    hijack.web(0, {})                                  # with the forgery, 2 would not corroborate
    r = check(sub, "website")
    assert rows(r)[name][:2] == ("failed", "mpic")
    ans = answers(stack, checks(stack, env, "dcv")[0][0])
    assert ans[stack.mpic[3].name][0] == "forged" and "the mac is wrong" in ans[stack.mpic[3].name][3]


def test_replayed_answer_is_refused(stack, sites, hijack, impostor, tmp_path):
    victim = stack.mpic[3]
    key = mpic_wire.read_key(victim.keyfile)
    name, env, sub, body = website_app(stack, sites)
    # a genuine answer, as an eavesdropper behind the TLS would have had to record it
    status, genuine = post(stack, victim, mpic_wire.encode("request", mpic_wire.request(
        victim.name, "web", name, body.strip()), key))
    assert status == 200 and mpic_wire.decode(genuine, key)[2]
    assert mpic_wire.decode(genuine, key)[1]["result"] == "pass"
    f = tmp_path / "answer"
    f.write_bytes(genuine)
    os.chmod(str(tmp_path), 0o755)
    impostor("replay", str(f))
    hijack.web(0, {})
    r = check(sub, "website")
    assert rows(r)[name][:2] == ("failed", "mpic")
    a = answers(stack, checks(stack, env, "dcv")[0][0])[victim.name]
    assert a[0] == "forged" and "a replay" in a[3], a


def test_a_perspective_refuses_what_is_not_its_ca(stack):
    p = stack.mpic[0]
    key = mpic_wire.read_key(p.keyfile)
    req = mpic_wire.request(p.name, "caa", "example.com", issuers=["ecert.gov.hk"])
    msg = mpic_wire.encode("request", req, key)
    status, body = post(stack, p, msg)
    d, ans, mac_ok = mpic_wire.decode(body, key)
    assert status == 200 and mac_ok and d == "answer" and ans["nonce"] == req["nonce"]
    assert ans["result"] in ("permit", "forbid", "failed") and "CAA" in ans.get("evidence", "")
    assert post(stack, p, msg) == (403, b"the request was seen before (a replay)\n")
    assert post(stack, p, mpic_wire.encode("request", req, b"\x00" * 32))[0] == 403
    assert post(stack, p, mpic_wire.encode("request", dict(req, client="someone"), key))[0] == 403
    assert post(stack, p, mpic_wire.encode("request", dict(req, nonce="ab" * 16, perspective="other"), key))[0] == 403
    stale = mpic_wire.request(p.name, "health", at=time.time() - 300)
    assert post(stack, p, mpic_wire.encode("request", stale, key)) == (
        403, b"the request's time is more than 60 s from this perspective's\n")
    assert post(stack, p, b"garbage\n")[0] == 400
    assert post(stack, p, b"x" * 70000)[0] == 413
    assert post(stack, p, msg, ctype="text/plain")[0] == 415
    # plain HTTP is not served at all, and the health endpoint is cheap and says little
    r = subprocess.run(["curl", "-sS", "--max-time", "5", p.url.replace("https:", "http:")], capture_output=True)
    assert b"ecert-perspective" not in r.stdout
    r = subprocess.run(["curl", "-sS", "--max-time", "5", "--cacert", stack.mpic.ca_crt, p.url], capture_output=True,
                       text=True)
    assert r.stdout == "ecert-perspective %s ok\n" % p.name


# ------------------------------------------------------------------ operators

def test_ecertctl_perspectives_check(stack):
    r = stack.ctl("perspectives", "check")
    lines = r.stdout.splitlines()
    for name in configured(stack):
        assert re.search(r"^%s\s+\w+\s+\d+ km\s+ok\s+[\d.]+ ms\s+ready$" % name, r.stdout, re.M), r.stdout
    assert "5 of 5 answered; 4 required now" in lines[-1]
    stack.mpic[4].pause()
    try:
        r = stack.ctl("perspectives", "check", check=False)
        assert r.returncode == 1 and re.search(r"^%s .* timeout" % stack.mpic[4].name, r.stdout, re.M), r.stdout
    finally:
        stack.mpic[4].resume()


def test_too_few_perspectives_refuse_validation_and_say_why(stack, sites, clock):
    stack.mpic.use = [p.name for p in stack.mpic][:4]
    stack.write_config()
    stack.expect_log(r"ECE0141: multi-perspective corroboration: 4 remote perspectives are configured")
    clock.set_days(14)                              # 2026-12-16: five are required
    stack.restart_httpd()
    try:
        log = open(stack.error_log_path()).read()
        assert "ECE0141" in log
        name, env, sub, _ = website_app(stack, sites)
        r = check(sub, "website")
        assert rows(r)[name][:2] == ("failed", "mpic-unavailable"), rows(r)
        assert "cannot be corroborated from enough places" in html.unescape(r.text)
        assert not checks(stack, env)                 # nothing was asked of anyone
        assert not [q for q in sites.requests if q[1] == name]     # not even the primary looked
    finally:
        clock.reset()
        stack.mpic.use = None
        stack.write_config()
        stack.restart_httpd()


# ------------------------------------------------------------------ in a browser

@pytest.mark.parametrize("lang", ["en", "zh"])
def test_browser_not_corroborated(stack, sites, hijack, tmp_path, lang):
    """The page a subscriber sees when two of five perspectives are hijacked, in headless
    Chromium (screenshots in tests/artefacts/mpic-*)."""
    import json
    from test_ecert_browser import ARTEFACTS, CHROMIUM
    browser_dir = os.path.join(HERE, "browser")
    if not os.path.isdir(os.path.join(browser_dir, "node_modules", "playwright-core")):
        pytest.skip("playwright-core is installed by tests/test_ecert_browser.py (npm ci)")
    os.makedirs(ARTEFACTS, exist_ok=True)
    name, env, sub, _ = website_app(stack, sites)
    hijack.web(1, {(name, PATH): "moved\n"})
    hijack.web(2, {})
    job = {"base": stack.url("").rstrip("/"), "chromium": CHROMIUM, "outdir": ARTEFACTS, "lang": lang,
           "envelope": {k: env[k] for k in ("server_name", "reference", "pin")}}
    jf = tmp_path / "job.json"
    jf.write_text(json.dumps(job))
    r = subprocess.run(["node", os.path.join(browser_dir, "walk_mpic.js"), str(jf)], capture_output=True, text=True,
                       timeout=300, cwd=browser_dir)
    report = json.loads(r.stdout or "{}")
    assert "error" not in report and r.returncode == 0, (report.get("error"), r.stderr)
    assert report["rows"] == [[name, "failed", "mpic"]] and report["continue"] == 0
    text = report["steps"][-1]["text"]
    assert ("answered differently from several places on the Internet" if lang == "en"
            else "你的網站從互聯網上多個地方看到的回應並不一致") in text
    for p in stack.mpic:
        assert p.addr not in text and p.name not in text
    assert os.path.getsize(report["steps"][-1]["screenshot"]) > 10000
