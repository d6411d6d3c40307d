"""2-of-3 control of the CA keys (CPS 5.2.2, 6.2.2; issue 13). The key ceremony left the token
with a random PIN that only its three custodians' shares give back (the stack keeps them in
RUNDIR/custody, as an unattended run may); `ecertctl activate` takes two at its prompt and
puts the PIN in the kernel keyring for httpd, `ecertctl deactivate` takes it away and restarts
httpd so that nothing signs. The PIN itself is in no file (test_foundation checks the run
directory), and every attempt is audited."""

import os
import re
import subprocess
import time

import pytest

import ocsp_util as u
from ecert_util import Subscriber, make_csr, new_application, rsa_key


def audit_since(stack, seq, event):
    return [d for (d,) in stack.sql("SELECT detail FROM audit_event WHERE seq > %s AND event = %s ORDER BY seq",
                                    (seq, event))]


def last_seq(stack):
    return stack.sql("SELECT COALESCE(MAX(seq), 0) FROM audit_event")[0][0]


def activate(stack, text, *args):
    return stack.ctl("activate", *args, input=text, check=False)


def test_one_share_alone_activates_nothing(stack):
    pin, seq = stack.token_pin, last_seq(stack)
    r = activate(stack, stack.share(2) + "\n")
    assert r.returncode == 1
    assert "two custodians' shares are needed" in r.stderr
    # nothing of the share or of the PIN in what ecertctl says or records
    for text in (r.stdout + r.stderr, " ".join(audit_since(stack, seq, "ca.activation_refused"))):
        assert pin not in text and pin.upper() not in text
        assert stack.share(2).split("-")[3][:9] not in text
    assert len(audit_since(stack, seq, "ca.activation_refused")) == 1
    assert stack.token_pin == pin


@pytest.mark.parametrize("case,second,message", [
    ("same share twice", lambda st: st.share(1), "the same share was given twice"),
    ("mistyped", lambda st: st.share(2)[:-10] + ("0" if st.share(2)[-10] != "0" else "1") + st.share(2)[-9:],
     "mistyped"),
    ("garbage", lambda st: "hello", "not a share|incomplete"),
    ("another ceremony", lambda st: re.sub(r"^(ECS1-2-)([0-9A-F]{8})", lambda m: m.group(1) + "%08X" % (
        int(m.group(2), 16) ^ 1), st.share(2)), "mistyped"),
])
def test_bad_second_share_is_refused_and_audited(stack, case, second, message):
    pin, seq = stack.token_pin, last_seq(stack)
    r = activate(stack, stack.share(1) + "\n" + second(stack) + "\n")
    assert r.returncode == 1 and re.search(message, r.stderr), r.stderr
    assert audit_since(stack, seq, "ca.activation_refused")
    assert not audit_since(stack, seq, "ca.activated")
    assert stack.token_pin == pin


def test_shares_on_the_command_line_are_refused(stack):
    r = stack.ctl("activate", stack.share(1), stack.share(2), check=False)
    assert r.returncode == 1 and "typed at the prompt" in r.stderr


@pytest.mark.parametrize("pair", [(1, 3), (3, 2), (2, 1)])
def test_any_two_shares_activate(stack, pair):
    pin, seq = stack.token_pin, last_seq(stack)
    r = stack.activate(pair)
    assert "CA keys activated" in r.stdout
    assert stack.token_pin == pin
    assert audit_since(stack, seq, "ca.activated") == ["CA keys activated with two custodians' shares"]


def test_key_destruction_needs_two_shares(stack):
    """init --force destroys the CA keys: one share is refused before the token is touched;
    two are accepted, and the ceremony then still refuses a hierarchy that has issued."""
    before = stack.sql("SELECT HEX(cert_der) FROM ca ORDER BY id")
    r = stack.ctl("init", "--force", input=stack.share(3) + "\n", check=False)
    assert r.returncode == 1 and "two custodians' shares are needed" in r.stderr
    if stack.sql("SELECT COUNT(*) FROM certificate")[0][0]:
        r = stack.ctl("init", "--force", input=stack.share(3) + "\n" + stack.share(1) + "\n", check=False)
        assert r.returncode == 1 and "refusing to replace a hierarchy that has issued" in r.stderr, r.stderr
    assert stack.sql("SELECT HEX(cert_der) FROM ca ORDER BY id") == before


def issue(stack, name):
    env = new_application(stack, name)
    sub = Subscriber(stack)
    sub.login(env)
    sub.confirm()
    return sub.submit_csr(make_csr(rsa_key(), name))


def fresh_status(stack, ca):
    return u.status_of(u.single(stack, ca["ssl"], u.new_serial()).ocsp())


