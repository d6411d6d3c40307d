"""The login form tells the subscriber what happened: attempts left and a locked
envelope (identically for a server name / reference pair that is no envelope), harmless
typing variants accepted, a malformed field named and never counted, every answer to a POST
a redirect to a page that keeps its message on reload, Back and language switch (a flash
cookie holding no PIN), the logout and a deep link without a session said on the login page."""

import itertools
import os
import re
import urllib.parse

import pytest
import requests

from ecert_util import Subscriber, new_application, page_error

_n = itertools.count()


def unique(prefix):
    return "%s%d-%d.example.com" % (prefix, os.getpid() % 1000, next(_n))


@pytest.fixture
def clean_address(stack):
    """These tests fail logins from 127.0.0.1: the address limit is left as it was."""
    yield
    stack.sql("DELETE FROM login_attempt WHERE client_addr = '127.0.0.1' AND success = FALSE")


def wrong(env):
    pin = env["pin"].replace(" ", "")
    return ("1" if pin[0] != "1" else "2") + pin[1:]


def attempts(stack, table):
    return stack.sql("SELECT COUNT(*) FROM %s" % table)[0][0]


def info(r):
    m = re.search(r'<p class="info"[^>]*id="info">(.*?)</p>', r.text, re.S)
    return m.group(1) if m else None


def fail(sub, env, **kw):
    """A login that fails: answered by a redirect to the form, which says why (200)."""
    r = sub.login(env, **kw)
    assert [h.status_code for h in r.history] == [303] and r.status_code == 200, r.status_code
    assert r.url.endswith("/login") and r.history[0].headers["Location"].endswith("/ecert/login")
    return r


def test_attempts_left_then_locked_then_unlocked(stack, clean_address):
    env = new_application(stack, unique("left"))
    sub = Subscriber(stack)
    for left in (4, 3, 2, 1):
        r = fail(sub, env, pin=wrong(env))
        assert "do not match" in page_error(r) and "is locked: %d." % left in page_error(r), page_error(r)
    r = fail(sub, env, pin=wrong(env))
    assert "is locked after too many" in page_error(r) and "2921 6633" in page_error(r)
    assert 'href="mailto:enquiry@eCert.gov.hk"' in r.text
    assert stack.sql("SELECT failed_logins, locked FROM application WHERE id = %s", (env["id"],))[0] == (5, 1)
    # the right PIN now gets the same: locked
    r = fail(sub, env)
    assert "is locked after too many" in page_error(r)
    # the back office unlocks it
    assert "unlocked" in stack.ctl("application", "unlock", env["reference"]).stdout
    assert Subscriber(stack).login(env).url.endswith("/confirm")


def test_an_unknown_pair_answers_as_an_envelope_does(stack, clean_address):
    """The same answers, in the same order, for an envelope, for its reference with another
    server name and for a reference that is no envelope: nothing tells which pairs exist."""
    env = new_application(stack, unique("real"))
    taken = {r[0] for r in stack.sql("SELECT envelope_ref FROM application")}
    nobody = next(str(n) for n in range(900000001, 900100000) if str(n) not in taken)
    seen = []
    for kw in (dict(pin=wrong(env)), dict(server_name=unique("other")), dict(reference=nobody)):
        sub = Subscriber(stack)
        seen.append([page_error(fail(sub, env, **kw)) for _ in range(6)])
        if "server_name" in kw:
            # a guess at the server name is not the envelope's failure (it could never log in)
            assert stack.sql("SELECT failed_logins FROM application WHERE id = %s", (env["id"],))[0][0] == 5
    assert seen[0] == seen[1] == seen[2], seen
    assert len(set(seen[0])) == 5 and "locked after" in seen[0][-1]
    # the pairs' counts, under their normalised names
    rows = stack.sql("SELECT reference, failures FROM login_pair WHERE reference IN (%s, %s)",
                     (env["reference"], nobody))
    assert sorted(rows) == sorted([(env["reference"], 5), (nobody, 5)])
    detail = stack.sql("SELECT detail FROM audit_event WHERE event = 'login.failure' AND detail LIKE %s "
                       "ORDER BY seq DESC LIMIT 1", ("envelope %s%%" % nobody,))[0][0]
    assert "pair locked" in detail and env["server_name"] in detail


