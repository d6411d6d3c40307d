"""MariaDB restarted while httpd runs (issue 13): every pooled connection of every child died
with the server; the subscriber pages must answer at once, not 503 until each dead connection
has failed one request."""

import requests


def test_pages_answer_right_after_a_database_restart(stack):
    for pat in (r"\[dbd:(error|crit)\]", r"ECS000[5-8]: ", r"ECO0050", r"\[ocsp:(error|crit)\].*DBD",
                r"ECQ000[12]: cannot (re-sign|refresh) the OCSP response", r"ECE0104", r"ECE01\d\d: .*database"):
        stack.expect_log(pat)
    # every visit to the login page stores a session: several pooled connections per child
    with requests.Session() as s:
        for _ in range(12):
            assert s.get(stack.url("/ecert/"), timeout=10).status_code == 200
    stack.stop_mariadb()
    stack.start_mariadb()
    got = [requests.get(stack.url("/ecert/"), timeout=10).status_code for _ in range(24)]
    assert got == [200] * 24, got
