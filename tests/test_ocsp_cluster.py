"""mod_ocsp across nodes and failures: a second httpd sharing MariaDB and the token sees a
revocation within 1 s (CPS 4.9.5); nonces (OCSPNonce on); the fresh-signing budget; a
schedule the BR forbids; MariaDB stopped mid-test."""

import datetime
import os
import re
import secrets
import shutil
import subprocess
import time

import pytest
from cryptography.x509 import ocsp

import ocsp_util as u
from ocsp_util import certid, request, post, get, verify, single
from stack import StackError


@pytest.fixture(scope="module")
def ca(stack):
    return u.issuers(stack)


@pytest.fixture
def node2(stack):
    """Starts the second httpd with extra configuration; stopped afterwards."""
    started = []

    def start(extra=""):
        stack.start_httpd2(extra_conf=extra)
        started.append(True)
        return 2
    yield start
    stack.stop_httpd2()


def both_revoked(stack, issuer, serial, alg="sha1"):
    return (u.cert_status(stack, issuer, serial, alg, instance=1),
            u.cert_status(stack, issuer, serial, alg, instance=2))


# ------------------------------------------------------------------ revocation on every node


def test_revocation_visible_on_second_node_within_1s(stack, ca, node2):
    node2()
    serials = [u.add_cert(stack, ca["ssl"]) for _ in range(3)]
    # both nodes have answered (and cached) good for every certificate and both CertID forms
    for s in serials:
        for alg in ("sha1", "sha256"):
            for inst in (1, 2):
                st, _ = u.wait_for(lambda: u.cert_status(stack, ca["ssl"], s, alg, inst), "GOOD", 3)
                assert st == "GOOD"

    # 1) as ec_revoke() commits it (status, status_changed, queue row), timed from the commit
    u.revoke_sql(stack, ca["ssl"], serials[0], reason=1)
    t0 = time.monotonic()
    seen = {}
    while len(seen) < 4 and time.monotonic() - t0 < 3:
        for inst in (1, 2):
            for alg in ("sha1", "sha256"):
                if (inst, alg) not in seen and u.cert_status(stack, ca["ssl"], serials[0], alg, inst) == "REVOKED":
                    seen[(inst, alg)] = time.monotonic() - t0
        time.sleep(0.02)
    assert len(seen) == 4, seen
    print("revocation seen after", seen)
    assert max(seen.values()) < 1.0, "revocation took %r" % seen     # CPS 4.9.5

    # 2) through ecertctl (it signs the new answers itself), timed from its return
    r = stack.ctl("revoke", serials[1], "--reason", "privilegeWithdrawn")
    t0 = time.monotonic()
    st, waited = u.wait_for(lambda: both_revoked(stack, ca["ssl"], serials[1]), ("REVOKED", "REVOKED"), 3, 0.02)
    assert st == ("REVOKED", "REVOKED")
    assert waited < 1.0, waited

    # 3) never the old answer again: every later request, both forms, GET and POST, both nodes
    for _ in range(10):
        for inst in (1, 2):
            for alg in ("sha1", "sha256"):
                for s in serials[:2]:
                    der = request(certid(ca["ssl"], s, alg))
                    for resp in (post(stack, der, inst).ocsp(), get(stack, der, inst).ocsp()):
                        assert resp.certificate_status == ocsp.OCSPCertStatus.REVOKED
    # the untouched certificate is still good everywhere
    assert both_revoked(stack, ca["ssl"], serials[2]) == ("GOOD", "GOOD")
    # one answer per certificate was re-signed, not one per node: the queue is empty
    assert stack.sql("SELECT COUNT(*) FROM ocsp_pending WHERE serial_hex IN (%s, %s)", tuple(serials[:2]))[0][0] == 0


