"""The node's OCSP replica (issue 11): bootstrapped from an existing store, it answers for
every certificate, including those nobody asked about since the start, while MariaDB is
stopped; a revocation reaches it; a damaged file is set aside and rebuilt; a damaged record
is never served; a restart while the database is away still answers from it. The replica is
read with LMDB's own mdb_dump, answers are checked with Python cryptography."""

import os
import shutil
import time

import pytest

import ocsp_util as u

BULK = 300


@pytest.fixture(scope="module")
def ca(stack):
    return u.issuers(stack)


def database_down_patterns(stack):
    for pat in (r"\[dbd:(error|crit)\]", r"ECS000[5-8]: ", r"ECO0050", r"ECO0054", r"\[ocsp:(error|crit)\].*DBD",
                r"ECQ000[12]: cannot (re-sign|refresh) the OCSP response", r"ECE0104", r"ECE01\d\d: .*database"):
        stack.expect_log(pat)


def bulk_add(stack, issuer, n):
    """n certificates in one statement, every 10th revoked (keyCompromise), all queued."""
    serials = [u.new_serial() for _ in range(n)]
    rows, args = [], []
    for i, s in enumerate(serials):
        revoked = i % 10 == 0
        rows.append("(%s, %s, 'bulk.example.com', UNHEX(SHA2(%s, 256)), UNHEX('00'), UTC_TIMESTAMP() - "
                    "INTERVAL 1 DAY, UTC_TIMESTAMP() + INTERVAL 90 DAY, %s, " +
                    ("UTC_TIMESTAMP(), 1)" if revoked else "NULL, NULL)"))
        args += [s, issuer.id, s, "revoked" if revoked else "issued"]
    stack.sql("INSERT INTO certificate (serial_hex, issuer_id, server_name, spki_sha256, cert_der, not_before, "
              "not_after, status, revoked_at, revocation_reason) VALUES " + ", ".join(rows), tuple(args))
    stack.sql("INSERT INTO ocsp_pending (issuer_id, serial_hex) VALUES " + ", ".join(["(%s, %s)"] * n),
              tuple(x for s in serials for x in (issuer.id, s)))
    return serials


def seq_certs(stack, issuer, n):
    """n certificates inserted by one statement (serials: a random prefix and a counter, in
    order), all queued; (prefix, serials in serial order)."""
    prefix = "2" + u.new_serial(3)[:5]
    stack.sql("INSERT INTO certificate (serial_hex, issuer_id, server_name, spki_sha256, cert_der, not_before, "
              "not_after, status) SELECT CONCAT(%s, LPAD(HEX(seq), 34, '0')), %s, 'seq.example.com', "
              "UNHEX(SHA2(CONCAT(%s, seq), 256)), UNHEX('00'), UTC_TIMESTAMP() - INTERVAL 1 DAY, "
              "UTC_TIMESTAMP() + INTERVAL 90 DAY, 'issued' FROM seq_1_to_" + str(n), (prefix, issuer.id, prefix))
    serials = [r[0] for r in stack.sql("SELECT serial_hex FROM certificate WHERE serial_hex LIKE %s "
                                       "ORDER BY serial_hex", (prefix + "%",))]
    assert len(serials) == n
    stack.sql("INSERT INTO ocsp_pending (issuer_id, serial_hex) SELECT issuer_id, serial_hex FROM certificate "
              "WHERE serial_hex LIKE %s", (prefix + "%",))
    return prefix, serials


def wait_queue_empty(stack, timeout):
    left, _ = u.wait_for(lambda: stack.sql("SELECT COUNT(*) FROM ocsp_pending")[0][0], 0, timeout, 0.2)
    assert left == 0, "%d certificates still queued" % left


def wait_replicated(stack, issuer, serials, timeout=30):
    def missing():
        recs = u.replica_records(stack)
        return sum(1 for s in serials if not u.replica_has(stack, issuer, s, records=recs))
    left, _ = u.wait_for(missing, 0, timeout, 0.2)
    assert left == 0, "%d of %d certificates not in the replica" % (left, len(serials))