@pytest.mark.parametrize("field,value", [
    ("pin", lambda e: e["pin"].replace(" ", "-")),
    ("pin", lambda e: e["pin"].replace(" ", "\u00a0")),
    ("pin", lambda e: "".join(chr(0xff10 + int(c)) if c.isdigit() else "\u3000" for c in e["pin"])),
    ("server_name", lambda e: "  " + e["server_name"].upper() + ". "),
    ("server_name", lambda e: "https://%s/" % e["server_name"]),
    ("server_name", lambda e: "http://%s:443/path?x=1" % e["server_name"]),
    ("reference", lambda e: "%s %s-%s" % (e["reference"][:3], e["reference"][3:6], e["reference"][6:])),
    ("reference", lambda e: " " + e["reference"] + "\u3000"),
])
def test_harmless_typing_variants_log_in(stack, field, value):
    env = new_application(stack, unique("typed"))
    r = Subscriber(stack).login(env, **{field: value(env)})
    assert r.url.endswith("/confirm"), page_error(r)


@pytest.mark.parametrize("field,value,key", [
    ("pin", "1234 5678 9012 345", "16 digits"),
    ("pin", "1234 5678 9012 345x", "16 digits"),
    ("reference", "12345678", "9 digits"),
    ("server_name", "not a name", "server name shown in the PIN envelope"),
    ("server_name", "<script>alert(1)</script>", "server name shown in the PIN envelope"),
])
def test_a_malformed_field_is_named_and_not_counted(stack, field, value, key):
    env = new_application(stack, unique("bad"))
    before = (attempts(stack, "login_attempt"), attempts(stack, "audit_event"), attempts(stack, "login_pair"))
    r = fail(Subscriber(stack), env, **{field: value})
    assert "does not count" in page_error(r)
    ids = {"pin": "pin", "reference": "reference", "server_name": "server_name"}
    m = re.search(r'<input id="%s"[^>]*>' % ids[field], r.text)
    assert 'aria-invalid="true"' in m.group(0) and "%s-error" % field in m.group(0)
    err = re.search(r'<p class="field-error" id="%s-error">(.*?)</p>' % field, r.text).group(1)
    assert key in err
    assert r.text.count('aria-invalid="true"') == 1          # only that field is marked
    assert (attempts(stack, "login_attempt"), attempts(stack, "audit_event"),
            attempts(stack, "login_pair")) == before
    assert stack.sql("SELECT failed_logins FROM application WHERE id = %s", (env["id"],))[0][0] == 0
    assert "<script>" not in r.text
    if field == "server_name":
        assert 'value="%s"' % value.replace("<", "&lt;").replace(">", "&gt;") in r.text
    assert env["pin"] not in r.text and env["pin"].replace(" ", "") not in r.text


def test_reload_and_language_switch_keep_the_message(stack, clean_address):
    env = new_application(stack, unique("prg"))
    sub = Subscriber(stack)
    typed = "  " + env["server_name"]
    r = fail(sub, env, server_name=typed, pin=wrong(env))
    msg = page_error(r)
    cookie = next(c for c in sub.s.cookies if c.name == "ecert_flash")
    assert cookie.path == "/ecert/login" and cookie.has_nonstandard_attr("HttpOnly")
    header = r.history[0].headers["Set-Cookie"]
    assert re.search(r"ecert_flash=[^;]*; Path=/ecert/login; Max-Age=\d+; HttpOnly; SameSite=Strict", header)
    assert wrong(env) not in cookie.value and len(cookie.value) < 600
    # a reload (a GET: nothing is posted again) shows the same page, the fields refilled
    tried = attempts(stack, "login_attempt")
    again = sub.get("/login")
    assert again.status_code == 200 and page_error(again) == msg
    assert 'value="%s"' % typed in again.text and 'value="%s"' % env["reference"] in again.text
    assert attempts(stack, "login_attempt") == tried
    zh = sub.get("/login?lang=zh")
    assert "尚餘嘗試次數：4" in page_error(zh) and 'value="%s"' % env["reference"] in zh.text
    # a successful login clears the message
    r = sub.login(env)
    assert r.url.endswith("/confirm")
    assert "ecert_flash" not in sub.s.cookies


