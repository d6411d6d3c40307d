#!/usr/bin/python3
"""The local e-Cert CA services stack: private MariaDB, SoftHSMv2 token, key ceremony, httpd.

Used by `make run` / `make stop` (CLI) and by the pytest harness (tests/conftest.py, import).

    stack.py start  RUNDIR [--port N] [--dbport N]
    stack.py stop   RUNDIR
    stack.py status RUNDIR

Defaults: port from $ECERT_PORT or 8080, database port from $ECERT_DBPORT or 33306,
sources = the parent of scripts/.  Everything lives under RUNDIR; no system service or
/etc/mysql configuration is used or touched.  Every step is idempotent: a second `start`
reuses the database, the token and the CA keys, and restarts httpd with fresh configuration.

Any checkout location works.  As root, httpd's children run as www-data, which may not
traverse a private checkout (a clone under /root, a 0700 home).  So the children are given
nothing of the checkout: `start` stages what they read (the modules, htdocs/) into
RUNDIR/stage, and a RUNDIR whose parent they cannot traverse lives in STATE_HOME/<hash of
its path> instead, RUNDIR being a symlink to it (so RUNDIR/ecert.conf still names it).  The
checkout's and home's modes stay as they are; db.pass and custody/ stay root's only.
"""

import argparse
import hashlib
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import string
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dns_lab import DnsLab, DnsLabError  # noqa: E402
from perspectives import Perspectives  # noqa: E402
from ct_logs import CtLogDaemons  # noqa: E402

SRCDIR_DEFAULT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
APACHE = "/usr/sbin/apache2"
MARIADBD = "/usr/sbin/mariadbd"
MARIADB = "mariadb"
MARIADB_INSTALL_DB = "mariadb-install-db"
P11_CANDIDATES = (
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
)
HTTPD_USER = "www-data"
HTTPD_GROUP = "www-data"
# Where a run dir goes whose parent httpd's children cannot traverse (see the docstring).
STATE_HOME = "/var/lib/ecert-run"
MODULES = ("mod_ecert.so", "mod_ocsp.so", "mod_perspective.so")
TOKEN_LABEL = "ecert"
DB_NAME = "ecert"
DB_USER = "ecert"              # the modules' and ecertctl's runtime account (DBDParams)
DB_OWNER = "ecert_owner"       # the schema's owner: migrations, and tests that alter the schema
# What the runtime account may not change: the audit log is append-only for it (CPS 5.4.4),
# and its chain head is the one row it updates there.
APPEND_ONLY = ("audit_event", "audit_checkpoint")
HEAD_ONLY = ("audit_head",)
ROOT_CERT = os.path.join("root", "root_ca_3.pem.crt")
IS_ROOT = os.geteuid() == 0

# error.log lines that make a test session fail
LOG_LEVEL_RE = re.compile(r"\[(?:[\w.-]+:)?(?:error|crit|alert|emerg)\]")
LOG_MARKERS = ("AddressSanitizer", "LeakSanitizer", "runtime error:",
               "Segmentation fault", "exit signal")

# A government (B/D) application: those skip domain validation (User Guide C.4), so the
# demo envelope walks the whole flow on a machine that controls no public domain.
DEMO_APPLICATION = (
    "application", "add",
    "--server-name", "www.example.com",
    "--type", "standard",
    "--government",
    "--org-en", "Hong Kong SAR Government",
    "--org-zh", "香港特別行政區政府",
    "--branch-en", "e-Cert Demonstration Office",
    "--branch-zh", "電子證書示範辦公室",
    "--email", "admin@example.com",
    "--period", "1",
)


# The private DNS of a local run: its root zone holds the demo domain's CAA record, so the
# CA's CAA check before every issuance runs for real (and permits).
DEMO_DNS_RECORDS = (
    (".", "example.com.", 3600, "CAA", '0 issue "ecert.gov.hk"'),
    (".", "example.com.", 3600, "CAA", '0 iodef "mailto:security@example.com"'),
)


class StackError(RuntimeError):
    """Something in the stack could not be brought up (message says what and where to look)."""


class CtlError(subprocess.CalledProcessError):
    """ecertctl exited non-zero; str() includes its output."""

    def __str__(self):
        return "%s\n--- stdout ---\n%s--- stderr ---\n%s" % (
            super().__str__(), self.stdout or "", self.stderr or "")


# ---------------------------------------------------------------- small helpers

def free_ports(n=1, host="127.0.0.1"):
    """n distinct TCP ports that are free right now on host."""
    socks, ports = [], []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((host, 0))
            socks.append(s)
            ports.append(s.getsockname()[1])
    finally:
        for s in socks:
            s.close()
    return ports


def free_port(host="127.0.0.1"):
    return free_ports(1, host)[0]


def port_in_use(port, host="127.0.0.1"):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(1)
        return s.connect_ex((host, port)) == 0


def pid_alive(pid):
    """True if pid exists and is not a zombie."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            stat = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return False
    # state is the first field after the parenthesised command name
    return stat[stat.rfind(")") + 2:][:1] not in ("Z", "X", "")


def pid_cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return [a.decode("utf-8", "replace") for a in f.read().split(b"\0") if a]
    except OSError:
        return []


def read_pid(path):
    try:
        with open(path) as f:
            return int(f.read().strip() or 0) or None
    except (OSError, ValueError):
        return None


def reap(pid):
    """Collect pid's exit status if it is our child (see become_subreaper); else no-op."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def become_subreaper():
    """Make this process the reaper of the daemons it starts (mariadbd, the httpd parent).

    They detach from us, and on machines whose PID 1 does not reap orphans they would stay
    as <defunct> entries after stop().  A long-lived caller (the pytest session) calls this
    once; stop() then collects their exit status.  Returns True if it worked.
    """
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(36, 1, 0, 0, 0) == 0      # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        return False


