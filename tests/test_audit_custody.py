"""An audit log the application cannot rewrite (CPS 5.4.4; issue 13). The runtime account
(DBDParams) may only append to the audit tables; the chain is anchored outside the database
by checkpoints signed in the token with the audit key of the key ceremony, whose public key
is published in ECertPublishDir. The attack: with the schema owner, drop the append-only
trigger, turn a login.failure into a login.success, recompute every hash and audit_head,
recreate the trigger. The chain alone then looks intact; against the checkpoints it does not."""

import hashlib
import os
import signal
import subprocess
import tempfile
import threading
import time

import pymysql
import pytest

TRIGGER = ("CREATE TRIGGER audit_event_no_update BEFORE UPDATE ON audit_event FOR EACH ROW "
           "SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'audit_event is append-only'")


def key_path(stack):
    return os.path.join(stack.pubdir, "audit-checkpoint-key.pem")


def wait_checkpoint_at_least(stack, seq, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = stack.sql("SELECT COALESCE(MAX(seq), 0) FROM audit_checkpoint")[0][0]
        if got >= seq:
            return got
        time.sleep(0.3)
    return None


def chain(prev, seq, at, actor, event, detail):
    text = "%d\n%s\n%s\n%s\n%s" % (seq, at.strftime("%Y-%m-%d %H:%M:%S.%f"), actor, event, detail)
    return hashlib.sha256(prev + text.encode()).digest()


def test_the_runtime_account_cannot_rewrite_the_audit_log(stack):
    before = stack.sql("SELECT COUNT(*), MAX(seq) FROM audit_event")[0]
    for q in ("DROP TRIGGER audit_event_no_update",
              "UPDATE audit_event SET event = 'login.success' WHERE seq = 1",
              "DELETE FROM audit_event WHERE seq = 1",
              "UPDATE audit_checkpoint SET signed_at = 0",
              "DELETE FROM audit_checkpoint",
              "ALTER TABLE audit_event ADD COLUMN x INT",
              "CREATE TABLE audit_copy (x INT)"):
        with pytest.raises(pymysql.err.MySQLError) as e:
            stack.sql(q)
        assert "denied" in str(e.value), (q, e.value)
    assert stack.sql("SELECT COUNT(*), MAX(seq) FROM audit_event")[0] == before


def test_checkpoints_are_signed_in_the_token_and_verify_with_openssl(stack):
    """After 5 events (ECertAuditCheckpoint 5 3) the node signs one; openssl checks it with
    the key the ceremony published."""
    for _ in range(6):
        stack.ctl("application", "show", stack.sql("SELECT envelope_ref FROM application LIMIT 1")[0][0])
    head = stack.sql("SELECT seq FROM audit_head")[0][0]
    assert wait_checkpoint_at_least(stack, head - 1), "no checkpoint within 20 s"
    seq, hash_hex, at, sig = stack.sql("SELECT seq, LOWER(HEX(hash)), signed_at, signature FROM audit_checkpoint "
                                       "ORDER BY seq DESC LIMIT 1")[0]
    assert stack.sql("SELECT LOWER(HEX(hash)) FROM audit_event WHERE seq = %s", (seq,))[0][0] == hash_hex
    with tempfile.TemporaryDirectory() as d:
        msg, sigf = os.path.join(d, "m"), os.path.join(d, "s")
        with open(msg, "w") as f:
            f.write("ecert-audit-checkpoint-v1 %d %s %d" % (seq, hash_hex, at))
        with open(sigf, "wb") as f:
            f.write(sig)
        ok = subprocess.run(["openssl", "dgst", "-sha256", "-verify", key_path(stack), "-signature", sigf, msg],
                            capture_output=True, text=True)
        assert ok.returncode == 0 and "Verified OK" in ok.stdout, ok.stdout + ok.stderr
        with open(msg, "w") as f:
            f.write("ecert-audit-checkpoint-v1 %d %s %d" % (seq, "00" * 32, at))
        bad = subprocess.run(["openssl", "dgst", "-sha256", "-verify", key_path(stack), "-signature", sigf, msg],
                             capture_output=True, text=True)
        assert bad.returncode != 0
    out = stack.ctl("audit", "verify").stdout
    assert "audit log intact" in out and "checkpoints signed by the audit key match" in out, out


def test_concurrent_checkpoint_writers_leave_one_per_sequence(stack):
    stack.ctl("application", "show", stack.sql("SELECT envelope_ref FROM application LIMIT 1")[0][0])
    results = []

    def one():
        results.append(stack.ctl("audit", "checkpoint", check=False))
    threads = [threading.Thread(target=one) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert all(r.returncode == 0 for r in results), [r.stderr for r in results]
    assert sum("checkpoint written" in r.stdout for r in results) <= 1
    assert stack.sql("SELECT COUNT(*), COUNT(DISTINCT seq) FROM audit_checkpoint")[0] == \
        stack.sql("SELECT COUNT(*), COUNT(*) FROM audit_checkpoint")[0]
    assert "audit log intact" in stack.ctl("audit", "verify").stdout


def test_the_owner_can_rewrite_but_not_past_the_checkpoints(stack):
    # a login.failure to turn into a success, anchored by a checkpoint
    from ecert_util import Subscriber, new_application
    stack.expect_log(r"ECE00\d\d: .*(rate|limit)")
    env = new_application(stack, "audit-attack%d.example.com" % (os.getpid() % 1000))
    Subscriber(stack).login(env, pin="1" * 16)
    stack.ctl("audit", "checkpoint")
    target = stack.sql("SELECT MAX(seq) FROM audit_event WHERE event = 'login.failure'")[0][0]
    assert target and stack.sql("SELECT MAX(seq) FROM audit_checkpoint")[0][0] >= target
    procs = [p for p in stack._httpd_procs(stack.httpd_conf)]
    saved = stack.sql_owner("SELECT seq, event, prev_hash, hash FROM audit_event WHERE seq >= %s ORDER BY seq",
                            (target,))
    head = stack.sql_owner("SELECT seq, hash FROM audit_head")[0]
    # nothing else writes to the log meanwhile: httpd is paused for the attack and its undoing
    for p in procs:
        os.kill(p, signal.SIGSTOP)
    try:
        rows = stack.sql_owner("SELECT seq, at, actor, event, detail, prev_hash FROM audit_event "
                               "WHERE seq >= %s ORDER BY seq", (target,))
        stack.sql_owner("DROP TRIGGER audit_event_no_update")
        prev = rows[0][5]
        for seq, at, actor, event, detail, _ in rows:
            event = "login.success" if seq == target else event
            h = chain(prev, seq, at, actor, event, detail)
            stack.sql_owner("UPDATE audit_event SET event = %s, prev_hash = %s, hash = %s WHERE seq = %s",
                            (event, prev, h, seq))
            prev = h
        stack.sql_owner("UPDATE audit_head SET hash = %s WHERE id = 1", (prev,))
        stack.sql_owner(TRIGGER)
        # the chain alone is fooled: without the published key verify finds nothing wrong
        os.rename(key_path(stack), key_path(stack) + ".away")
        try:
            fooled = stack.ctl("audit", "verify")
        finally:
            os.rename(key_path(stack) + ".away", key_path(stack))
        assert fooled.returncode == 0 and "NOT checked against any checkpoint" in fooled.stdout, fooled.stdout
        caught = stack.ctl("audit", "verify", check=False)
        assert caught.returncode == 1 and "REWRITTEN" in caught.stdout, caught.stdout
        cp = stack.sql("SELECT MIN(seq) FROM audit_checkpoint WHERE seq >= %s", (target,))[0][0]
        assert "the token signed at event %d" % cp in caught.stdout and "at or before %d" % cp in caught.stdout
    finally:
        stack.sql_owner("DROP TRIGGER IF EXISTS audit_event_no_update")
        for seq, event, prev_hash, h in saved:
            stack.sql_owner("UPDATE audit_event SET event = %s, prev_hash = %s, hash = %s WHERE seq = %s",
                            (event, prev_hash, h, seq))
        stack.sql_owner("UPDATE audit_head SET seq = %s, hash = %s WHERE id = 1", head)
        stack.sql_owner(TRIGGER)
        for p in procs:
            os.kill(p, signal.SIGCONT)
    assert "audit log intact" in stack.ctl("audit", "verify").stdout


def test_a_forged_checkpoint_is_refused(stack):
    """The runtime account may insert checkpoints (httpd writes them), but not sign them."""
    seq = stack.sql("SELECT seq FROM audit_head")[0][0] + 1000000
    stack.sql("INSERT INTO audit_checkpoint (seq, hash, signed_at, signature) VALUES (%s, REPEAT(CHAR(0), 32), "
              "UNIX_TIMESTAMP(), REPEAT(CHAR(1), 256))", (seq,))
    try:
        r = stack.ctl("audit", "verify", check=False)
        assert r.returncode == 1 and "checkpoint %d is not signed by the audit key" % seq in r.stdout, r.stdout
    finally:
        stack.sql_owner("DELETE FROM audit_checkpoint WHERE seq = %s", (seq,))