def test_bootstrapped_replica_answers_everything_with_database_down(stack, ca):
    database_down_patterns(stack)
    serials = bulk_add(stack, ca["ssl"], BULK)
    wait_queue_empty(stack, 120)
    # a new replica, filled from the store alone
    stack.stop_httpd()
    shutil.rmtree(u.replica_dir(stack))
    stack.start_httpd()
    wait_replicated(stack, ca["ssl"], serials)
    assert any("ECO0055" in line for line in stack.error_log_lines()), "no caught-up line"
    stack.stop_mariadb()
    try:
        got = {}
        for i, s in enumerate(serials):
            for alg in ("sha1", "sha256"):
                resp = u.single(stack, ca["ssl"], s, alg).ocsp()
                got[(s, alg)] = resp.certificate_status.name if resp.response_status.value == 0 \
                    else u.status_of(resp)
                if i % 50 == 0:
                    u.verify(resp, ca["ssl"])
                    if i % 10 == 0:
                        assert resp.revocation_reason.name == "key_compromise"
        want = {(s, alg): ("REVOKED" if i % 10 == 0 else "GOOD") for i, s in enumerate(serials)
                for alg in ("sha1", "sha256")}
        assert got == want
        # what the replica does not hold still needs the database
        assert u.cert_status(stack, ca["ssl"], u.new_serial()) == "tryLater"
    finally:
        stack.start_mariadb()
        stack.restart_httpd()


def test_revocation_reaches_the_replica(stack, ca):
    database_down_patterns(stack)
    s = u.add_cert(stack, ca["ssl"])
    wait_replicated(stack, ca["ssl"], [s])
    u.revoke_sql(stack, ca["ssl"], s, reason=4)
    st, waited = u.wait_for(lambda: u.cert_status(stack, ca["ssl"], s), "REVOKED", 5, 0.02)
    assert st == "REVOKED" and waited < 1.0, waited

    def replica_status():
        v = u.replica_records(stack).get(u.replica_key(ca["ssl"], s))
        return u.record_status(v) if v else None
    assert u.wait_for(replica_status, 1, 5, 0.1)[0] == 1          # EC_OCSP_REVOKED, signed
    stack.stop_mariadb()
    try:
        assert u.cert_status(stack, ca["ssl"], s) == "REVOKED"
        assert u.cert_status(stack, ca["ssl"], s, "sha256") == "REVOKED"
    finally:
        stack.start_mariadb()
        stack.restart_httpd()


def test_damaged_file_is_set_aside_and_rebuilt(stack, ca):
    serials = [u.add_cert(stack, ca["ev"]) for _ in range(5)]
    wait_replicated(stack, ca["ev"], serials)
    stack.stop_httpd()
    data = os.path.join(u.replica_dir(stack), "data.mdb")
    with open(data, "r+b") as f:
        f.write(b"\xa5" * 16384)          # both LMDB meta pages and more
    stack.start_httpd()
    lines = [ln for ln in stack.error_log_lines() if "ECO0012" in ln]
    assert lines and ("cannot be opened" in lines[-1] or "failed" in lines[-1]), lines[-1:]
    assert os.path.exists(data + ".damaged")
    wait_replicated(stack, ca["ev"], serials)
    for s in serials:
        u.verify(u.single(stack, ca["ev"], s).ocsp(), ca["ev"])
        assert u.cert_status(stack, ca["ev"], s) == "GOOD"


