"""Remote network perspectives (BR 3.2.2.9) for a local run or a test session: httpd with
mod_perspective and mod_ssl, one process per perspective, each with its own resolver and
cache, on 127.0.0.1 ports (`make run`) or each in a network namespace of its own (the tests,
scripts/net_lab.py).

    ps = Perspectives(rundir, srcdir, moddir, dns_root, dns_anchor)
    ps.add("tokyo", "127.0.0.1", port)            or ps.add(name, host.addr, 8443, netns=host)
    ps.start()
    ps.directives()    the primary's ECertPerspective* lines
    ps.stop()

A private CA (openssl) signs each perspective's TLS certificate for its address; the CA
trusts only that CA (ECertPerspectiveCA). Each perspective shares a random 32-octet key with
the CA, in a file both configurations name.
"""

import os
import secrets
import signal
import subprocess
import time

APACHE = "/usr/sbin/apache2"
CLIENT = "hk-primary"
PRIMARY = ("22.32,114.17", "APNIC")            # Hong Kong

# Where each perspective says it is: all 500 km apart and from Hong Kong, over 5 RIRs.
PLACES = [
    ("tokyo", "APNIC", "35.68,139.69"),
    ("frankfurt", "RIPE", "50.11,8.68"),
    ("virginia", "ARIN", "38.95,-77.45"),
    ("saopaulo", "LACNIC", "-23.55,-46.63"),
    ("sydney", "APNIC", "-33.87,151.21"),
    ("johannesburg", "AFRINIC", "-26.20,28.05"),
    ("singapore", "APNIC", "1.35,103.82"),
    ("oregon", "ARIN", "45.52,-122.68"),
]


