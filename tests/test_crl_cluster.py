"""CRLs across two httpd nodes sharing MariaDB and the token, both on a fast schedule
(ECertCRLSchedule every 10s) and with partitioned CRLs (ECertCRLShards 4): one producer per
slot and strictly increasing numbers; an expired revoked certificate on exactly one scheduled
CRL after its notAfter (BR 7.2: its notAfter is moved instead of the clock); MariaDB down at a
scheduled time; a producer killed in the middle of its commit; partitions with their IDP and the
CCADB JSON list, and a change of the number of partitions."""

import datetime
import json
import os
import re
import signal
import subprocess
import time

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtensionOID

import crl_util as c
from ecert_util import Subscriber, certificate_of, make_csr, new_application, page_error, rsa_key

EVERY = 10
FAST = "ECertCRLSchedule every %ds\nECertCRLShards 4\n" % EVERY
FULL = c.FILES["ssl"]


@pytest.fixture(scope="module")
def cluster(stack):
    saved = stack.extra_conf
    stack.extra_conf = (saved + "\n" if saved else "") + FAST
    stack.restart_httpd(1)
    stack.start_httpd2()
    yield stack
    stack.stop_httpd2()
    stack.extra_conf = saved
    stack.restart_httpd(1)


def ssl_id(stack):
    return stack.sql("SELECT id FROM ca WHERE role = 'ssl'")[0][0]


def issue_on(stack, instance, name):
    """Issues through the pages of one node: (x509, serial_hex, PEM)."""
    env = new_application(stack, name)
    sub = Subscriber(stack, instance=instance)
    r = sub.login(env)
    assert "/confirm" in r.url, page_error(r)
    r = sub.confirm()
    r = sub.submit_csr(make_csr(rsa_key(), name))
    assert r.url.endswith("/certificate"), page_error(r)
    cert, _, serial_hex, _ = certificate_of(stack, env)
    return cert, serial_hex, cert.public_bytes(Encoding.PEM).decode()


def unique(prefix):
    return "%s%d-%d.example.org" % (prefix, os.getpid() % 10000, time.monotonic_ns() % 10**9)


def shard_of(cert):
    return int.from_bytes(cert.serial_number.to_bytes(20, "big")[-2:], "big") % 4


def rows_since(stack, issuer, t0, name=FULL):
    return stack.sql("SELECT crl_number, this_update, cause, scheduled FROM crl WHERE issuer_id = %s "
                     "AND file = %s AND this_update >= %s ORDER BY crl_number", (issuer, name, t0))


def integrity_problems(stack):
    return stack.sql("SELECT c.issuer_id, c.crl_number FROM crl c LEFT JOIN (SELECT issuer_id, crl_number, "
                     "COUNT(*) n, SUM(LENGTH(data)) sz FROM crl_chunk GROUP BY issuer_id, crl_number) k "
                     "ON k.issuer_id = c.issuer_id AND k.crl_number = c.crl_number "
                     "WHERE k.n IS NULL OR k.n <> c.chunks OR k.sz <> c.size")


def db_now(stack):
    return stack.sql("SELECT UTC_TIMESTAMP()")[0][0]


# ---------------------------------------------------------------- one producer per slot