def test_issued_after_unknown_on_second_node(stack, ca, node2):
    """A serial answered unknown on both nodes, then issued: good on both within 1 s."""
    node2()
    serial = u.new_serial()
    assert u.cert_status(stack, ca["ev"], serial, instance=1) == "UNKNOWN"
    assert u.cert_status(stack, ca["ev"], serial, instance=2) == "UNKNOWN"
    u.add_cert(stack, ca["ev"], serial)
    st, waited = u.wait_for(lambda: both_revoked(stack, ca["ev"], serial), ("GOOD", "GOOD"), 3, 0.02)
    assert st == ("GOOD", "GOOD") and waited < 1.0, (st, waited)


# ------------------------------------------------------------------ nonce on


def test_nonce_on_echoed_and_fresh(stack, ca, node2):
    node2("OCSPNonce on")
    serial = u.add_cert(stack, ca["ssl"])
    cached = post(stack, request(certid(ca["ssl"], serial)), instance=2)
    assert cached.ocsp().certificate_status == ocsp.OCSPCertStatus.GOOD
    bodies = set()
    for n in (1, 16, 32, 128):
        nonce = secrets.token_bytes(n)
        r = post(stack, request(certid(ca["ssl"], serial), nonce=nonce), instance=2)
        resp = verify(r.ocsp(), ca["ssl"])
        assert resp.certificate_status == ocsp.OCSPCertStatus.GOOD
        ext = resp.extensions.get_extension_for_class(u.x509.OCSPNonce)
        assert ext.value.nonce == nonce
        assert r.headers["cache-control"] == "max-age=0, no-cache"
        assert abs(resp.produced_at - datetime.datetime.utcnow()) < datetime.timedelta(seconds=5)
        bodies.add(r.body)
    assert len(bodies) == 4 and cached.body not in bodies
    # no nonce: the pre-signed answer
    assert post(stack, request(certid(ca["ssl"], serial)), instance=2).body == cached.body
    # several CertIDs and a nonce: one fresh signature over all of them
    other = u.add_cert(stack, ca["ssl"])
    nonce = secrets.token_bytes(20)
    resp = verify(post(stack, request(certid(ca["ssl"], serial), certid(ca["ssl"], other, "sha256"),
                                      nonce=nonce), instance=2).ocsp(), ca["ssl"])
    assert [s.certificate_status for s in resp.responses] == [ocsp.OCSPCertStatus.GOOD] * 2
    assert resp.extensions.get_extension_for_class(u.x509.OCSPNonce).value.nonce == nonce
    # openssl's default request (with a nonce) now verifies without the warning
    r = subprocess.run(["openssl", "ocsp", "-url", stack.url("/ocsp", instance=2), "-issuer", ca["ssl"].pem,
                        "-serial", "0x" + serial, "-CAfile", ca["root"].pem],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "Response verify OK" in r.stderr, r.stderr
    assert "nonce" not in r.stderr.lower(), r.stderr


def test_token_missing_at_start_then_back(stack, ca):
    """A node whose children found no token at start serves pre-signed answers, answers
    tryLater where a signature is needed, and signs again within seconds of the token
    coming back, without a restart."""
    late = os.path.join(stack.httpd2_dir, "tokens-late")
    conf = os.path.join(stack.httpd2_dir, "softhsm2-late.conf")
    shutil.rmtree(late, ignore_errors=True)
    os.makedirs(late)
    with open(conf, "w") as f:
        f.write("directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n" % late)
    os.chmod(conf, 0o644)
    expected = [stack.expect_log(pat) for pat in (r"ECG0003: the HSM is not available",
                                                  r"ECP0007: no token matches")]
    serial = u.add_cert(stack, ca["ssl"])
    st, _ = u.wait_for(lambda: u.cert_status(stack, ca["ssl"], serial), "GOOD", 3)
    assert st == "GOOD"
    try:
        stack.start_httpd2(extra_conf="OCSPNonce on", softhsm_conf=conf)
        assert u.cert_status(stack, ca["ssl"], serial, instance=2) == "GOOD"     # pre-signed
        nonce = secrets.token_bytes(16)
        r = post(stack, request(certid(ca["ssl"], serial), nonce=nonce), instance=2, timeout=20)
        assert u.status_of(r.ocsp()) == "tryLater"

        shutil.copytree(stack.tokendir, late, dirs_exist_ok=True)
        stack.fix_permissions()
        t0 = time.monotonic()
        status = None
        while time.monotonic() - t0 < 15:
            r = post(stack, request(certid(ca["ssl"], serial), nonce=nonce), instance=2, timeout=20)
            status = u.status_of(r.ocsp())
            if status == "successful":
                break
            time.sleep(0.25)
        took = time.monotonic() - t0
        assert status == "successful", status
        resp = verify(r.ocsp(), ca["ssl"])
        assert resp.certificate_status == ocsp.OCSPCertStatus.GOOD
        assert resp.extensions.get_extension_for_class(u.x509.OCSPNonce).value.nonce == nonce
        assert took < 12, took                      # EC_P11_RECONNECT is 2 s
        assert any("ECP0014" in line for line in stack.error_log_lines(2))
    finally:
        stack.stop_httpd2()
        # those errors are expected of this node in this test only
        assert stack.error_log_problems(instances=(2,)) == []
        for pat in expected:
            stack.unexpect_log(pat)
        stack.set_aside_log2("token-late")


def test_nonce_on_bad_sizes_malformed(stack, ca, node2):
    node2("OCSPNonce on")
    serial = u.add_cert(stack, ca["ssl"])
    for bad in (dict(nonce=b""), dict(nonce=b"n" * 129), dict(raw_nonce=b"not an octet string"),
                dict(raw_nonce=b"")):
        r = post(stack, request(certid(ca["ssl"], serial), **bad), instance=2)
        assert u.status_of(r.ocsp()) == "malformedRequest", bad
        assert r.headers["cache-control"] == "max-age=0, no-cache"
    # node 1 (OCSPNonce off) ignores the same requests
    assert u.status_of(post(stack, request(certid(ca["ssl"], serial), nonce=b""), instance=1).ocsp()) == \
        "successful"


# ------------------------------------------------------------------ fresh-signing budget


def test_random_serial_flood_is_bounded(stack, ca, node2):
    node2("OCSPFreshSignRate 5\nOCSPNonce on")
    real = u.add_cert(stack, ca["ssl"])
    t0 = time.monotonic()
    results = []
    for _ in range(80):
        results.append(u.cert_status(stack, ca["ssl"], u.new_serial(), instance=2))
    elapsed = time.monotonic() - t0
    unknown, later = results.count("UNKNOWN"), results.count("tryLater")
    assert unknown + later == len(results), results
    assert later > 0, "80 random serials in %.2fs all got a signature" % elapsed
    # per child: a burst of 5, then 5/s (StartServers 2, ServerLimit 4)
    assert unknown <= 4 * (5 + 5 * elapsed) + 1, (unknown, elapsed)
    # real certificates are not starved: cached, and signed on demand when not yet pre-signed
    assert u.cert_status(stack, ca["ssl"], real, instance=2) == "GOOD"
    fresh = u.add_cert(stack, ca["ssl"], queue=False)
    assert u.cert_status(stack, ca["ssl"], fresh, "sha256", instance=2) == "GOOD"
    # out of budget, a nonce request still gets the pre-signed answer (nonce left out)
    for _ in range(20):
        post(stack, request(certid(ca["ssl"], u.new_serial())), instance=2)
    r = post(stack, request(certid(ca["ssl"], real), nonce=secrets.token_bytes(16)), instance=2)
    resp = verify(r.ocsp(), ca["ssl"])
    assert resp.certificate_status == ocsp.OCSPCertStatus.GOOD


# ------------------------------------------------------------------ configuration


def test_refresh_schedule_the_br_forbids_does_not_start(stack, node2):
    with pytest.raises(StackError) as e:
        node2("OCSPValidity 1d\nOCSPRefresh 20h")
    assert "ECO0004" in str(e.value) and "OCSPRefresh" in str(e.value)
    with pytest.raises(StackError):
        node2("OCSPValidity 11d")
    with pytest.raises(StackError):
        node2("OCSPRefresh 5d")


def test_custom_validity(stack, ca, node2):
    node2("OCSPValidity 8h\nOCSPRefresh 4h\nOCSPNonce on")
    serial = u.add_cert(stack, ca["ssl"])
    resp = verify(post(stack, request(certid(ca["ssl"], serial), nonce=b"12345678"), instance=2).ocsp(),
                  ca["ssl"])
    assert resp.next_update - resp.this_update == datetime.timedelta(hours=8)


# ------------------------------------------------------------------ MariaDB stopped


def test_mariadb_down_replicated_served_else_trylater(stack, ca):
    for pat in (r"\[dbd:(error|crit)\]", r"ECS000[5-8]: .*(gone away|Lost connection|Can't connect|"
                r"not connected|Server shutdown|Commands out of sync|MySQL server)",
                r"ECO0050", r"\[ocsp:(error|crit)\].*DBD",
                # a watchdog round may be re-signing when the server goes
                r"ECQ000[12]: cannot (re-sign|refresh) the OCSP response"):
        stack.expect_log(pat)
    cached = u.add_cert(stack, ca["ssl"])
    cold = u.add_cert(stack, ca["ssl"], queue=False)
    assert u.cert_status(stack, ca["ssl"], cached) == "GOOD"
    assert u.cert_status(stack, ca["ssl"], cached, "sha256") == "GOOD"
    # the node's replica takes the stored answers within a sync round
    assert u.wait_for(lambda: u.replica_has(stack, ca["ssl"], cached), True, 5, 0.1)[0]
    assert not u.replica_has(stack, ca["ssl"], cold)
    stack.stop_mariadb()
    try:
        for _ in range(3):
            assert u.cert_status(stack, ca["ssl"], cached) == "GOOD"
            assert u.cert_status(stack, ca["ssl"], cached, "sha256") == "GOOD"
            assert u.cert_status(stack, ca["ssl"], cold) == "tryLater"
            assert u.cert_status(stack, ca["ssl"], u.new_serial()) == "tryLater"
        # several CertIDs, one of them not cached: tryLater as a whole
        r = post(stack, request(certid(ca["ssl"], cached), certid(ca["ssl"], cold)))
        assert u.status_of(r.ocsp()) == "tryLater"
        assert r.headers["cache-control"] == "max-age=0, no-cache"
        # what needs no store is unchanged
        assert u.status_of(post(stack, b"junk").ocsp()) == "malformedRequest"
        assert u.status_of(post(stack, request(certid(ca["ssl"], cold, name_hash=b"\x00" * 20))).ocsp()) == \
            "unauthorized"
        # other pages are still served by this httpd
        assert get(stack, request(certid(ca["ssl"], cached))).status == 200
    finally:
        stack.start_mariadb()
    st, _ = u.wait_for(lambda: u.cert_status(stack, ca["ssl"], cold), "GOOD", 15, 0.2)
    assert st == "GOOD"
    # and the change feed works again: a revocation after the outage is seen
    u.revoke_sql(stack, ca["ssl"], cached, reason=4)
    st, _ = u.wait_for(lambda: u.cert_status(stack, ca["ssl"], cached), "REVOKED", 5, 0.05)
    assert st == "REVOKED"
    assert stack.httpd_pid(1)


def test_mariadb_restart_between_requests(stack, ca):
    """MariaDB restarts while no request is in flight: the pooled connections must not come
    back without their prepared statements (DBDParams reconnect=0), or the responder would
    answer tryLater for good."""
    for pat in (r"\[dbd:(error|crit)\]", r"ECS000[5-8]: ", r"ECO0050", r"\[ocsp:(error|crit)\].*DBD",
                r"ECQ000[12]: cannot (re-sign|refresh) the OCSP response"):
        stack.expect_log(pat)
    for _ in range(10):          # several pooled connections in every child
        assert u.cert_status(stack, ca["ssl"], u.add_cert(stack, ca["ssl"], queue=False)) == "GOOD"
    stack.stop_mariadb()
    stack.start_mariadb()
    got = [u.cert_status(stack, ca["ssl"], u.add_cert(stack, ca["ssl"], queue=False)) for _ in range(30)]
    assert got == ["GOOD"] * 30, got
