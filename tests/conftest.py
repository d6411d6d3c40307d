"""pytest harness: one real e-Cert stack per session (see scripts/stack.py).

The `stack` fixture starts a private MariaDB, SoftHSM token, key ceremony and httpd in a
fresh directory under /tmp (unix socket paths must stay under 108 characters) on free
ports.  It builds nothing: `make pytest` has built build/ already.  At the end it stops
everything and fails the session if httpd's error.log shows errors, crashes or sanitizer
reports that no test declared with stack.expect_log(regex).  The run directory is removed
after a clean session and kept (path printed) otherwise, or always with ECERT_KEEP_RUNDIR=1.

Environment: ECERT_TEST_EXTRA_CONF = extra text appended to the generated ecert.conf.

The stack's private DNS (scripts/dns_lab.py) is Knot DNS signing a test root: as root with
delegated zones (signed, bogus, unsigned) on port 53, else the flat root zone on a free port of
127.0.0.1.

As root, where network namespaces work, the session first starts a network lab
(scripts/net_lab.py: a bridge 10.X.0.0/16 and namespaces for remote perspectives, stopped at the
very end): the DNS is then on lab.dns_addr (also listening on lab.dns_backend, where a DNS
hijacker forwards to) and the applicants' web sites belong on lab.web_addr. `stack.net` is the
lab (None without one: then the DNS is on 127.0.53.N:53 as root), `stack.web_addr` the address
for the web sites (tests/web_sites.py's ADDR without a lab); the `net` fixture skips without one.

The modules are the test build (build-test/, -DEC_TEST_CLOCK): tests move the DCV clock by
writing seconds into the file $ECERT_TEST_CLOCK names (see `clock` below).
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
from ct_log import CtLog  # noqa: E402
from net_lab import NetLab  # noqa: E402
import web_sites  # noqa: E402

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
def _netlab(request):
    """The session's network lab, or None when not root or namespaces do not work here. Set up
    before the stack and so torn down after it, also when the stack failed."""
    if not NetLab.available():
        yield None
        return
    d = tempfile.mkdtemp(prefix="ecert-net-", dir="/tmp")
    lab = NetLab(d)
    try:
        lab.start()
        yield lab
    finally:
        lab.stop()
        if request.session.testsfailed or os.environ.get("ECERT_KEEP_RUNDIR"):
            _kept.append((d, "network lab (hijackers' logs)"))
        else:
            shutil.rmtree(d, ignore_errors=True)


def ct_logs():
    """The session's CT logs (scripts/ct_log.py, in-process, so tests can switch them): four
    that take today's certificates, two of one operator, and a fifth of a past shard (its
    window ended in 2026-01-01) that issuance must leave alone. A 199-day certificate needs 3
    SCTs from 2 operators: any one of the four may be down."""
    import datetime
    past = (datetime.datetime(2025, 1, 1, tzinfo=datetime.timezone.utc),
            datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc))
    logs = [CtLog("test-log-a1", "Operator-A"), CtLog("test-log-a2", "Operator-A"),
            CtLog("test-log-b1", "Operator-B"), CtLog("test-log-c1", "Operator-C"),
            CtLog("test-log-x2025", "Operator-C", window=past)]
    return [log.start() for log in logs]


@pytest.fixture(scope="session")
def stack(request, _netlab):
    lab = _netlab
    rundir = tempfile.mkdtemp(prefix="ecert-", dir="/tmp")
    port, dbport = free_ports(2)
    # the daemons detach; be their reaper so stop() leaves no <defunct> entries behind
    stackmod.become_subreaper()
    # the CA's mail relay: a real SMTP server with STARTTLS (tests/smtp_server.py)
    smtp = SmtpSink(rundir).start()
    ct = ct_logs()
    extra = ("ECertMailRelay %s\nECertMailRelayCA %s\nECertMailOperations ops@ca.example.org\n"
             "ECertMailFrom notices@ca.example.org\n"
             # every test posts from 127.0.0.1: the limit of the public forms is raised, and
             # tests/test_keycomp.py brings it within reach
             "ECertReportRateLimit 500 3600\n"
             # a zone that does not answer fails in 3 s, not the default 10 (tests/test_dcv.py)
             "ECertDNSTimeout 3\n"
             # a perspective that has not answered in 4 s counts against (tests/test_mpic.py)
             "ECertPerspectiveTimeout 4\n"
             # an audit checkpoint every 5 events or 3 s (tests/test_audit_custody.py)
             "ECertAuditCheckpoint 5 3\n" % (smtp.url, smtp.ca))
    os.environ["ECERT_TEST_CLOCK"] = os.path.join(rundir, "clock")
    # the test build's record of every signature, when tests/test_signing_records.py makes it
    os.environ["ECERT_TEST_SIGNING"] = os.path.join(rundir, "signing")
    st = Stack(rundir, port, dbport, REPO,
               extra_conf=extra + os.environ.get("ECERT_TEST_EXTRA_CONF", ""),
               dns_addr=lab.dns_addr if lab else _dns_address(),
               # Knot also on the lab's dns_backend: what a DNS hijacker in a namespace forwards to
               dns_also_listen=[lab.dns_backend] if lab else None,
               moddir=os.environ.get("ECERT_BUILD") or os.path.join(REPO, "build-test"),
               # six remote perspectives (BR 3.2.2.9), each in a namespace of the lab when
               # there is one; the CA lists five of them (tests/test_mpic.py uses all six)
               perspectives=6, net=lab, ct_logs=ct)
    st.mpic.configured = 5
    st.smtp = smtp
    st.net = lab
    st.web_addr = lab.web_addr if lab else web_sites.ADDR
    try:
        st.start(summary=False)
    except BaseException:
        try:
            smtp.stop()
            st.stop()
            for log in ct:
                log.stop()
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
        for log in ct:
            log.stop()
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


@pytest.fixture(scope="session")
def net(stack):
    """The session's network lab (scripts/net_lab.py); skips where there is none."""
    if stack.net is None:
        pytest.skip("no network lab: %s" % NetLab.unavailable_reason())
    return stack.net


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