def wait_pid_gone(pid, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        reap(pid)
        if not pid_alive(pid):
            reap(pid)
            return True
        time.sleep(0.1)
    reap(pid)
    return not pid_alive(pid)


def child_can_traverse(path):
    """True if httpd's child user can reach path (every directory up to it searchable)."""
    if not IS_ROOT:
        return True       # the children run as the caller
    r = subprocess.run(["test", "-x", path], user=HTTPD_USER, group=HTTPD_GROUP, extra_groups=[],
                       stdin=subprocess.DEVNULL, capture_output=True)
    return r.returncode == 0


def run_home(rundir):
    """Where the state of rundir really lives: rundir itself when the children can reach it,
    else STATE_HOME/<hash of rundir's path> (rundir a symlink to it once started)."""
    rundir = os.path.abspath(rundir)
    if os.path.islink(rundir):
        return os.path.realpath(rundir)
    parent = os.path.dirname(rundir)
    while not os.path.exists(parent):       # made below it by makedirs: as reachable as it
        parent = os.path.dirname(parent)
    if os.path.exists(rundir) or child_can_traverse(parent):
        return rundir
    return os.path.join(STATE_HOME, hashlib.sha256(rundir.encode()).hexdigest()[:16])


def random_secret(n=20):
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(n))


def write_private(path, data, mode=0o600):
    """Write a file readable by its owner only (atomically replaced)."""
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(data)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def write_file(path, data, mode=0o644):
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(data)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def read_text(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def tail(path, n=40):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            lines = f.readlines()
    except OSError:
        return "(no %s)" % path
    return "".join(lines[-n:])


# ---------------------------------------------------------------- the stack

class Stack:
    """One e-Cert stack under rundir.  See the module docstring."""

    def __init__(self, rundir, port=None, dbport=None, srcdir=None, extra_conf="",
                 sqldir=None, confdir=None, quiet=False, dns_addr=None, moddir=None,
                 dns_also_listen=None, perspectives=5, net=None, ct_logs=None):
        self.link = os.path.abspath(rundir)       # the path the caller gave
        self.rundir = run_home(self.link)
        self.port = int(port or os.environ.get("ECERT_PORT") or 8080)
        self.dbport = int(dbport or os.environ.get("ECERT_DBPORT") or 33306)
        self.srcdir = os.path.abspath(srcdir or SRCDIR_DEFAULT)
        self.moddir = os.path.abspath(moddir or os.environ.get("ECERT_BUILD") or
                                      os.path.join(self.srcdir, "build"))
        self.ecertctl = os.path.join(self.moddir, "ecertctl")
        # what httpd's children read, copied out of the checkout at each start (stage())
        self.stagedir = os.path.join(self.rundir, "stage")
        self.stage_moddir = os.path.join(self.stagedir, "modules")
        self.stage_htdocs = os.path.join(self.stagedir, "htdocs")
        self.sqldir = sqldir or os.path.join(self.srcdir, "sql")
        self.confdir = confdir or os.path.join(self.srcdir, "conf")
        self.extra_conf = extra_conf or ""
        self.extra_conf2 = ""
        self.quiet = quiet
        self.port2 = None
        self._expected = []

        r = self.rundir
        self.mysql_dir = os.path.join(r, "mysql")
        self.datadir = os.path.join(self.mysql_dir, "data")
        self.mysql_sock = os.path.join(self.mysql_dir, "mysql.sock")
        self.mysql_pidfile = os.path.join(self.mysql_dir, "mariadbd.pid")
        self.mysql_log = os.path.join(self.mysql_dir, "error.log")
        self.mysql_portfile = os.path.join(self.mysql_dir, "port")
        self.dbpass_file = os.path.join(r, "db.pass")
        self.ownerpass_file = os.path.join(r, "db-owner.pass")
        self.softhsm_conf = os.path.join(r, "softhsm2.conf")
        self.tokendir = os.path.join(r, "tokens")
        # The PIN the token is initialised with; the key ceremony replaces it by a random one
        # that exists only as three custodians' shares. Unattended runs keep the shares here
        # (a real CA gives one to each custodian) and activate with two of them at each start.
        self.transport_pin_file = os.path.join(r, "token.transport-pin")
        self.sopin_file = os.path.join(r, "token.sopin")
        self.shares_dir = os.path.join(r, "custody")
        self.pin_key = "ecert-pin-" + hashlib.sha256(self.rundir.encode()).hexdigest()[:16]
        self.ecert_conf = os.path.join(r, "ecert.conf")
        self.httpd_conf = os.path.join(r, "httpd.conf")
        self.ecert2_conf = os.path.join(r, "ecert2.conf")
        self.httpd2_conf = os.path.join(r, "httpd2.conf")
        self.httpd_dir = os.path.join(r, "httpd")
        self.httpd2_dir = os.path.join(r, "httpd2")
        self.softhsm_conf2 = None
        self.pubdir = os.path.join(r, "pub")
        self.dns = self._dns_lab(os.path.join(r, "dns"), dns_addr, dns_also_listen)
        # The remote perspectives (BR 3.2.2.9): on ports of 127.0.0.1, or each in a network
        # namespace of net (scripts/net_lab.py) when the tests give one.
        self.net = net
        self.mpic = Perspectives(os.path.join(r, "perspectives"), self.srcdir, self.stage_moddir,
                                 self.dns.root_server, self.dns.trust_anchor)
        ports = self._perspective_ports(os.path.join(r, "perspectives"), perspectives) if not net else []
        for i in range(perspectives):
            if net:
                host = net.add_host("p%d" % i)
                self.mpic.add(host.addr, 8443, netns=host)
            else:
                self.mpic.add("127.0.0.1", ports[i])
        # Certificate Transparency logs (RFC 6962): the caller's (in-process, the tests), or
        # three log processes of this run (scripts/ct_logs.py)
        self.ct_daemons = ct_logs is None
        self.ct_enabled = True       # False: no ECertCTLog lines at the next write_config
        self.ct_logs = CtLogDaemons(r, self.srcdir, free_ports) if ct_logs is None else list(ct_logs)
        # Only the demo envelope's reference number is kept; its PIN exists in clear only
        # on the terminal (a re-run prints a fresh PIN through `application new-pin`).
        self.demo_ref_file = os.path.join(r, "demo-reference")
        self.demo_envelope = None
        self.p11module = next((p for p in P11_CANDIDATES if os.path.exists(p)), P11_CANDIDATES[0])
        # unix_socket auth maps the peer uid's name: the admin is whoever runs this
        self.admin_user = pwd.getpwuid(os.geteuid()).pw_name

    # ------------------------------------------------------------ misc

    @staticmethod
    def _perspective_ports(d, n):
        """Loopback ports for n perspectives, kept across restarts of the same run dir."""
        port_file = os.path.join(d, "ports")
        try:
            ports = [int(x) for x in read_text(port_file).split()]
        except (OSError, ValueError):
            ports = []
        if len(ports) < n:
            ports = free_ports(n)
            os.makedirs(d, exist_ok=True)
            write_file(port_file, " ".join(map(str, ports)) + "\n")
        return ports

    @staticmethod
    def _dns_lab(d, addr, also_listen=None):
        """DNS on addr:53 with delegated zones when addr is given (tests, as root); else the
        flat root zone on a port of 127.0.0.1, kept across restarts of the same run dir."""
        if addr:
            return DnsLab(d, addr, 53, also_listen=also_listen or [])
        port_file = os.path.join(d, "port")
        try:
            port = int(read_text(port_file).strip())
        except (OSError, ValueError):
            port = free_port()
            os.makedirs(d, exist_ok=True)
            write_file(port_file, "%d\n" % port)
        return DnsLab(d, "127.0.0.1", port, delegated=False, records=DEMO_DNS_RECORDS)

    def say(self, msg):
        if not self.quiet:
            print("stack: " + msg, file=sys.stderr, flush=True)

    def env(self):
        """Environment for every child we launch: SoftHSM config, plain C locale."""
        e = {k: v for k, v in os.environ.items()
             if not k.startswith("LC_") and k not in ("LANGUAGE",)}
        e["LANG"] = "C"
        e["SOFTHSM2_CONF"] = self.softhsm_conf
        return e

    def _run(self, cmd, check=True, what=None, **kw):
        kw.setdefault("stdin", subprocess.DEVNULL)
        r = subprocess.run([str(c) for c in cmd], env=kw.pop("env", self.env()),
                           capture_output=True, text=True, encoding="utf-8",
                           errors="replace", **kw)
        if check and r.returncode != 0:
            raise StackError("%s failed (exit %d): %s\n%s%s" % (
                what or os.path.basename(str(cmd[0])), r.returncode,
                " ".join(str(c) for c in cmd), r.stdout, r.stderr))
        return r

    @property
    def base_url(self):
        return "http://127.0.0.1:%d" % self.port

    def url(self, path="/", instance=1):
        port = self.port if instance == 1 else self.port2
        return "http://127.0.0.1:%d%s" % (port, path)

    def check_build(self):
        missing = [p for p in (self.ecertctl,
                               os.path.join(self.moddir, "mod_ecert.so"),
                               os.path.join(self.moddir, "mod_ocsp.so"),
                               os.path.join(self.moddir, "mod_perspective.so"))
                   if not os.path.exists(p)]
        if missing:
            raise StackError("%s missing: run `make` first (in %s)"
                             % (", ".join(missing), self.srcdir))

    # ------------------------------------------------------------ whole stack

    def start(self, summary=True):
        """Bring everything up (idempotent).  Prints the URLs and PIN envelope if summary."""
        self.check_build()
        self.make_rundir()
        self.stage()
        self.start_mariadb()
        try:
            self.dns.start()
        except DnsLabError as e:
            raise StackError("the private DNS did not start: %s" % e)
        self.mpic.start()
        self.db_setup()
        self.db_upgrade()
        self.db_grants()
        self.init_token()
        self.write_config()
        self.key_ceremony()
        self.start_ct_logs()
        self.activate()
        self.demo_application()
        self.fix_permissions()
        self.start_httpd()
        if summary:
            from url_check import check
            problems = check(self)
            if problems:
                raise StackError("started, but %d of the URLs it serves do not answer as they should "
                                 "(%s; stop with `make stop`):\n  %s"
                                 % (len(problems), self.error_log_path(), "\n  ".join(problems)))
            self.print_summary()

    def stop(self):
        """Stop what start() (and start_httpd2()) started; nothing else."""
        self.stop_httpd(2)
        self.stop_httpd(1)
        self.deactivate_keyring()
        if self.ct_daemons:
            self.ct_logs.stop()
        self.stop_mariadb()
        self.mpic.stop()
        self.dns.stop()

    def make_rundir(self):
        """The run dir, where httpd's children (www-data) reach it (see the docstring)."""
        if self.rundir != self.link:
            os.makedirs(STATE_HOME, mode=0o755, exist_ok=True)
            os.makedirs(self.rundir, exist_ok=True)
            if not os.path.islink(self.link):
                os.symlink(self.rundir, self.link)
            self.say("run dir %s (%s is a link to it: httpd's children cannot traverse %s)"
                     % (self.rundir, self.link, os.path.dirname(self.link)))
        os.makedirs(self.rundir, exist_ok=True)
        if IS_ROOT:
            # httpd children (www-data) traverse RUNDIR to stage/, pub/ and tokens/
            os.chmod(self.rundir, 0o755)
            if not child_can_traverse(self.rundir):
                raise StackError("httpd's children (%s) cannot reach the run dir %s: run `make stop`, "
                                 "remove it and start again (it is then made where they can)"
                                 % (HTTPD_USER, self.rundir))

    def stage(self):
        """Copies the modules and htdocs/ out of the checkout into RUNDIR/stage, root's and
        world-readable: httpd's children read these, never the checkout. Each file is replaced
        by rename (a running httpd keeps what it mapped); edits of htdocs/ show after a start."""
        os.makedirs(self.stage_moddir, mode=0o755, exist_ok=True)
        os.chmod(self.stagedir, 0o755)
        for name in MODULES:
            dst = os.path.join(self.stage_moddir, name)
            shutil.copyfile(os.path.join(self.moddir, name), dst + ".tmp")
            os.chmod(dst + ".tmp", 0o644)
            os.replace(dst + ".tmp", dst)
        new, old = self.stage_htdocs + ".new", self.stage_htdocs + ".old"
        for d in (new, old):
            shutil.rmtree(d, ignore_errors=True)
        shutil.copytree(os.path.join(self.srcdir, "htdocs"), new, copy_function=shutil.copyfile)
        for dirpath, dirnames, filenames in os.walk(new):
            os.chmod(dirpath, 0o755)
            for n in filenames:
                os.chmod(os.path.join(dirpath, n), 0o644)
        if os.path.exists(self.stage_htdocs):
            os.replace(self.stage_htdocs, old)
        os.replace(new, self.stage_htdocs)
        shutil.rmtree(old, ignore_errors=True)

    def status(self):
        return {
            "mariadb": self.mariadb_pid(),
            "dns": self.dns.pid(),
            "httpd": self.httpd_pid(1),
            "httpd2": self.httpd_pid(2),
            "perspectives": [p.pid() for p in self.mpic],
        }

    def print_summary(self, out=None):
        out = out or sys.stdout
        b = self.base_url
        print("", file=out)
        print("e-Cert CA services are running (run dir %s%s)"
              % (self.rundir, "" if self.rundir == self.link else ", linked from " + self.link), file=out)
        print("  subscriber pages  %s/ecert/" % b, file=out)
        print("  OCSP              %s/ocsp" % b, file=out)
        print("  CRLs              %s/crl/eCertSCA3-17CRL1.crl  (EV: %s/crl/eCertESCA3-17CRL1.crl)"
              % (b, b), file=out)
        print("  ARL               %s/crl/RootCA3ARL.crl" % b, file=out)
        print("  CA certificates   %s/root/root_ca_3.crt  %s/root/ecert_ssl_ca_3-17.crt" % (b, b), file=out)
        if len(self.mpic):
            print("  perspectives      %d remote perspectives (BR 3.2.2.9) on this machine: "
                  "%s -f %s perspectives check" % (len(self.mpic), self.ecertctl, self.ecert_conf), file=out)
        print("  MariaDB           127.0.0.1:%d db=%s user=%s (password in %s)"
              % (self.dbport, DB_NAME, DB_USER, self.dbpass_file), file=out)
        print("  CA keys           activated with custodians' shares 1 and 2 of %s (a real CA gives "
              "each share to its own custodian): %s -f %s deactivate | activate"
              % (self.shares_dir, self.ecertctl, self.ecert_conf), file=out)
        if self.ct_logs:
            print("  CT logs           %s (RFC 6962, %d local logs: every certificate is logged first)"
                  % (" ".join(log.url for log in self.ct_logs), len(self.ct_logs)), file=out)
        print("  stop with         make stop", file=out)
        if self.demo_envelope:
            print("\nDemo application PIN envelope (log in at %s/ecert/login):" % b, file=out)
            print(self.demo_envelope.rstrip("\n"), file=out)
        out.flush()

    # ------------------------------------------------------------ MariaDB

    def mariadb_pid(self):
        pid = read_pid(self.mysql_pidfile)
        if pid and pid_alive(pid) and \
                any(a == "--datadir=" + self.datadir for a in pid_cmdline(pid)):
            return pid
        return None

    def mysql_admin(self, sql=None, db=None, stdin=None, check=True):
        """Run the mariadb client over the private socket as the admin (socket-auth) user."""
        cmd = [MARIADB, "--no-defaults", "--socket=" + self.mysql_sock, "-u", self.admin_user,
               "--batch", "--skip-column-names", "--default-character-set=utf8mb4"]
        if db:
            cmd.append(db)
        if sql is not None:
            cmd += ["-e", sql]
        return self._run(cmd, check=check, what="mariadb client",
                         stdin=stdin if stdin is not None else subprocess.DEVNULL)

    def _mariadb_ready(self):
        return self.mysql_admin("SELECT 1", check=False).returncode == 0

    def start_mariadb(self, timeout=60):
        if len(self.mysql_sock) >= 108:
            raise StackError("socket path too long (%d chars, unix limit 107): %s"
                             % (len(self.mysql_sock), self.mysql_sock))
        os.makedirs(self.mysql_dir, exist_ok=True)
        pid = self.mariadb_pid()
        if pid:
            if read_pid(self.mysql_portfile) == self.dbport:
                self._wait_mariadb(pid, timeout)
                self.say("MariaDB already running (pid %d, port %d)" % (pid, self.dbport))
                return pid
            self.say("MariaDB running on another port: restarting it on %d" % self.dbport)
            self.stop_mariadb()
        if not os.path.isdir(os.path.join(self.datadir, "mysql")):
            self.say("initialising MariaDB data directory %s" % self.datadir)
            shutil.rmtree(self.datadir, ignore_errors=True)  # a half-done earlier init
            cmd = [MARIADB_INSTALL_DB, "--no-defaults", "--datadir=" + self.datadir,
                   "--auth-root-authentication-method=socket", "--skip-test-db"]
            if IS_ROOT:
                cmd.append("--user=root")
            else:
                cmd.append("--auth-root-socket-user=" + self.admin_user)
            self._run(cmd, what="mariadb-install-db")
        for stale in (self.mysql_pidfile,):
            if os.path.exists(stale):
                os.unlink(stale)
        cmd = [MARIADBD, "--no-defaults"]
        if IS_ROOT:
            cmd.append("--user=root")
        cmd += [
            "--datadir=" + self.datadir,
            "--socket=" + self.mysql_sock,
            "--pid-file=" + self.mysql_pidfile,
            "--log-error=" + self.mysql_log,
            "--bind-address=127.0.0.1",
            "--port=%d" % self.dbport,
            "--skip-networking=0",
            "--skip-name-resolve",
            "--character-set-server=utf8mb4",
            "--collation-server=utf8mb4_unicode_ci",
            "--max-connections=400",
            # every pooled connection prepares every statement of the modules (some 230):
            # 400 connections need more than the default 16,382
            "--max-prepared-stmt-count=131072",
        ]
        if port_in_use(self.dbport):
            raise StackError("127.0.0.1:%d is already in use: set ECERT_DBPORT" % self.dbport)
        # Double fork: sh puts mariadbd in the background and exits, so mariadbd belongs to
        # neither make nor pytest; $! is mariadbd's own pid (the forked sh execs it).
        launcher = '"$@" </dev/null >>"$LOGF" 2>&1 & echo $!'
        env = self.env()
        env["LOGF"] = os.path.join(self.mysql_dir, "stdout.log")
        r = subprocess.run(["/bin/sh", "-c", launcher, "sh"] + cmd, env=env,
                           stdin=subprocess.DEVNULL, capture_output=True, text=True,
                           start_new_session=True, check=True)
        pid = int(r.stdout.strip())
        self._wait_mariadb(pid, timeout)
        write_file(self.mysql_portfile, "%d\n" % self.dbport)
        self.say("MariaDB started (pid %d, 127.0.0.1:%d, socket %s)"
                 % (pid, self.dbport, self.mysql_sock))
        return pid

    def _wait_mariadb(self, pid, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not pid_alive(pid):
                raise StackError("mariadbd exited during startup; %s:\n%s"
                                 % (self.mysql_log, tail(self.mysql_log)))
            if os.path.exists(self.mysql_sock) and self._mariadb_ready():
                return
            time.sleep(0.25)
        raise StackError("mariadbd not accepting on %s after %ds; %s:\n%s"
                         % (self.mysql_sock, timeout, self.mysql_log, tail(self.mysql_log)))

    def stop_mariadb(self, timeout=30):
        pid = self.mariadb_pid()
        if not pid:
            if os.path.exists(self.mysql_pidfile):
                os.unlink(self.mysql_pidfile)
            return False
        self.say("stopping MariaDB (pid %d)" % pid)
        os.kill(pid, signal.SIGTERM)
        if not wait_pid_gone(pid, timeout):
            self.say("mariadbd %d ignored SIGTERM for %ds: SIGKILL" % (pid, timeout))
            os.kill(pid, signal.SIGKILL)
            wait_pid_gone(pid, 10)
        return True

    @property
    def db_password(self):
        if not os.path.exists(self.dbpass_file):
            write_private(self.dbpass_file, random_secret(24))
        return read_text(self.dbpass_file).strip()

    def _password(self, path):
        if not os.path.exists(path):
            write_private(path, random_secret(24))
        return read_text(path).strip()

    def db_setup(self):
        """Database ecert, its owner and its runtime account (idempotent; passwords in
        db-owner.pass and db.pass). The runtime account's privileges come after the
        migrations (db_grants): they are given table by table."""
        stmts = ["CREATE DATABASE IF NOT EXISTS `%s` CHARACTER SET utf8mb4 "
                 "COLLATE utf8mb4_unicode_ci" % DB_NAME]
        for user, pw in ((DB_USER, self.db_password), (DB_OWNER, self._password(self.ownerpass_file))):
            for host in ("127.0.0.1", "localhost"):
                stmts += ["CREATE USER IF NOT EXISTS '%s'@'%s' IDENTIFIED BY '%s'" % (user, host, pw),
                          "ALTER USER '%s'@'%s' IDENTIFIED BY '%s'" % (user, host, pw)]
        for host in ("127.0.0.1", "localhost"):
            stmts.append("GRANT ALL PRIVILEGES ON `%s`.* TO '%s'@'%s'" % (DB_NAME, DB_OWNER, host))
        self.mysql_admin(";\n".join(stmts) + ";")

    def db_grants(self):
        """Least privilege for the runtime account (CPS 5.4.4): it reads everything, changes the
        rows of the tables the modules keep, and only appends to the audit log: no UPDATE or
        DELETE there, no TRIGGER, ALTER, DROP or CREATE anywhere. Run after every migration."""
        tables = [r[0] for r in self.sql_owner(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s AND "
            "table_type = 'BASE TABLE'", (DB_NAME,))]
        stmts = []
        for host in ("127.0.0.1", "localhost"):
            who = "'%s'@'%s'" % (DB_USER, host)
            stmts += ["REVOKE ALL PRIVILEGES, GRANT OPTION FROM %s" % who,
                      "GRANT USAGE ON *.* TO %s" % who,
                      "GRANT SELECT ON `%s`.* TO %s" % (DB_NAME, who)]
            for t in tables:
                if t in APPEND_ONLY:
                    privs = "INSERT"
                elif t in HEAD_ONLY:
                    privs = "UPDATE"
                else:
                    privs = "INSERT, UPDATE, DELETE"
                stmts.append("GRANT %s ON `%s`.`%s` TO %s" % (privs, DB_NAME, t, who))
        self.mysql_admin(";\n".join(stmts) + ";")

    def schema_version(self):
        r = self.mysql_admin(
            "SELECT COUNT(*) FROM information_schema.tables "
            "WHERE table_schema='%s' AND table_name='schema_version'" % DB_NAME)
        if int(r.stdout.strip() or 0) == 0:
            return 0
        r = self.mysql_admin("SELECT COALESCE(MAX(version),0) FROM schema_version", db=DB_NAME)
        return int(r.stdout.strip() or 0)

    def sql_files(self, sqldir=None):
        """[(NNN, path)] of sqldir/NNN_*.sql, sorted by NNN."""
        sqldir = sqldir or self.sqldir
        out = []
        for name in os.listdir(sqldir) if os.path.isdir(sqldir) else ():
            m = re.match(r"^(\d+)_.*\.sql$", name)
            if m:
                out.append((int(m.group(1)), os.path.join(sqldir, name)))
        out.sort()
        return out

    def db_upgrade(self, sqldir=None):
        """Apply the sql/NNN_*.sql files newer than schema_version; returns the files applied."""
        current = self.schema_version()
        applied = []
        for num, path in self.sql_files(sqldir):
            if num <= current:
                continue
            self.say("applying %s" % os.path.relpath(path, self.srcdir)
                     if path.startswith(self.srcdir) else "applying %s" % path)
            with open(path, "rb") as f:
                self.mysql_admin(db=DB_NAME, stdin=f)
            now = self.schema_version()
            if now < num:
                raise StackError("%s ran but schema_version is %d, not %d: every sql file "
                                 "must INSERT its own version row" % (path, now, num))
            current = now
            applied.append(path)
        return applied

    def sql(self, query, params=(), db=DB_NAME, owner=False):
        """Run one query as the runtime account ecert (or the schema owner) over TCP; returns
        the rows (tuple of tuples)."""
        import pymysql
        conn = pymysql.connect(host="127.0.0.1", port=self.dbport, user=DB_OWNER if owner else DB_USER,
                               password=self._password(self.ownerpass_file) if owner else self.db_password,
                               database=db, charset="utf8mb4", autocommit=True, connect_timeout=10)
        try:
            with conn.cursor() as cur:
                cur.execute(query, params if params else None)
                return cur.fetchall()
        finally:
            conn.close()

    def sql_owner(self, query, params=(), db=DB_NAME):
        """One query as the schema's owner (DDL, and what the runtime account may not do)."""
        return self.sql(query, params, db, owner=True)

    # ------------------------------------------------------------ SoftHSM token

    def write_softhsm_conf(self):
        os.makedirs(self.tokendir, exist_ok=True)
        write_file(self.softhsm_conf,
                   "# generated by scripts/stack.py\n"
                   "directories.tokendir = %s\n"
                   "objectstore.backend = file\n"
                   "log.level = ERROR\n"
                   "slots.removable = false\n" % self.tokendir)

    def token_exists(self):
        r = self._run(["softhsm2-util", "--show-slots"], check=False)
        return re.search(r"^\s*Label:\s*%s\s*$" % re.escape(TOKEN_LABEL),
                         r.stdout, re.M) is not None

    @property
    def token_pin(self):
        """The activated PIN, as httpd reads it (tests that talk to the token themselves)."""
        key = subprocess.run(["keyctl", "search", "@u", "user", self.pin_key],
                             capture_output=True, text=True)
        if key.returncode != 0:
            raise StackError("the CA keys are not activated (no keyring entry %s)" % self.pin_key)
        return subprocess.run(["keyctl", "pipe", key.stdout.strip()], capture_output=True,
                              text=True, check=True).stdout

    def share(self, n):
        return read_text(os.path.join(self.shares_dir, "share-%d" % n)).strip()

    def init_token(self):
        self.write_softhsm_conf()
        if self.token_exists():
            if not os.path.exists(self.transport_pin_file):
                raise StackError("token %r exists in %s but %s is missing: remove %s to start over"
                                 % (TOKEN_LABEL, self.tokendir, self.transport_pin_file, self.rundir))
            return False
        for path in (self.transport_pin_file, self.sopin_file):
            if not os.path.exists(path):
                write_private(path, random_secret(16))
        self.say("initialising SoftHSM token %r in %s" % (TOKEN_LABEL, self.tokendir))
        self._run(["softhsm2-util", "--init-token", "--free", "--label", TOKEN_LABEL,
                   "--so-pin", read_text(self.sopin_file).strip(),
                   "--pin", read_text(self.transport_pin_file).strip()], what="softhsm2-util --init-token")
        if not self.token_exists():
            raise StackError("softhsm2-util --init-token ran but no token %r is listed"
                             % TOKEN_LABEL)
        return True

    def activate(self, shares=(1, 2)):
        """ecertctl activate with two custodians' shares from the run directory."""
        if not os.path.exists(os.path.join(self.shares_dir, "share-1")):
            raise StackError("%s holds no custodians' shares (a run directory from before 2-of-3 "
                             "activation): remove %s to start over" % (self.shares_dir, self.rundir))
        return self.ctl("activate", input="".join(self.share(n) + "\n" for n in shares))

    def deactivate_keyring(self):
        """Leave no PIN in the kernel keyring once the stack is stopped."""
        key = subprocess.run(["keyctl", "search", "@u", "user", self.pin_key],
                             capture_output=True, text=True)
        if key.returncode == 0:
            subprocess.run(["keyctl", "invalidate", key.stdout.strip()], capture_output=True)

    def pkcs11_tool(self, *args, check=True):
        return self._run(["pkcs11-tool", "--module", self.p11module] + list(args),
                         check=check, what="pkcs11-tool")

    # ------------------------------------------------------------ configuration

    def _template(self, name):
        return read_text(os.path.join(self.confdir, name))

    @staticmethod
    def _second_instance(text):
        """Template text for the second httpd: its own httpd2/ dir and ecert2.conf."""
        text = re.sub(r"@RUNDIR@/httpd(?=[/\"'\s()]|$)", "@RUNDIR@/httpd2", text, flags=re.M)
        return text.replace("@RUNDIR@/ecert.conf", "@RUNDIR@/ecert2.conf")

    def render(self, text, port):
        user = ("User %s\nGroup %s" % (HTTPD_USER, HTTPD_GROUP)) if IS_ROOT else ""
        subst = {
            "RUNDIR": self.rundir, "HTDOCS": self.stage_htdocs, "PORT": str(port),
            "DBPORT": str(self.dbport), "DBPASS": self.db_password, "MODDIR": self.stage_moddir,
            "P11MODULE": self.p11module, "USER_DIRECTIVES": user, "PINKEY": self.pin_key,
            "DNSROOT": self.dns.root_server, "DNSANCHOR": self.dns.trust_anchor,
            "PERSPECTIVES": self.mpic.directives().rstrip("\n"),
            "CTLOGS": self.ct_directives(),
        }
        out = re.sub(r"@([A-Z0-9_]+)@",
                     lambda m: subst.get(m.group(1), m.group(0)), text)
        left = sorted(set(v for line in out.splitlines() if not line.lstrip().startswith("#")
                          for v in re.findall(r"@[A-Z0-9_]+@", line)))
        if left:
            raise StackError("config template has unknown variables: %s" % " ".join(left))
        return out

    def _extra(self, instance):
        extra = self.extra_conf
        if instance == 2 and self.extra_conf2:
            extra = (extra + "\n" + self.extra_conf2) if extra else self.extra_conf2
        if not extra:
            return ""
        return "\n# extra configuration from the caller\n" + extra.rstrip("\n") + "\n"

    def write_config(self, instance=None):
        """RUNDIR/httpd.conf + ecert.conf (and httpd2.conf + ecert2.conf when port2 is set)."""
        instances = [instance] if instance else ([1, 2] if self.port2 else [1])
        httpd_t, ecert_t = self._template("httpd.conf.in"), self._template("ecert.conf.in")
        for i in instances:
            if i == 1:
                hconf, econf, hdir, port = self.httpd_conf, self.ecert_conf, self.httpd_dir, self.port
                ht, et = httpd_t, ecert_t
            else:
                if not self.port2:
                    raise StackError("second instance has no port")
                hconf, econf, hdir, port = (self.httpd2_conf, self.ecert2_conf,
                                            self.httpd2_dir, self.port2)
                ht, et = self._second_instance(httpd_t), self._second_instance(ecert_t)
            htext = self.render(ht, port)
            etext = self.render(et, port) + self._extra(i)
            if i == 2:
                for t in (htext, etext):
                    if self.httpd_dir + "/" in t or self.ecert_conf in t:
                        raise StackError("second instance config still names %s" % self.httpd_dir)
            os.makedirs(os.path.join(hdir, "logs"), exist_ok=True)   # DefaultRuntimeDir
            write_file(hconf, htext, 0o644)
            write_private(econf, etext)                              # has the DB password
        for d in (os.path.join(self.pubdir, "root"), os.path.join(self.pubdir, "crl")):
            os.makedirs(d, exist_ok=True)
        if IS_ROOT:
            os.chmod(self.pubdir, 0o755)

    # ------------------------------------------------------------ ecertctl

    def ctl(self, *args, check=True, input=None, timeout=900, conf=None):
        """Run build/ecertctl -f RUNDIR/ecert.conf ARGS with the stack's environment.

        conf=False leaves out "-f conf"; conf="path" uses another file.  Returns the
        CompletedProcess (text); raises CtlError if check and the exit status is not 0.
        """
        cmd = [self.ecertctl]
        if conf is not False:
            cmd += ["-f", conf or self.ecert_conf]
        cmd += [str(a) for a in args]
        kw = {"input": input} if input is not None else {"stdin": subprocess.DEVNULL}
        try:
            r = subprocess.run(cmd, env=self.env(), capture_output=True, text=True,
                               encoding="utf-8", errors="replace", timeout=timeout, **kw)
        finally:
            self.fix_permissions()   # ecertctl (root) may have written token objects
        if check and r.returncode != 0:
            raise CtlError(r.returncode, cmd, r.stdout, r.stderr)
        return r

    def key_ceremony(self):
        root = os.path.join(self.pubdir, ROOT_CERT)
        if os.path.exists(root):
            return False
        self.say("key ceremony: ecertctl init")
        r = self.ctl("init", input=read_text(self.transport_pin_file).strip() + "\n")
        shares = re.findall(r"^\s*custodian (\d): (ECS1-[0-9A-F -]+)$", r.stdout, re.M)
        if len(shares) != 3:
            raise StackError("ecertctl init printed no custodians' shares:\n" + r.stdout)
        os.makedirs(self.shares_dir, mode=0o700, exist_ok=True)
        for n, text in shares:
            write_private(os.path.join(self.shares_dir, "share-" + n), text + "\n")
        if r.stdout.strip() and not self.quiet:
            print(re.sub(r"(custodian \d: ).*", r"\1(kept in %s)" % self.shares_dir, r.stdout).rstrip("\n"),
                  file=sys.stderr)
        if not os.path.exists(root):
            raise StackError("ecertctl init succeeded but did not write %s\n%s%s"
                             % (root, r.stdout, r.stderr))
        return True

    def start_ct_logs(self):
        """The logs take certificates that chain to this run's root, known once it exists."""
        root = os.path.join(self.pubdir, ROOT_CERT)
        if self.ct_daemons:
            self.ct_logs.start(root)
            return
        from cryptography import x509
        from cryptography.hazmat.primitives import serialization
        with open(root, "rb") as f:
            der = x509.load_pem_x509_certificate(f.read()).public_bytes(serialization.Encoding.DER)
        for log in self.ct_logs:
            if der not in log.roots:
                log.add_root(der)

    def ct_directives(self):
        """ECertCTLog lines: the log's window, or every notAfter this century."""
        import base64
        lines = []
        for log in self.ct_logs if self.ct_enabled else ():
            start, end = ((log.window[0].strftime("%Y-%m-%d"), log.window[1].strftime("%Y-%m-%d"))
                          if log.window else ("2000-01-01", "2100-01-01"))
            lines.append("ECertCTLog %s %s %s %s %s %s" % (log.name, log.operator, log.url,
                                                           base64.b64encode(log.public_key_der()).decode(),
                                                           start, end))
        return "\n".join(lines)

    def demo_application(self):
        if os.path.exists(self.demo_ref_file):
            ref = read_text(self.demo_ref_file).strip()
            self.demo_envelope = self.ctl("application", "new-pin", ref).stdout
            return False
        self.say("demo application for www.example.com")
        r = self.ctl(*DEMO_APPLICATION)
        m = re.search(r"^\s*Reference Number:\s*(\d{9})\s*$", r.stdout, re.M)
        if not m:
            raise StackError("ecertctl application add printed no reference number:\n" + r.stdout)
        write_private(self.demo_ref_file, m.group(1) + "\n")
        self.demo_envelope = r.stdout
        return True

    # ------------------------------------------------------------ permissions

    def fix_permissions(self):
        """As root, httpd children run as www-data: give them the token, httpd dirs and pub/."""
        if not IS_ROOT:
            return
        for top in (self.tokendir, self.httpd_dir, self.httpd2_dir, self.pubdir):
            if not os.path.exists(top):
                continue
            for dirpath, dirnames, filenames in os.walk(top):
                for name in [dirpath] + [os.path.join(dirpath, n) for n in dirnames + filenames]:
                    try:
                        shutil.chown(name, HTTPD_USER, HTTPD_GROUP)
                    except FileNotFoundError:
                        pass
        if os.path.exists(self.tokendir):
            os.chmod(self.tokendir, 0o700)     # the token: the child user's (and root's) only
        if os.path.exists(self.softhsm_conf):
            os.chmod(self.softhsm_conf, 0o644)

    # ------------------------------------------------------------ httpd

    def _httpd(self, instance):
        if instance == 1:
            return self.httpd_conf, self.httpd_dir, self.port
        return self.httpd2_conf, self.httpd2_dir, self.port2

    def httpd_pid(self, instance=1):
        conf, hdir, _ = self._httpd(instance)
        pid = read_pid(os.path.join(hdir, "httpd.pid"))
        if pid and pid_alive(pid) and conf in pid_cmdline(pid):
            return pid
        return None

    def _httpd_procs(self, conf):
        """pids of live apache2 processes (parent and children) running with -f conf."""
        out = []
        for d in os.listdir("/proc"):
            if d.isdigit():
                cl = pid_cmdline(int(d))
                if cl and os.path.basename(cl[0]) in ("apache2", "httpd") and conf in cl \
                        and pid_alive(int(d)):
                    out.append(int(d))
        return out

    def error_log_path(self, instance=1):
        return os.path.join(self._httpd(instance)[1], "error.log")

    def start_httpd(self, instance=1, timeout=30):
        """Start (or restart) httpd instance 1 or 2 and wait until its port accepts."""
        self.check_build()
        conf, hdir, port = self._httpd(instance)
        self.stop_httpd(instance)   # a running one, or what a crashed one left
        if not os.path.exists(conf):
            self.write_config(instance)
        os.makedirs(os.path.join(hdir, "logs"), exist_ok=True)
        pidfile = os.path.join(hdir, "httpd.pid")
        if os.path.exists(pidfile):
            os.unlink(pidfile)
        self.fix_permissions()
        if port_in_use(port):
            raise StackError("127.0.0.1:%d is already in use (set ECERT_PORT)" % port)
        env = self.env()
        if instance == 2 and self.softhsm_conf2:
            env["SOFTHSM2_CONF"] = self.softhsm_conf2
        r = self._run([APACHE, "-f", conf, "-t"], check=False, env=env)
        if r.returncode != 0:
            raise StackError("httpd config test failed for %s:\n%s%s" % (conf, r.stdout, r.stderr))
        log = self.error_log_path(instance)
        r = self._run([APACHE, "-f", conf, "-k", "start"], check=False, env=env)
        if r.returncode != 0:
            raise StackError("apache2 -k start failed (exit %d):\n%s%s\n%s:\n%s" % (
                r.returncode, r.stdout, r.stderr, log, tail(log)))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pid = self.httpd_pid(instance)
            if pid and port_in_use(port):
                self.say("httpd%s started (pid %d, 127.0.0.1:%d)"
                         % ("" if instance == 1 else "2", pid, port))
                return pid
            if not self._httpd_procs(conf):
                # the daemon it detached stopped at start (post_config refused the configuration)
                raise StackError("httpd exited while starting; %s:\n%s" % (log, tail(log)))
            time.sleep(0.1)
        raise StackError("httpd not accepting on 127.0.0.1:%d after %ds; %s:\n%s"
                         % (port, timeout, log, tail(log)))

    def stop_httpd(self, instance=1, timeout=30):
        conf, hdir, _ = self._httpd(instance)
        pid = self.httpd_pid(instance)
        if pid:
            self.say("stopping httpd%s (pid %d)" % ("" if instance == 1 else "2", pid))
            r = self._run([APACHE, "-f", conf, "-k", "stop"], check=False)
            if r.returncode != 0 and pid_alive(pid):
                os.kill(pid, signal.SIGTERM)   # -k stop could not parse the config
            if not wait_pid_gone(pid, timeout):
                self.say("httpd %d still alive after %ds: SIGKILL" % (pid, timeout))
                os.kill(pid, signal.SIGKILL)
                wait_pid_gone(pid, 10)
        # children left behind by a crashed parent (same -f conf, so ours)
        if os.path.exists(conf):
            deadline = time.monotonic() + (10 if pid else 0)
            left = self._httpd_procs(conf)
            while left and time.monotonic() < deadline:
                time.sleep(0.2)
                left = self._httpd_procs(conf)
            for sig in (signal.SIGTERM, signal.SIGKILL):
                for p in left:
                    self.say("leftover httpd process %d: %s" % (p, sig.name))
                    try:
                        os.kill(p, sig)
                    except ProcessLookupError:
                        pass
                for p in left:
                    wait_pid_gone(p, 5)
                left = self._httpd_procs(conf)
        pidfile = os.path.join(hdir, "httpd.pid")
        if os.path.exists(pidfile) and not self.httpd_pid(instance):
            os.unlink(pidfile)
        return bool(pid)

    def restart_httpd(self, instance=1):
        """Rewrite the configuration (e.g. after changing extra_conf) and restart httpd."""
        self.write_config(instance)
        return self.start_httpd(instance)

    def start_httpd2(self, port=None, extra_conf=None, softhsm_conf=None):
        """A second httpd sharing MariaDB and the token, own port and RUNDIR/httpd2.
        softhsm_conf: another SOFTHSM2_CONF for it (a token it may not find at first)."""
        self.port2 = int(port or self.port2 or free_port())
        self.softhsm_conf2 = softhsm_conf
        if extra_conf is not None:
            self.extra_conf2 = extra_conf
        self.write_config(2)
        return self.start_httpd(2)

    def stop_httpd2(self):
        return self.stop_httpd(2)

    def set_aside_log2(self, suffix):
        """Moves httpd2's error.log to error.log.SUFFIX, out of the end-of-session check
        (a test that judged it itself, for errors it provoked on that node only)."""
        log = self.error_log_path(2)
        if os.path.exists(log):
            os.replace(log, log + "." + suffix)

    # ------------------------------------------------------------ error logs

    def expect_log(self, regex):
        """Register an error.log pattern that is expected (not a problem).  Returns it."""
        pat = re.compile(regex)
        self._expected.append(pat)
        return pat

    def unexpect_log(self, pat):
        self._expected = [p for p in self._expected if p is not pat and p.pattern != pat]

    def error_log_lines(self, instance=1):
        path = self.error_log_path(instance)
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                return f.read().splitlines()
        except FileNotFoundError:
            return []

    def error_log_problems(self, instances=(1, 2)):
        """error.log lines (httpd and httpd2) at error/crit/alert/emerg, sanitizer or crash
        reports, minus those matching a pattern registered with expect_log()."""
        out = []
        for inst in instances:
            for line in self.error_log_lines(inst):
                if not (LOG_LEVEL_RE.search(line) or any(m in line for m in LOG_MARKERS)):
                    continue
                if any(p.search(line) for p in self._expected):
                    continue
                out.append(line)
        return out


# ---------------------------------------------------------------- CLI

def main(argv=None):
    ap = argparse.ArgumentParser(description="e-Cert CA services local stack")
    ap.add_argument("action", choices=("start", "stop", "status"))
    ap.add_argument("rundir")
    ap.add_argument("--port", type=int, default=None)
    ap.add_argument("--dbport", type=int, default=None)
    ap.add_argument("--srcdir", default=None)
    a = ap.parse_args(argv)
    st = Stack(a.rundir, a.port, a.dbport, a.srcdir)
    try:
        if a.action == "start":
            st.start()
        elif a.action == "stop":
            st.stop()
            print("stopped (run dir %s kept)" % st.rundir)
        else:
            s = st.status()
            def port_of(conf):
                try:
                    m = re.search(r"^\s*Listen\s+(\S+)", read_text(conf), re.M)
                    return m.group(1) if m else "?"
                except OSError:
                    return "?"
            dbport = read_pid(st.mysql_portfile)
            print("mariadb: %s" % ("running pid %d, 127.0.0.1:%s, socket %s"
                                   % (s["mariadb"], dbport, st.mysql_sock)
                                   if s["mariadb"] else "stopped"))
            print("httpd:   %s" % ("running pid %d, %s" % (s["httpd"], port_of(st.httpd_conf))
                                   if s["httpd"] else "stopped"))
            if s["httpd2"] or os.path.exists(st.httpd2_conf):
                print("httpd2:  %s" % ("running pid %d, %s" % (s["httpd2"], port_of(st.httpd2_conf))
                                       if s["httpd2"] else "stopped"))
            return 0 if all(s[k] for k in ("mariadb", "httpd")) else 3
    except StackError as e:
        print("stack: error: %s" % e, file=sys.stderr)
        return 1
    except CtlError as e:
        print("stack: error: %s" % e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