def _run(cmd, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        raise RuntimeError("%s failed: %s%s" % (cmd[0], r.stdout, r.stderr))
    return r


class Perspective:
    def __init__(self, owner, name, rir, where, addr, port, netns=None):
        self.owner, self.name, self.rir, self.where = owner, name, rir, where
        self.addr, self.port, self.netns = addr, int(port), netns
        self.dir = os.path.join(owner.dir, name)
        self.conf = os.path.join(self.dir, "httpd.conf")
        self.keyfile = os.path.join(self.dir, "client.key")
        self.log = os.path.join(self.dir, "error.log")

    @property
    def url(self):
        return "https://%s:%d/mpic" % (self.addr, self.port)

    def _prefix(self):
        return self.netns.cmd([]) if self.netns else []

    def pid(self):
        try:
            pid = int(open(os.path.join(self.dir, "httpd.pid")).read().strip())
            os.kill(pid, 0)
            return pid
        except (OSError, ValueError):
            return None

    def procs(self):
        """The parent and its children (for SIGSTOP/SIGCONT in tests)."""
        out = []
        for d in os.listdir("/proc"):
            if d.isdigit():
                try:
                    cl = open("/proc/%s/cmdline" % d, "rb").read().split(b"\0")
                except OSError:
                    continue
                if self.conf.encode() in cl:
                    out.append(int(d))
        return out

    def pause(self):
        for pid in self.procs():
            os.kill(pid, signal.SIGSTOP)

    def resume(self):
        for pid in self.procs():
            os.kill(pid, signal.SIGCONT)

    def write(self):
        o = self.owner
        os.makedirs(self.dir, exist_ok=True)
        if os.geteuid() == 0:
            os.chmod(self.dir, 0o755)
        if not os.path.exists(self.keyfile):
            fd = os.open(self.keyfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            os.write(fd, (secrets.token_hex(32) + "\n").encode())
            os.close(fd)
        key, crt = os.path.join(self.dir, "server.key"), os.path.join(self.dir, "server.crt")
        if not os.path.exists(crt):
            csr = os.path.join(self.dir, "server.csr")
            ext = os.path.join(self.dir, "server.ext")
            with open(ext, "w") as f:
                f.write("subjectAltName=IP:%s\nextendedKeyUsage=serverAuth\n" % self.addr)
            _run(["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                  "-nodes", "-keyout", key, "-out", csr, "-subj", "/CN=%s perspective" % self.name])
            _run(["openssl", "x509", "-req", "-in", csr, "-CA", o.ca_crt, "-CAkey", o.ca_key,
                  "-CAcreateserial", "-days", "30", "-extfile", ext, "-out", crt])
        user = "User www-data\nGroup www-data" if os.geteuid() == 0 else ""
        text = open(os.path.join(o.srcdir, "conf", "perspective.conf.in")).read()
        for k, v in {"DIR": self.dir, "ADDR": self.addr, "PORT": str(self.port), "NAME": self.name,
                     "CLIENT": CLIENT, "KEYFILE": self.keyfile, "MODDIR": o.moddir,
                     "DNSROOT": o.dns_root, "DNSANCHOR": o.dns_anchor,
                     "USER_DIRECTIVES": user}.items():
            text = text.replace("@%s@" % k, v)
        with open(self.conf, "w") as f:
            f.write(text)

    def start(self):
        self.stop()
        self.write()
        _run(self._prefix() + [APACHE, "-f", self.conf, "-k", "start"])

    def wait(self, timeout=20):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            r = subprocess.run(["curl", "-sS", "--max-time", "2", "--cacert", self.owner.ca_crt, self.url],
                               capture_output=True, text=True)
            if r.returncode == 0 and " ok" in r.stdout:
                return
            time.sleep(0.2)
        raise RuntimeError("perspective %s did not answer at %s; %s" % (self.name, self.url, self.log))

    def stop(self, timeout=15):
        pid = self.pid()
        if not pid:
            return
        self.resume()
        subprocess.run(self._prefix() + [APACHE, "-f", self.conf, "-k", "stop"], capture_output=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.pid():
            time.sleep(0.1)
        for p in self.procs():
            try:
                os.kill(p, signal.SIGKILL)
            except OSError:
                pass

    def directive(self):
        return "ECertPerspective %s %s %s %s \"%s\"" % (self.name, self.url, self.rir, self.where, self.keyfile)


class Perspectives:
    def __init__(self, rundir, srcdir, moddir, dns_root, dns_anchor):
        self.dir = os.path.abspath(rundir)
        self.srcdir, self.moddir = srcdir, moddir
        self.dns_root, self.dns_anchor = dns_root, dns_anchor
        self.ca_key = os.path.join(self.dir, "ca.key")
        self.ca_crt = os.path.join(self.dir, "ca.crt")
        self.all = []
        self.configured = None       # how many the CA lists (None: all); a test may start more
        self.use = None              # or exactly these names

    def _ca(self):
        os.makedirs(self.dir, exist_ok=True)
        if os.geteuid() == 0:
            os.chmod(self.dir, 0o755)
        if not os.path.exists(self.ca_crt):
            _run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                  "-keyout", self.ca_key, "-out", self.ca_crt, "-days", "30",
                  "-subj", "/CN=e-Cert perspectives private CA"])

    def add(self, addr, port, netns=None, name=None):
        i = len(self.all)
        pname, rir, where = PLACES[i]
        p = Perspective(self, name or pname, rir, where, addr, port, netns)
        self.all.append(p)
        return p

    def __getitem__(self, i):
        return self.all[i]

    def __len__(self):
        return len(self.all)

    def start(self):
        self._ca()
        for p in self.all:
            p.start()
        for p in self.all:
            p.wait()
        return self

    def stop(self):
        for p in self.all:
            p.stop()

    def directives(self):
        """The CA's lines for the perspectives it lists (use, else the first `configured`)."""
        ps = [p for p in self.all if p.name in self.use] if self.use is not None else self.all[:self.configured]
        if not ps:
            return ""
        lines = ["ECertPerspectivePrimary %s %s %s" % (CLIENT, PRIMARY[0], PRIMARY[1]),
                 "ECertPerspectiveCA \"%s\"" % self.ca_crt]
        return "\n".join(lines + [p.directive() for p in ps]) + "\n"