def test_damaged_record_is_never_served(stack, ca):
    database_down_patterns(stack)
    stack.expect_log(r"ECO0041: the replica's record .* fails its check")
    s = u.add_cert(stack, ca["ssl"])
    wait_replicated(stack, ca["ssl"], [s])
    der = u.record_der(u.replica_records(stack)[u.replica_key(ca["ssl"], s)])
    stack.stop_httpd()
    data = os.path.join(u.replica_dir(stack), "data.mdb")
    with open(data, "rb") as f:
        raw = bytearray(f.read())
    # the signature's last octets, in every copy LMDB left in the file
    tail = der[-24:]
    at, hits = raw.find(tail), 0
    while at >= 0:
        raw[at] ^= 0xff
        hits += 1
        at = raw.find(tail, at + 1)
    assert hits >= 1
    with open(data, "wb") as f:
        f.write(raw)
    stack.start_httpd()
    # answered from the database, correctly signed
    resp = u.single(stack, ca["ssl"], s).ocsp()
    u.verify(resp, ca["ssl"])
    assert resp.certificate_status.name == "GOOD"
    assert any("ECO0041" in line for line in stack.error_log_lines())
    # and with the database away: tryLater, never the damaged bytes
    stack.stop_mariadb()
    try:
        assert u.cert_status(stack, ca["ssl"], s) == "tryLater"
    finally:
        stack.start_mariadb()
        stack.restart_httpd()


def test_restart_while_database_is_down_answers_from_the_replica(stack, ca):
    database_down_patterns(stack)
    serials = [u.add_cert(stack, ca["ssl"]) for _ in range(3)]
    wait_replicated(stack, ca["ssl"], serials)
    stack.stop_httpd()
    stack.stop_mariadb()
    try:
        stack.start_httpd()
        time.sleep(0.5)
        # not known to be current (no round of this start caught up): served because the
        # database cannot give a better answer
        for s in serials:
            resp = u.single(stack, ca["ssl"], s).ocsp()
            u.verify(resp, ca["ssl"])
            assert resp.certificate_status.name == "GOOD"
    finally:
        stack.start_mariadb()
        stack.restart_httpd()


def test_mass_revocation_in_one_statement_buries_every_answer(stack, ca):
    """6,000 certificates revoked by one UPDATE share one status_changed, more than one batch
    of the change feed: every one of their answers in the replica is buried (and nothing is
    re-signed here, so only the tombstones stand between a relying party and GOOD)."""
    st = stack
    prefix, serials = seq_certs(st, ca["ssl"], 6000)
    wait_queue_empty(st, 120)
    wait_replicated(st, ca["ssl"], serials, 60)
    st.sql("UPDATE certificate SET status = 'revoked', revoked_at = UTC_TIMESTAMP(), revocation_reason = 1, "
           "status_changed = NOW(6) WHERE serial_hex LIKE %s", (prefix + "%",))
    assert st.sql("SELECT COUNT(DISTINCT status_changed) FROM certificate WHERE serial_hex LIKE %s",
                  (prefix + "%",))[0][0] == 1

    def still_good():
        recs = u.replica_records(st)
        return sum(1 for s in serials for alg in ("sha1", "sha256")
                   if u.record_status(recs[u.replica_key(ca["ssl"], s, alg)]) == 0)
    left, waited = u.wait_for(still_good, 0, 30, 0.5)
    assert left == 0, "%d answers still GOOD in the replica after %.1fs" % (left, waited)
    # the last serials (past the batch boundary) over HTTP: revoked, signed on demand
    for s in serials[-5:]:
        assert u.cert_status(st, ca["ssl"], s) == "REVOKED"


def test_answers_sharing_one_updated_at_all_reach_a_new_replica(stack, ca):
    """A schema migration gives every existing answer one updated_at: a new replica still
    takes all of them, across feed batches (2,000) inside the one timestamp."""
    _, serials = seq_certs(stack, ca["ev"], 1500)
    wait_queue_empty(stack, 120)
    stack.stop_httpd()
    stack.sql("UPDATE ocsp_response SET updated_at = '2026-01-01 00:00:00.000000'")
    assert stack.sql("SELECT COUNT(*) FROM ocsp_response")[0][0] > 2000
    shutil.rmtree(u.replica_dir(stack))
    stack.start_httpd()
    wait_replicated(stack, ca["ev"], serials, 60)