def test_two_nodes_one_crl_per_slot_numbers_strictly_increase(cluster):
    stack = cluster
    issuer = ssl_id(stack)
    t0 = db_now(stack)
    time.sleep(3.5 * EVERY)
    rows = rows_since(stack, issuer, t0)
    sched = [r for r in rows if r[2] == "schedule"]
    assert len(sched) >= 3, rows
    numbers = [r[0] for r in rows]
    assert numbers == sorted(set(numbers))
    assert [r[1] for r in rows] == sorted(r[1] for r in rows)
    # thisUpdate strictly increases too: no two CRLs of one URL look alike to a cache
    assert len({r[1] for r in rows}) == len(rows)
    # exactly one scheduled CRL per slot although both nodes fire at the same moments
    slots = [int(r[1].timestamp()) // EVERY for r in sched]
    assert len(slots) == len(set(slots)), sched
    # each number has one audit event
    for n in numbers:
        a = stack.sql("SELECT COUNT(*) FROM audit_event WHERE event = 'crl.issue' AND detail LIKE %s",
                      ("ssl CA %s %%%s number %d entries%%" % (issuer, FULL, n),))[0][0]
        assert a == 1, n
    # and both nodes serve the newest one, byte for byte
    def same():
        a, b = c.crl(stack, "ssl", 1)[1], c.crl(stack, "ssl", 2)[1]
        return a == b and c.crl_number(x509.load_der_x509_crl(a)) >= numbers[-1]
    assert c.wait_for(same, 5)
    assert integrity_problems(stack) == ()


# ---------------------------------------------------------------- partitions

def test_partitioned_crls_idp_json_and_a_change_of_count(cluster, tmp_path):
    stack = cluster
    # a certificate in partition 2 or 3, so that two partitions later it is outside 0..1
    for i in range(12):
        cert, serial_hex, pem = issue_on(stack, 2, unique("shard%d-" % i))
        if shard_of(cert) >= 2:
            break
    else:
        pytest.fail("no certificate landed in partition 2 or 3")
    k = shard_of(cert)
    part = "eCertSCA3-17CRL1-%d.crl" % k
    cdp = cert.extensions.get_extension_for_oid(ExtensionOID.CRL_DISTRIBUTION_POINTS).value
    assert [n.value for n in cdp[0].full_name] == [c.CRL_BASE + part]
    assert stack.sql("SELECT crl_shard FROM certificate WHERE serial_hex = %s", (serial_hex,))[0][0] == k
    stack.ctl("revoke", serial_hex, "--reason", "superseded")
    got = c.wait_for_entry(stack, "ssl", cert.serial_number, timeout=15, name=part)
    assert got, "the partition did not list the revocation"
    crl, der, entry = got
    # BR 7.2.2.1: critical IDP whose fullName is the certificate's CDP URI, nothing else asserted
    idp = crl.extensions.get_extension_for_class(x509.IssuingDistributionPoint)
    assert idp.critical
    assert [n.value for n in idp.value.full_name] == [c.CRL_BASE + part]
    assert c.cdp_uri_der(cert.public_bytes(Encoding.DER)) == (c.CRL_BASE + part).encode()
    assert not (idp.value.only_contains_ca_certs or idp.value.only_contains_user_certs or
                idp.value.indirect_crl or idp.value.only_some_reasons)
    assert crl.is_signature_valid(c.ca_cert(stack, "ssl").public_key())
    r = c.openssl_verify_crl(stack, der, "ssl")
    assert r.returncode == 0, r.stderr
    res = c.openssl_verify_leaf(stack, pem, "ssl", [der, c.crl(stack, "root")[1]])
    assert res.returncode != 0 and "certificate revoked" in res.stdout + res.stderr
    # the full CRL lists it too; every partition 0..3 exists on both nodes
    full, _ = c.crl(stack, "ssl")
    assert full.get_revoked_certificate_by_serial_number(cert.serial_number) is not None
    for j in range(4):
        for node in (1, 2):
            p, _ = c.crl(stack, "eCertSCA3-17CRL1-%d.crl" % j, node)
            assert p.extensions.get_extension_for_class(x509.IssuingDistributionPoint).critical
    # the CCADB JSON array of partitioned CRLs
    def listing():
        r = c.fetch(stack, "eCertSCA3-17CRL1.json")
        return r if r.status_code == 200 else None
    r = c.wait_for(listing, 5)
    assert r and r.headers["Content-Type"] == "application/json"
    urls = json.loads(r.content)
    assert set(urls) == {c.CRL_BASE + FULL} | {c.CRL_BASE + "eCertSCA3-17CRL1-%d.crl" % j for j in range(4)}
    # two partitions from now on: the one this certificate names is still issued while it lives
    conf = tmp_path / "two.conf"
    conf.write_text(open(stack.ecert_conf).read().replace("ECertCRLShards 4", "ECertCRLShards 2"))
    before = c.crl_number(c.crl(stack, part)[0])
    out = stack.ctl("crl", "issue", "--ca", "ssl", conf=str(conf)).stdout
    assert re.search(r"^CRL issued: ssl +%s +number \d+, 1 entries" % re.escape(part), out, re.M), out
    assert c.wait_for_number_above(stack, part, before, 5)


# ---------------------------------------------------------------- BR 7.2: expired entries

def test_expired_entry_stays_for_one_scheduled_crl_then_goes(cluster):
    stack = cluster
    issuer = ssl_id(stack)
    cert, serial_hex, _ = issue_on(stack, 1, unique("expiry"))
    stack.ctl("revoke", serial_hex, "--reason", "cessationOfOperation")
    assert c.wait_for_entry(stack, "ssl", cert.serial_number, timeout=15)
    # revoked long ago, expiring in a few seconds: between two scheduled CRLs
    stack.sql("UPDATE certificate SET revoked_at = UTC_TIMESTAMP() - INTERVAL 1 HOUR, "
              "status_changed = NOW(6) - INTERVAL 1 HOUR, not_after = UTC_TIMESTAMP() + INTERVAL 4 SECOND "
              "WHERE issuer_id = %s AND serial_hex = %s", (issuer, serial_hex))
    not_after = stack.sql("SELECT not_after FROM certificate WHERE serial_hex = %s", (serial_hex,))[0][0]

    def two_scheduled_after():
        s = [r for r in rows_since(stack, issuer, not_after) if r[3] and r[1] > not_after]
        return s if len(s) >= 2 else None
    sched = c.wait_for(two_scheduled_after, 4 * EVERY, 0.5)
    assert sched, "no two scheduled CRLs after the certificate expired"
    first, second = sched[0][0], sched[1][0]

    for number, want in ((first, True), (second, False)):
        out = os.path.join(stack.rundir, "exp-%d.crl" % number)
        stack.ctl("crl", "show", str(number), "--ca", "ssl", "--out", out)
        with open(out, "rb") as f:
            crl = x509.load_der_x509_crl(f.read())
        assert (crl.get_revoked_certificate_by_serial_number(cert.serial_number) is not None) == want, number
        assert crl.last_update > not_after


# ---------------------------------------------------------------- faults

def test_mariadb_down_at_a_scheduled_time(cluster):
    stack = cluster
    issuer = ssl_id(stack)
    for pat in (r"\[dbd:(error|crit)\]", r"ECS000[5-8]: ", r"ECO0050", r"\[ocsp:(error|crit)\].*DBD",
                r"ECQ000[12]: cannot (re-sign|refresh)", r"ECE0103: ", r"ECR000[1-3]: ", r"ECR0010: "):
        stack.expect_log(pat)
    served = {n: c.crl(stack, "ssl", n)[1] for n in (1, 2)}
    last = stack.sql("SELECT last_number FROM crl_state WHERE issuer_id = %s", (issuer,))[0][0]
    stack.stop_mariadb()
    down = time.time()
    try:
        time.sleep(EVERY * 1.5)
        # the last CRL is still served by both nodes, unchanged
        for n in (1, 2):
            r = c.fetch(stack, FULL, n)
            assert r.status_code == 200
            assert c.crl_number(x509.load_der_x509_crl(r.content)) >= \
                c.crl_number(x509.load_der_x509_crl(served[n]))
    finally:
        stack.start_mariadb()
    # the missed slot is made up at once, with the next number and no gap
    def caught_up():
        row = stack.sql("SELECT last_number, last_slot FROM crl_state WHERE issuer_id = %s", (issuer,))[0]
        return row if row[0] > last and row[1] and row[1].timestamp() >= down else None
    got = c.wait_for(caught_up, 3 * EVERY, 0.5)
    assert got, "no scheduled CRL after the outage"
    numbers = [r[0] for r in stack.sql("SELECT crl_number FROM crl WHERE issuer_id = %s AND crl_number > %s "
                                       "ORDER BY crl_number", (issuer, last))]
    assert numbers == list(range(last + 1, last + 1 + len(numbers)))
    assert integrity_problems(stack) == ()


def test_producer_killed_mid_commit_leaves_no_gap_and_no_row(cluster):
    stack = cluster
    ev = stack.sql("SELECT id FROM ca WHERE role = 'ev'")[0][0]
    stack.sql_owner("CREATE TABLE IF NOT EXISTS crl_test_sleep (x INT)")
    stack.sql_owner("DELETE FROM crl_test_sleep")
    stack.sql_owner("CREATE TRIGGER crl_test_slow BEFORE INSERT ON crl_chunk FOR EACH ROW "
              "BEGIN IF NEW.issuer_id = %d AND (SELECT COUNT(*) FROM crl_test_sleep) > 0 THEN "
              "DO SLEEP(3); END IF; END" % ev)
    try:
        # wait for a quiet moment of the ev schedule, then ecertctl takes the lease
        assert c.wait_for(lambda: stack.sql("SELECT lease_owner IS NULL FROM crl_state WHERE issuer_id = %s",
                                            (ev,))[0][0], 10)
        stack.sql_owner("INSERT INTO crl_test_sleep VALUES (1)")
        cmd = [stack.ecertctl, "-f", stack.ecert_conf, "crl", "issue", "--ca", "ev"]
        proc = subprocess.Popen(cmd, env=stack.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        def leased():
            row = stack.sql("SELECT lease_owner, last_number FROM crl_state WHERE issuer_id = %s", (ev,))[0]
            return row if row[0] and "ecertctl" in row[0] else None
        owner = c.wait_for(leased, 10, 0.05)
        assert owner, "ecertctl never took the lease"
        last = owner[1]
        time.sleep(1.0)                      # inside the slow chunk insert of its commit
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        stack.sql_owner("DELETE FROM crl_test_sleep")
    finally:
        stack.sql_owner("DROP TRIGGER IF EXISTS crl_test_slow")
        stack.sql_owner("DROP TABLE IF EXISTS crl_test_sleep")
    killed_at = time.monotonic()
    # nothing of it was committed
    time.sleep(3.5)
    assert stack.sql("SELECT COUNT(*) FROM crl WHERE issuer_id = %s AND crl_number > %s", (ev, last))[0][0] == 0
    assert integrity_problems(stack) == ()
    # the dead producer's lease runs out and a node issues the next number: no gap
    def next_one():
        return stack.sql("SELECT crl_number, cause FROM crl WHERE issuer_id = %s AND crl_number > %s "
                         "ORDER BY crl_number LIMIT 1", (ev, last))
    got = c.wait_for(next_one, 40, 0.5)
    assert got and got[0][0] == last + 1, got
    assert time.monotonic() - killed_at < 40
    lease = stack.sql("SELECT lease_owner FROM crl_state WHERE issuer_id = %s", (ev,))[0][0]
    assert lease is None or "ecertctl" not in lease