def test_deactivation_stops_signing_in_every_child(stack):
    stack.expect_log(r"ECG0001")                 # started without the PIN: nothing signs
    stack.expect_log(r"ECI00\d\d")                # issuance refused meanwhile
    stack.expect_log(r"ECE0101|ECE0103|ECR0002")  # a CRL due meanwhile cannot be signed
    stack.expect_log(r"AH00(493|494|171|492|169|170|094|489|292|163)")  # restarts
    # children of the restart still finishing while the graceful one starts new ones
    stack.expect_log(r"AH03490: scoreboard is full")
    ca = u.issuers(stack)
    pidfile = os.path.join(stack.httpd_dir, "httpd.pid")
    presigned = u.add_cert(stack, ca["ssl"])
    u.wait_for(lambda: u.replica_has(stack, ca["ssl"], presigned), True, 15, 0.2)
    assert u.replica_has(stack, ca["ssl"], presigned)
    seq = last_seq(stack)
    children = set(stack._httpd_procs(stack.httpd_conf)) - {stack.httpd_pid()}
    try:
        r = stack.ctl("deactivate", "--httpd-pid", pidfile)
        assert "CA keys deactivated" in r.stdout and "told to restart" in r.stdout
        with pytest.raises(Exception):
            stack.token_pin
        # every child is a new one, started without the PIN, within seconds
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            now = set(stack._httpd_procs(stack.httpd_conf)) - {stack.httpd_pid()}
            if now and not now & children and fresh_ok(stack, ca) == "tryLater":
                break
            time.sleep(0.2)
        assert now and not now & children, (children, now)
        assert [fresh_status(stack, ca) for _ in range(12)] == ["tryLater"] * 12
        before = stack.sql("SELECT COUNT(*) FROM certificate")[0][0]
        r = issue(stack, "deactivated-%d.example.com" % (os.getpid() % 10000))
        assert r.url.endswith("/csr") and "could not be issued" in r.text, r.url
        assert stack.sql("SELECT COUNT(*) FROM certificate")[0][0] == before
        # what was pre-signed is still answered, signed by the responder
        resp = u.single(stack, ca["ssl"], presigned).ocsp()
        u.verify(resp, ca["ssl"])
        assert resp.certificate_status.name == "GOOD"
        assert audit_since(stack, seq, "ca.deactivated") == ["CA keys deactivated"]
        log = open(stack.error_log_path()).read()
        assert "[ecert:notice]" in log and "ECG0001: the CA keys are not activated (ecertctl activate, two " \
            "custodians' shares): issuance and CRL signing wait" in log
        assert re.search(r"\[ocsp:notice\].*ECG0001: the CA keys are not activated.*pre-signed answers are served", log)
    finally:
        r = stack.activate()
    # activation with --httpd-pid: signing is back without anyone restarting httpd by hand
    r = stack.ctl("activate", "--httpd-pid", pidfile, input=stack.share(2) + "\n" + stack.share(3) + "\n")
    assert "told to graceful" in r.stdout
    status, waited = u.wait_for(lambda: fresh_ok(stack, ca), "successful", 20, 0.2)
    assert status == "successful", waited
    for i in range(20):
        r = issue(stack, "reactivated%d-%d.example.com" % (i, os.getpid() % 10000))
        if r.url.endswith("/certificate"):
            break
        time.sleep(0.5)
    assert r.url.endswith("/certificate"), r.status_code


def fresh_ok(stack, ca):
    try:
        return fresh_status(stack, ca)
    except Exception:          # a connection refused in the moment of the restart
        return "no answer"


def test_child_token_handles_are_shared_by_vhosts(stack):
    """Two name-based vhosts inherit ECertIssuer: each child opens one token handle, not three."""
    extra = ("<VirtualHost *:%d>\nServerName a.invalid\n</VirtualHost>\n"
             "<VirtualHost *:%d>\nServerName b.invalid\n</VirtualHost>\n") % (stack.port, stack.port)
    old = stack.extra_conf
    stack.expect_log(r"AH00(493|494|171|492|169|170|094|489|292|163)")
    mark = os.path.getsize(stack.error_log_path())
    try:
        stack.extra_conf = (old + "\n" + extra) if old else extra
        stack.restart_httpd()
        time.sleep(1)
        with open(stack.error_log_path()) as f:
            f.seek(mark)
            lines = [l for l in f if "ECE0014" in l]
        per_child = {}
        for l in lines:
            pid = re.search(r"\[pid (\d+)", l).group(1)
            per_child[pid] = per_child.get(pid, 0) + 1
        assert per_child and set(per_child.values()) == {1}, lines
    finally:
        stack.extra_conf = old
        stack.restart_httpd()
