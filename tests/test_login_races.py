"""Login under concurrency (issue 13): attempts against one envelope, or from one address,
are decided one at a time, so the envelope locks after exactly 5 wrong PINs and the address
limit stops at exactly 30 failures however many arrive at once; a right PIN in a burst of
wrong ones never logs in after the fifth failure (and, like any successful login, clears the
count for the wrong ones decided after it)."""

import itertools
import os
import threading

import pytest

from ecert_util import Subscriber, new_application

_n = itertools.count()


def unique(prefix):
    return "%s%d-%d.example.com" % (prefix, os.getpid() % 1000, next(_n))


@pytest.fixture
def clean_address(stack):
    """These tests fail many logins from 127.0.0.1, the address every test uses."""
    stack.expect_log(r"ECE00\d\d: .*(rate|limit)")
    # 40 connections at once on a stack of 100 workers
    stack.expect_log(r"AH10159: server is within MinSpareThreads")
    stack.expect_log(r"AH03490: scoreboard is full")
    yield
    stack.sql("DELETE FROM login_attempt WHERE client_addr = '127.0.0.1' AND success = FALSE")
    stack.sql("DELETE FROM login_gate WHERE client_addr = '127.0.0.1'")


def burst(stack, attempts):
    """attempts: [(env, pin)], posted at once, each from a session with its own form token;
    the responses in that order."""
    subs = [Subscriber(stack) for _ in attempts]
    for s in subs:
        # no kept-alive connection left to time out while the others are prepared
        s.s.headers["Connection"] = "close"
        s.get("/login")
    go, out = threading.Barrier(len(attempts)), [None] * len(attempts)

    def one(i):
        env, pin = attempts[i]
        go.wait(30)
        out[i] = subs[i].s.post(subs[i].url("/login"), data={
            "server_name": env["server_name"], "reference": env["reference"], "pin": pin,
            "csrf": subs[i].csrf}, timeout=60)
    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(attempts))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(90)
    return out


def wrong(env):
    pin = env["pin"].replace("-", "").replace(" ", "")
    return ("1" if pin[0] != "1" else "2") + pin[1:]


def failures_audited(stack, env):
    return stack.sql("SELECT COUNT(*) FROM audit_event WHERE event = 'login.failure' AND detail LIKE %s "
                     "AND detail LIKE '%%wrong PIN%%'", ("envelope %s%%" % env["reference"],))[0][0]


def test_forty_wrong_pins_at_once_count_five(stack, clean_address):
    env = new_application(stack, unique("race5"))
    got = burst(stack, [(env, wrong(env))] * 40)
    assert all(r is not None and r.status_code == 200 for r in got), [r and r.status_code for r in got]
    assert not any(r.url.endswith("/confirm") for r in got)
    failed, locked = stack.sql("SELECT failed_logins, locked FROM application WHERE id = %s", (env["id"],))[0]
    assert (failed, locked) == (5, 1)
    assert failures_audited(stack, env) == 5
    # the right PIN now finds the envelope locked
    assert not Subscriber(stack).login(env).url.endswith("/confirm")


def test_right_pin_in_a_burst_never_after_the_fifth_failure(stack, clean_address):
    env = new_application(stack, unique("race1"))
    got = burst(stack, [(env, wrong(env))] * 30 + [(env, env["pin"])])
    rows = stack.sql("SELECT seq, event, detail FROM audit_event WHERE detail LIKE %s ORDER BY seq",
                     ("envelope %s%%" % env["reference"],))
    events = [(e, "wrong PIN" in d) for _, e, d in rows]
    after = events
    if got[-1].url.endswith("/confirm"):
        ok = events.index(("login.success", False))
        assert sum(1 for e, w in events[:ok] if w) < 5, events
        # a right PIN clears the count, as after any successful login: the rest of the
        # burst starts again from zero and still stops at five
        after = events[ok + 1:]
    assert sum(1 for e, w in after if w) <= 5, events
    assert stack.sql("SELECT failed_logins FROM application WHERE id = %s", (env["id"],))[0][0] <= 5


def test_a_pair_that_is_no_envelope_counts_five_under_a_burst(stack, clean_address):
    """40 wrong attempts at once on a server name / reference pair that is no envelope: it
    counts and locks at exactly five, as an envelope does, and every answer says so alike."""
    stack.sql("DELETE FROM login_attempt WHERE client_addr = '127.0.0.1' AND success = FALSE")
    taken = {r[0] for r in stack.sql("SELECT envelope_ref FROM application")}
    ref = next(str(n) for n in range(800000001, 800100000) if str(n) not in taken)
    nobody = {"server_name": unique("nobody"), "reference": ref, "pin": "1234 5678 9012 3456"}
    got = burst(stack, [(nobody, nobody["pin"])] * 40)
    assert all(r is not None and r.status_code == 200 and r.url.endswith("/login") for r in got)
    assert stack.sql("SELECT failures FROM login_pair WHERE server_name = %s AND reference = %s",
                     (nobody["server_name"], ref))[0][0] == 5
    # four with the attempts left, the fifth and the next 25 locked, then the address limit (30)
    assert sum(1 for r in got if "Attempts left" in r.text) == 4
    assert sum(1 for r in got if "locked after too many" in r.text) == 26
    assert sum(1 for r in got if "Too many unsuccessful logins" in r.text) == 10
    assert stack.sql("SELECT COUNT(*) FROM audit_event WHERE event = 'login.failure' AND detail LIKE %s",
                     ("envelope %s: no such envelope%%" % ref,))[0][0] == 5


def test_address_limit_holds_at_thirty_under_a_burst(stack, clean_address):
    stack.sql("DELETE FROM login_attempt WHERE client_addr = '127.0.0.1' AND success = FALSE")
    envs = [new_application(stack, unique("rate%d" % i)) for i in range(40)]
    seq = stack.sql("SELECT COALESCE(MAX(seq), 0) FROM audit_event")[0][0]
    got = burst(stack, [(e, wrong(e)) for e in envs])
    counted = stack.sql("SELECT COUNT(*) FROM login_attempt WHERE client_addr = '127.0.0.1' AND success = FALSE")[0][0]
    assert counted == 30, counted
    assert sum(1 for r in got if "Too many unsuccessful logins" in r.text) == 10
    # one rate_limited audit record for the window, not one per refused attempt
    assert stack.sql("SELECT COUNT(*) FROM audit_event WHERE event = 'login.rate_limited' AND seq > %s",
                     (seq,))[0][0] == 1


def test_gate_rows_of_quiet_addresses_are_purged(stack, clean_address):
    """One gate row per address that ever tried: those quiet for longer than the window
    (600 s) go at the next attempt, so the table does not grow with every address seen."""
    stack.sql("INSERT INTO login_gate (client_addr, turns, seen_at) VALUES ('192.0.2.7', 3, NOW(3) - "
              "INTERVAL 2 HOUR), ('192.0.2.8', 1, NOW(3))")
    env = new_application(stack, unique("purge"))
    assert Subscriber(stack).login(env).url.endswith("/confirm")
    left = {r[0] for r in stack.sql("SELECT client_addr FROM login_gate WHERE client_addr LIKE '192.0.2.%'")}
    assert left == {"192.0.2.8"}
    stack.sql("DELETE FROM login_gate WHERE client_addr = '192.0.2.8'")