def test_answer_committed_late_still_reaches_the_replica(stack, ca):
    """A signer's upsert that waits on a row lock commits with an updated_at (its statement's
    start) older than answers the feed has already read past: the replica still takes it,
    when the trailing look at answers older than the margin (5 s) comes by."""
    import pymysql
    late = u.add_cert(stack, ca["ssl"], queue=False)
    blocker = pymysql.connect(host="127.0.0.1", port=stack.dbport, user="ecert", password=stack.db_password,
                              database="ecert", autocommit=False)
    try:
        with blocker.cursor() as cur:
            # holds the answer's row: the signer's upsert for it waits until this rolls back
            cur.execute("INSERT INTO ocsp_response (issuer_id, serial_hex, hash_alg, this_update, next_update, "
                        "status_changed, response_der) VALUES (%s, %s, 'sha1', UTC_TIMESTAMP(), UTC_TIMESTAMP(), "
                        "NOW(6), UNHEX('00'))", (ca["ssl"].id, late))
        stack.sql("INSERT INTO ocsp_pending (issuer_id, serial_hex) VALUES (%s, %s)", (ca["ssl"].id, late))
        time.sleep(1.5)         # a signer has taken it and waits
        assert stack.sql("SELECT COUNT(*) FROM ocsp_pending WHERE serial_hex = %s", (late,))[0][0] == 1
        # answers signed and committed meanwhile by the other children: the feed reads past
        # the waiting upsert's updated_at
        after = [u.add_cert(stack, ca["ssl"]) for _ in range(3)]
        wait_replicated(stack, ca["ssl"], after, 10)
        assert not u.replica_has(stack, ca["ssl"], late)
    finally:
        blocker.rollback()
        blocker.close()
    wait_queue_empty(stack, 10)
    newer = stack.sql("SELECT COUNT(*) FROM ocsp_response r JOIN ocsp_response o ON o.issuer_id = r.issuer_id "
                      "AND o.updated_at > r.updated_at WHERE r.issuer_id = %s AND r.serial_hex = %s "
                      "AND o.serial_hex IN (%s, %s, %s)", (ca["ssl"].id, late) + tuple(after))[0][0]
    assert newer > 0, "the waiting upsert's answer is not older than those committed before it"
    t0 = time.monotonic()
    wait_replicated(stack, ca["ssl"], [late], 15)
    assert time.monotonic() - t0 < 12
    assert u.single(stack, ca["ssl"], late).ocsp().certificate_status.name == "GOOD"


def test_random_serial_flood_then_database_down_every_real_certificate_answered(stack, ca):
    """Made-up serials cost the fresh-signing budget and nothing else: their unknown answers
    are kept nowhere, so after a flood of them every real certificate is still in the replica
    and answered, correctly signed, with MariaDB stopped."""
    database_down_patterns(stack)
    serials = bulk_add(stack, ca["ssl"], 60)
    wait_queue_empty(stack, 60)
    wait_replicated(stack, ca["ssl"], serials)
    before = len(u.replica_records(stack))
    flood = [u.cert_status(stack, ca["ssl"], u.new_serial()) for _ in range(300)]
    assert set(flood) <= {"UNKNOWN", "tryLater"} and "UNKNOWN" in flood, set(flood)
    assert len(u.replica_records(stack)) == before, "the flood's answers went into the replica"
    stack.stop_mariadb()
    try:
        for i, s in enumerate(serials):
            for alg in ("sha1", "sha256"):
                resp = u.single(stack, ca["ssl"], s, alg).ocsp()
                u.verify(resp, ca["ssl"])
                assert resp.certificate_status.name == ("REVOKED" if i % 10 == 0 else "GOOD"), (s, alg)
    finally:
        stack.start_mariadb()
        stack.restart_httpd()