def test_a_forged_flash_shows_nothing_or_only_escaped_text(stack):
    base = stack.url("/ecert/login")
    hexed = "<b>x</b>".encode().hex()
    for value, shown in (("0:4:0:%s:" % hexed, True), ("99:1:0::", False), ("0:1:9::", False),
                         ("0:1:0:zz:", False), ("0:1:0:0a:", False),
                         ("x", False), ("0:1:0:::", False), ("0:123:0::", False)):
        r = requests.get(base, cookies={"ecert_flash": value}, timeout=30)
        assert r.status_code == 200 and "<b>x</b>" not in r.text
        assert (page_error(r) is not None) == shown, value
        if shown:
            assert 'value="&lt;b&gt;x&lt;/b&gt;"' in r.text


def test_logout_says_so_in_the_language_chosen(stack):
    env = new_application(stack, unique("out"))
    sub = Subscriber(stack)
    sub.login(env)
    r = sub.get("/confirm?lang=zh")
    assert 'lang="zh-Hant-HK"' in r.text
    r = sub.post("/logout", {})
    assert r.url.endswith("/login") and 'lang="zh-Hant-HK"' in r.text
    assert info(r) == "你已登出。"
    assert sub.get("/confirm").url.endswith("/login")
    # the language chosen in the session is the one after the logout, even when the browser
    # kept no language cookie (else its default: Accept-Language, English here)
    sub = Subscriber(stack)
    sub.login(env)
    sub.get("/confirm?lang=zh")
    sub.s.cookies.clear(domain=next(c.domain for c in sub.s.cookies if c.name == "ecert_lang"), path="/",
                        name="ecert_lang")
    r = sub.post("/logout", {})
    assert info(r) == "你已登出。" and sub.s.cookies.get("ecert_lang") == "zh"
    # the same in English, with the language of the browser
    sub = Subscriber(stack, lang="en")
    sub.login(env)
    r = sub.post("/logout", {})
    assert info(r) == "You have logged out." and 'lang="en"' in r.text


@pytest.mark.parametrize("path", ["/csr", "/download", "/confirm", "/certificate"])
def test_a_deep_link_without_a_session_says_so(stack, path):
    env = new_application(stack, unique("deep"))
    sub = Subscriber(stack)
    r = sub.get(path)
    assert r.url.endswith("/login") and r.history[0].status_code == 303
    assert info(r) == "Your session has ended or you have not logged in: log in to continue."
    # after the login, on where the application stands
    r = sub.post("/login", {"server_name": env["server_name"], "reference": env["reference"], "pin": env["pin"]})
    assert r.url.endswith("/confirm")
    # an expired session: the same
    stack.sql("UPDATE session SET last_seen = NOW() - INTERVAL 2 HOUR WHERE application_id = %s", (env["id"],))
    r = sub.get(path + "?lang=zh")
    assert r.url.endswith("/login") and info(r) == "你的連線時段已結束或你尚未登入：請登入以繼續。"


def test_revocation_login_answers_by_redirect_too(stack, clean_address):
    env = new_application(stack, unique("revprg"))
    sub = Subscriber(stack)
    sub.get("/revoke")
    r = sub.post("/revoke", {"server_name": env["server_name"], "reference": env["reference"], "pin": wrong(env)})
    assert r.history[0].status_code == 303 and r.url.endswith("/revoke") and r.status_code == 200
    assert "is locked: 4." in page_error(r) and 'id="revoke-login-form"' in r.text
    assert page_error(sub.get("/revoke?lang=zh")).startswith("伺服器名稱")
    assert next(c for c in sub.s.cookies if c.name == "ecert_flash").path == "/ecert/revoke"
    assert page_error(sub.get("/login")) is None          # the flow's login page has its own
    r = Subscriber(stack).get("/revoke/select")
    assert r.url.endswith("/revoke") and info(r).startswith("Your session has ended")


@pytest.mark.parametrize("path", ["/login", "/revoke"])
def test_the_privacy_notice_precedes_the_form(stack, path):
    r = requests.get(stack.url("/ecert" + path), timeout=30)
    assert 0 < r.text.index('id="privacy-notice"') < r.text.index("<form")
