"""A flood of never-issued serials (issue 11): the answers signed for them ("unknown") are not
kept in the node's shared cache, so they cannot push real certificates' answers out of it; with
MariaDB stopped after the flood, every real certificate asked before is still answered."""

import concurrent.futures
import time

import ocsp_util as u
from ocsp_util import certid, get, request

FLOOD = 4000
FLOOD_S = 30


def test_random_serial_flood_then_database_down(stack):
    ca = u.issuers(stack)
    for pat in (r"\[dbd:(error|crit)\]", r"ECS000[5-8]: ", r"ECO0050", r"\[ocsp:(error|crit)\].*DBD",
                r"ECQ000[12]: cannot (re-sign|refresh) the OCSP response",
                # the flood itself: httpd says it is near its worker limit
                r"AH10159: server is within MinSpareThreads of MaxRequestWorkers"):
        stack.expect_log(pat)
    real = [u.add_cert(stack, ca["ssl"]) for _ in range(8)]
    for s in real:
        st, _ = u.wait_for(lambda: u.cert_status(stack, ca["ssl"], s), "GOOD", 10, 0.1)
        assert st == "GOOD"
    deadline = time.monotonic() + FLOOD_S

    def one(_):
        if time.monotonic() > deadline:
            return None
        return get(stack, request(certid(ca["ssl"], u.new_serial()))).status

    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        statuses = [s for s in ex.map(one, range(FLOOD)) if s is not None]
    assert statuses and all(s == 200 for s in statuses)
    stack.stop_mariadb()
    try:
        got = [u.cert_status(stack, ca["ssl"], s) for s in real]
        assert got == ["GOOD"] * 8, got
        assert u.cert_status(stack, ca["ssl"], u.new_serial()) == "tryLater"
    finally:
        stack.start_mariadb()
        # mod_ecert keeps its pooled connections to the old server until they fail (issue 13):
        # the tests after this one get a fresh httpd
        stack.restart_httpd()
    st, _ = u.wait_for(lambda: u.cert_status(stack, ca["ssl"], u.add_cert(stack, ca["ssl"], queue=False)),
                       "GOOD", 15, 0.2)
    assert st == "GOOD"
