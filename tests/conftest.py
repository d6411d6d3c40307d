"""pytest harness: one real e-Cert stack per session (see scripts/stack.py).

The `stack` fixture starts a private MariaDB, SoftHSM token, key ceremony and httpd in a
fresh directory under /tmp (unix socket paths must stay under 108 characters) on free
ports.  It builds nothing: `make pytest` has built build/ already.  At the end it stops
everything and fails the session if httpd's error.log shows errors, crashes or sanitizer
reports that no test declared with stack.expect_log(regex).  The run directory is removed
after a clean session and kept (path printed) otherwise, or always with ECERT_KEEP_RUNDIR=1.

Environment: ECERT_TEST_EXTRA_CONF = extra text appended to the generated ecert.conf.

The stack's private DNS (scripts/dns_lab.py) is Knot DNS signing a test root: as root on
127.0.53.N:53 with delegated zones (signed, bogus, unsigned), else the flat root zone on a
free port. The modules are the test build (build-test/, -DEC_TEST_CLOCK): tests move the DCV
clock by writing seconds into the file $ECERT_TEST_CLOCK names (see `clock` below).
"""

import os
import shutil
import socket
import sys
import tempfile

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "scripts"))

import stack as stackmod  # noqa: E402
from stack import Stack, free_ports  # noqa: E402,F401
from smtp_server import SmtpSink  # noqa: E402

_kept = []


def _dns_address():
    """A loopback address whose port 53 is free (UDP and TCP), or None when not root."""
    if os.geteuid() != 0:
        return None
    for n in range(1, 250):
        addr = "127.0.53.%d" % n
        try:
            for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
                s = socket.socket(socket.AF_INET, kind)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind((addr, 53))
                s.close()
            return addr
        except OSError:
            continue
    return None


@pytest.fixture(scope="session")
def stack(request):
    rundir = tempfile.mkdtemp(prefix="ecert-", dir="/tmp")
    port, dbport = free_ports(2)
    # the daemons detach; be their reaper so stop() leaves no <defunct> entries behind
    stackmod.become_subreaper()
    # the CA's mail relay: a real SMTP server with STARTTLS (tests/smtp_server.py)
    smtp = SmtpSink(rundir).start()
    extra = ("ECertMailRelay %s\nECertMailRelayCA %s\nECertMailOperations ops@ca.example.org\n"
             "ECertMailFrom notices@ca.example.org\n"
             # every test posts from 127.0.0.1: the limit of the public forms is raised, and
             # tests/test_keycomp.py brings it within reach
             "ECertReportRateLimit 500 3600\n"
             # a zone that does not answer fails in 3 s, not the default 10 (tests/test_dcv.py)
             "ECertDNSTimeout 3\n" % (smtp.url, smtp.ca))
    os.environ["ECERT_TEST_CLOCK"] = os.path.join(rundir, "clock")
    st = Stack(rundir, port, dbport, REPO,
               extra_conf=extra + os.environ.get("ECERT_TEST_EXTRA_CONF", ""),
               dns_addr=_dns_address(),
               moddir=os.environ.get("ECERT_BUILD") or os.path.join(REPO, "build-test"))
    st.smtp = smtp
    try:
        st.start(summary=False)
    except BaseException:
        try:
            smtp.stop()
            st.stop()
        finally:
            if os.listdir(rundir):
                _kept.append((rundir, "stack failed to start"))
            else:
                os.rmdir(rundir)
        raise

    yield st

    problems = []
    try:
        st.stop()
        smtp.stop()
    finally:
        problems = st.error_log_problems()
        failed = request.session.testsfailed
        if problems:
            _kept.append((rundir, "httpd error.log problems"))
        elif failed:
            _kept.append((rundir, "%d test(s) failed" % failed))
        elif os.environ.get("ECERT_KEEP_RUNDIR"):
            _kept.append((rundir, "ECERT_KEEP_RUNDIR is set"))
        else:
            shutil.rmtree(rundir, ignore_errors=True)
    if problems:
        pytest.fail("httpd error.log has %d unexpected line(s) (run dir kept: %s):\n%s"
                    % (len(problems), rundir, "\n".join(problems)), pytrace=False)


class Clock:
    """The DCV clock of the test build: days added to the system clock (httpd and ecertctl)."""

    def __init__(self, path):
        self.path = path

    def set_days(self, days):
        with open(self.path, "w") as f:
            f.write("%d\n" % int(days * 86400))

    def reset(self):
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass


@pytest.fixture
def clock(stack):
    c = Clock(os.environ["ECERT_TEST_CLOCK"])
    yield c
    c.reset()


def pytest_terminal_summary(terminalreporter):
    for rundir, why in _kept:
        terminalreporter.write_line("e-Cert stack run dir kept (%s): %s" % (why, rundir))
