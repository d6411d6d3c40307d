"""Certificate Transparency logs (RFC 6962) for a local run: three logs of three operators, each
a process of scripts/ct_log.py on a port of 127.0.0.1 with its own ECDSA P-256 key (kept in
RUNDIR/ct), taking certificates that chain to the run's Root CA 3. The tests start theirs
in-process instead (tests/conftest.py), to switch them off and on.

    logs = CtLogDaemons(rundir, srcdir)     ports and keys chosen at once (the config needs them)
    logs.start(root_pem)                    after the key ceremony
    logs.stop()

Each log object has what Stack.ct_directives() reads: name, operator, url, window (None: every
notAfter), public_key_der().
"""

import os
import signal
import subprocess
import sys
import time
import urllib.request

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

LOGS = [("ecert-local-log-a", "Local-Operator-A"), ("ecert-local-log-b", "Local-Operator-B"),
        ("ecert-local-log-c", "Local-Operator-C")]


class CtLogDaemon:
    window = None

    def __init__(self, d, srcdir, name, operator, port):
        self.dir, self.srcdir, self.name, self.operator, self.port = d, srcdir, name, operator, port
        self.keyfile = os.path.join(d, name + ".key")
        self.pidfile = os.path.join(d, name + ".pid")
        self.logfile = os.path.join(d, name + ".log")
        if not os.path.exists(self.keyfile):
            key = ec.generate_private_key(ec.SECP256R1())
            fd = os.open(self.keyfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))

    @property
    def url(self):
        return "http://127.0.0.1:%d/" % self.port

    def public_key_der(self):
        with open(self.keyfile, "rb") as f:
            key = serialization.load_pem_private_key(f.read(), None)
        return key.public_key().public_bytes(serialization.Encoding.DER,
                                             serialization.PublicFormat.SubjectPublicKeyInfo)

    def pid(self):
        try:
            with open(self.pidfile) as f:
                pid = int(f.read().strip())
            os.kill(pid, 0)
            return pid
        except (OSError, ValueError):
            return None

    def start(self, root_pem):
        self.stop()
        with open(self.logfile, "ab") as out:
            p = subprocess.Popen([sys.executable, os.path.join(self.srcdir, "scripts", "ct_log.py"),
                                  "--port", str(self.port), "--name", self.name, "--operator", self.operator,
                                  "--root", root_pem, "--key", self.keyfile],
                                 stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True)
        with open(self.pidfile, "w") as f:
            f.write("%d\n" % p.pid)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(self.url + "ct/v1/get-sth", timeout=2).read()
                return
            except OSError:
                if p.poll() is not None:
                    break
                time.sleep(0.1)
        raise RuntimeError("CT log %s did not answer at %s; see %s" % (self.name, self.url, self.logfile))

    def stop(self, timeout=10):
        pid = self.pid()
        if not pid:
            return
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.pid():
            time.sleep(0.05)
        if self.pid():
            os.kill(pid, signal.SIGKILL)


class CtLogDaemons(list):
    def __init__(self, rundir, srcdir, free_ports):
        super().__init__()
        d = os.path.join(rundir, "ct")
        os.makedirs(d, mode=0o700, exist_ok=True)
        portfile = os.path.join(d, "ports")
        if os.path.exists(portfile):
            with open(portfile) as f:
                ports = [int(x) for x in f.read().split()]
        else:
            ports = free_ports(len(LOGS))
            with open(portfile, "w") as f:
                f.write(" ".join(map(str, ports)) + "\n")
        for (name, operator), port in zip(LOGS, ports):
            self.append(CtLogDaemon(d, srcdir, name, operator, port))

    def start(self, root_pem):
        for log in self:
            log.start(root_pem)

    def stop(self):
        for log in self:
            log.stop()
