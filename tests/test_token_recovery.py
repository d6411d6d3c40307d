"""The token taken away from running httpd children and put back (issue 11: token faults):
signing fails cleanly meanwhile (OCSP tryLater, the issuance page's 503, nothing written), and
every child signs again within 5 s of the token's return, without a restart, for OCSP and for
issuance alike (core/ec_p11.c drops a connection whose fresh session fails too, and
reconnects). SoftHSM keeps a token's objects in memory: only a new C_Initialize reads the
files again, which is what a running child must do by itself."""

import glob
import os
import shutil
import threading
import time

import pytest

import ocsp_util as u
from ecert_util import Subscriber, make_csr, new_application, rsa_key


@pytest.fixture
def token_away(stack):
    away = os.path.join(stack.rundir, "tokens-away")     # outside the token directory SoftHSM scans
    moved = []
    stack.expect_log(r"ECP00(01|02|05|06|07|09|11|13)")
    stack.expect_log(r"ECO00\d\d")          # the responder's own lines about signing failures
    stack.expect_log(r"ECI00\d\d")          # issuance refused: the token is not available
    # the CRL worker cannot sign meanwhile (a CRL due after the revocations of earlier tests)
    stack.expect_log(r"ECE0101|ECE0103|ECR0002")
    stack.expect_log(r"ECG0003")            # a child started meanwhile finds no token

    def take():
        os.makedirs(away)
        for d in glob.glob(os.path.join(stack.tokendir, "*")):
            if os.path.isdir(d):
                shutil.move(d, away)
                moved.append(os.path.join(stack.tokendir, os.path.basename(d)))

    def put_back():
        for d in moved:
            # SoftHSM may have written a token held in a process's memory back meanwhile:
            # the files taken away are the token
            if os.path.exists(d):
                shutil.rmtree(d)
            shutil.move(os.path.join(away, os.path.basename(d)), d)
        os.rmdir(away)
        moved.clear()

    yield take, put_back
    if moved:
        put_back()


def fresh_status(stack, ca):
    """The status of an answer signed on demand (a serial never issued: nothing pre-signed)."""
    return u.status_of(u.single(stack, ca["ssl"], u.new_serial()).ocsp())


def issue(stack, name):
    env = new_application(stack, name)
    sub = Subscriber(stack)
    sub.login(env)
    sub.confirm()
    return env, sub.submit_csr(make_csr(rsa_key(), name))


class Load:
    """Fresh-signing requests from 4 threads while the token goes away and comes back, paced
    within the fresh-signing budget (bounded: at most 60 s); what each got, with when."""

    def __init__(self, stack, ca):
        self.stack, self.ca, self.seen, self.stop = stack, ca, [], threading.Event()
        self.threads = [threading.Thread(target=self.run, daemon=True) for _ in range(4)]

    def run(self):
        end = time.monotonic() + 60
        while not self.stop.is_set() and time.monotonic() < end:
            self.seen.append((time.monotonic(), fresh_status(self.stack, self.ca)))
            time.sleep(0.1)

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for t in self.threads:
            t.join(30)


def test_token_away_and_back(stack, token_away):
    take, put_back = token_away
    ca = u.issuers(stack)
    assert fresh_status(stack, ca) == "successful"
    with Load(stack, ca) as load:
        queued = away_and_back(stack, ca, take, put_back, load)
        # the queue filled while the token was away is signed by the signers that met it
        left, _ = u.wait_for(lambda: sum(1 for q in queued if not u.replica_has(stack, ca["ssl"], q)), 0,
                             max(0.5, load.back + 8 - time.monotonic()), 0.2)
        assert left == 0, "%d queued certificates not signed 8 s after the token came back" % left
        time.sleep(max(0, load.back + 7 - time.monotonic()))
    # under load too: only signed answers or tryLater, and signed ones again soon after
    assert {status for _, status in load.seen} <= {"successful", "tryLater"}, {s for _, s in load.seen}
    assert any(status == "tryLater" for _, status in load.seen)
    late = [status for t, status in load.seen if t > load.back + 5]
    assert late and set(late) == {"successful"}, late[:20]


def away_and_back(stack, ca, take, put_back, load):
    take()
    # every child meets the missing token (several requests: they land on different children)
    assert [fresh_status(stack, ca) for _ in range(12)] == ["tryLater"] * 12
    before = stack.sql("SELECT COUNT(*) FROM certificate")[0][0]
    env, r = issue(stack, "token-away-%d.example.com" % (os.getpid() % 10000))
    assert r.url.endswith("/csr") and "could not be issued" in r.text, r.url
    assert stack.sql("SELECT COUNT(*) FROM certificate")[0][0] == before
    queued = [u.add_cert(stack, ca["ssl"]) for _ in range(30)]
    time.sleep(0.5)
    assert stack.sql("SELECT COUNT(*) FROM ocsp_pending WHERE serial_hex IN (%s)" % ", ".join(["%s"] * 30),
                     tuple(queued))[0][0] == 30, "signed with the token away"
    put_back()
    back = load.back = time.monotonic()
    status, waited = u.wait_for(lambda: fresh_status(stack, ca), "successful", 10, step=0.1)
    assert status == "successful" and waited < 5, (status, waited)
    # and every child: the next 20 fresh answers, wherever they land, are all signed
    deadline = back + 5
    while time.monotonic() < deadline and [fresh_status(stack, ca) for _ in range(20)] != ["successful"] * 20:
        time.sleep(0.2)
    assert [fresh_status(stack, ca) for _ in range(20)] == ["successful"] * 20
    assert time.monotonic() - back < 6
    # issuance too, within 5 s of the return: a child's issuing handle reconnects when it is
    # next used, so an attempt in the first moments may still get the clean refusal on the CSR page
    for i in range(20):
        _, r = issue(stack, "token-back%d-%d.example.com" % (i, os.getpid() % 10000))
        if r.url.endswith("/certificate") or time.monotonic() - back > 6:
            break
        assert r.url.endswith("/csr") and "could not be issued" in r.text, r.url
        time.sleep(0.3)
    assert r.url.endswith("/certificate") and time.monotonic() - back < 6.5, r.status_code
    log = open(stack.error_log_path()).read()
    assert "ECP0015" in log and "connection dropped, reconnecting" in log
    assert "reachable again: signing resumes" in log
    return queued
