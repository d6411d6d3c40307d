"""A private DNS for a local run or a test session: Knot DNS signing a root zone (and, on
port 53, delegated zones below it) with DNSSEC, and the trust anchor the CA's resolver is
pointed at (ECertDNSTrustAnchor, ECertDNSRootServers).

Two layouts:
  flat       the root zone alone, on any address and port; every name is a record of it.
             Enough for `make run` and for CAA/TXT lookups (secure answers).
  delegated  on <addr>:53 only (resolvers reach delegated servers on port 53): the root
             delegates com. and hk. (signed, with DS), broken-dnssec.com. (signed, but its DS
             in com. is wrong: bogus) and unsigned-zone.com. (no DS: insecure).

Either layout may also listen on more addresses (also_listen, same port): every NS glue stays
<addr>. The network lab (scripts/net_lab.py) has Knot on its dns_addr and dns_backend, so that a
hijacker's proxy on dns_addr inside one namespace can still reach the real server.

Records are changed while the server runs with knotc (zone-begin / zone-set / zone-commit);
Knot re-signs at once.
"""

import os
import re
import shutil
import subprocess
import time

KNOTD = shutil.which("knotd") or "/usr/sbin/knotd"
KNOTC = shutil.which("knotc") or "/usr/sbin/knotc"
KEYMGR = shutil.which("keymgr") or "/usr/sbin/keymgr"

# zone -> (parent, signed, ds): ds "good" (the parent has the child's DS), "bad" (a wrong
# digest), None (no DS)
DELEGATED = {
    "com.": (".", True, "good"),
    "hk.": (".", True, "good"),
    "broken-dnssec.com.": ("com.", True, "bad"),
    "unsigned-zone.com.": ("com.", False, None),
}


class DnsLabError(Exception):
    pass


class DnsLab:
    def __init__(self, rundir, addr="127.0.0.1", port=53, delegated=None, records=(),
                 also_listen=()):
        self.dir = os.path.abspath(rundir)
        self.addr = addr
        # more addresses Knot listens on (port `port`); the glue stays addr
        self.also_listen = [a for a in (also_listen or ()) if a and a != addr]
        self.port = int(port)
        self.delegated = (self.port == 53) if delegated is None else delegated
        if self.delegated and self.port != 53:
            raise DnsLabError("delegated zones need port 53")
        self.records = list(records)       # (zone, owner, ttl, type, rdata) loaded at start
        self.conf = os.path.join(self.dir, "knot.conf")
        self.sock = os.path.join(self.dir, "knot.sock")
        self.pidfile = os.path.join(self.dir, "knot.pid")
        self.log = os.path.join(self.dir, "knot.log")
        self.trust_anchor = os.path.join(self.dir, "root.ds")
        self.zones = ["."] + (list(DELEGATED) if self.delegated else [])
        self.changed_at = 0.0

    # ------------------------------------------------------------ what httpd is told

    @property
    def root_server(self):
        return self.addr if self.port == 53 else "%s@%d" % (self.addr, self.port)

    def directives(self):
        return ("ECertDNSRootServers %s\nECertDNSTrustAnchor %s\n"
                % (self.root_server, self.trust_anchor))

    # ------------------------------------------------------------ knot

    def _zone_file(self, zone):
        return os.path.join(self.dir, "zones", ("root" if zone == "." else zone.rstrip(".")) + ".zone")

    def _ns(self, zone):
        return "ns.test-root." if zone == "." else "ns." + zone

    def _write(self):
        os.makedirs(os.path.join(self.dir, "zones"), exist_ok=True)
        os.makedirs(os.path.join(self.dir, "db"), exist_ok=True)
        zones = []
        for z in self.zones:
            signed = z == "." or DELEGATED[z][1]
            zones.append("  - domain: %s\n    file: %s\n    dnssec-signing: %s\n"
                         % (z, self._zone_file(z), "on" if signed else "off"))
            lines = ["$ORIGIN %s" % z, "$TTL 1",
                     # a 1 s negative TTL: a record just added is seen at once
                     "@ 1 SOA %s hostmaster.%s 1 3600 600 86400 1" % (self._ns(z), z if z != "." else ""),
                     "@ 1 NS %s" % self._ns(z)]
            if z == ".":
                lines.append("ns.test-root. 3600 A %s" % self.addr)
            # delegations (with glue) to the children served here
            for child, (parent, _, _) in DELEGATED.items():
                if self.delegated and parent == z:
                    lines.append("%s 3600 NS %s" % (child, self._ns(child)))
                    lines.append("%s 3600 A %s" % (self._ns(child), self.addr))
            if z != ".":
                lines.append("%s 3600 A %s" % (self._ns(z), self.addr))
            with open(self._zone_file(z), "w") as f:
                f.write("\n".join(lines) + "\n")
        conf = """server:
    rundir: {d}
    listen: [ {listen} ]
    pidfile: {pid}
log:
  - target: {log}
    any: info
control:
    listen: {sock}
database:
    storage: {d}/db
policy:
  - id: lab
    algorithm: ecdsap256sha256
    ksk-lifetime: 0
    zsk-lifetime: 0
    nsec3: off
    rrsig-lifetime: 30d
template:
  - id: default
    dnssec-policy: lab
    zonefile-sync: -1
    zonefile-load: difference-no-serial
    journal-content: all
    semantic-checks: off
zone:
{zones}""".format(d=self.dir, pid=self.pidfile, log=self.log, sock=self.sock, zones="".join(zones),
                  listen=", ".join("%s@%d" % (a, self.port) for a in [self.addr] + self.also_listen))
        with open(self.conf, "w") as f:
            f.write(conf)

    def knotc(self, *args, check=True):
        r = subprocess.run([KNOTC, "-c", self.conf, "-s", self.sock, "-t", "10"] + list(args),
                           capture_output=True, text=True)
        if check and (r.returncode != 0 or "error" in r.stdout.lower()):
            raise DnsLabError("knotc %s: %s%s" % (" ".join(args), r.stdout, r.stderr))
        return r.stdout

    def pid(self):
        try:
            pid = int(open(self.pidfile).read().strip())
            os.kill(pid, 0)
            return pid
        except (OSError, ValueError):
            return None

    def _ds(self, zone):
        r = subprocess.run([KEYMGR, "-c", self.conf, zone, "ds"], capture_output=True, text=True)
        return [l for l in r.stdout.splitlines() if re.match(r"^\S+ DS \d+ 13 2 [0-9a-f]{64}$", l)]

    def start(self, timeout=30):
        if self.pid():
            return self
        self._write()
        r = subprocess.run([KNOTD, "-c", self.conf, "-d"], capture_output=True, text=True)
        if r.returncode != 0:
            raise DnsLabError("knotd did not start: %s%s" % (r.stdout, r.stderr))
        deadline = time.time() + timeout
        signed = [z for z in self.zones if z == "." or DELEGATED[z][1]]
        while time.time() < deadline:
            if self.pid() and all(self._ds(z) for z in signed):
                break
            time.sleep(0.1)
        else:
            raise DnsLabError("knotd did not sign the zones in %d s (log %s)" % (timeout, self.log))
        for child, (parent, is_signed, ds) in DELEGATED.items():
            if not self.delegated or not ds:
                continue
            line = self._ds(child)[0].split()
            digest = line[5]
            if ds == "bad":
                digest = ("0" if digest[0] != "0" else "1") + digest[1:]
            self.set(parent, child, "DS", "%s %s %s %s" % (line[2], line[3], line[4], digest), ttl=3600)
        with open(self.trust_anchor, "w") as f:
            f.write("\n".join(self._ds(".")) + "\n")
        for zone, owner, ttl, rtype, rdata in self.records:
            self.set(zone, owner, rtype, rdata, ttl)
        return self

    def stop(self, timeout=15):
        pid = self.pid()
        if not pid:
            return
        self.knotc("stop", check=False)
        deadline = time.time() + timeout
        while time.time() < deadline and self.pid():
            time.sleep(0.1)
        if self.pid():
            os.kill(pid, 9)

    # ------------------------------------------------------------ records

    def zone_of(self, owner):
        """The zone served here that owner belongs to (the longest suffix)."""
        owner = owner.rstrip(".").lower() + "."
        best = "."
        for z in self.zones:
            if z != "." and (owner == z or owner.endswith("." + z)) and len(z) > len(best):
                best = z
        return best

    def set(self, zone, owner, rtype, rdata, ttl=1):
        owner = owner if owner.endswith(".") else owner + "."
        self.knotc("zone-begin", zone)
        try:
            self.knotc("zone-set", zone, owner, str(ttl), rtype, rdata)
        except DnsLabError:
            self.knotc("zone-abort", zone, check=False)
            raise
        self.knotc("zone-commit", zone)
        self.changed_at = time.monotonic()

    def settle(self, ttl=1.2):
        """Waits out the 1 s TTL of what a resolver may have cached before the last change."""
        left = self.changed_at + ttl - time.monotonic()
        if left > 0:
            time.sleep(left)

    def unset(self, zone, owner, rtype=None, rdata=None):
        owner = owner if owner.endswith(".") else owner + "."
        args = [a for a in (rtype, rdata) if a]
        self.knotc("zone-begin", zone)
        self.knotc("zone-unset", zone, owner, *args, check=False)
        self.knotc("zone-commit", zone)
        self.changed_at = time.monotonic()

    def add(self, owner, rtype, rdata, ttl=1):
        """A record at owner, in whichever zone here holds it."""
        self.set(self.zone_of(owner), owner, rtype, rdata, ttl)

    def remove(self, owner, rtype=None, rdata=None):
        self.unset(self.zone_of(owner), owner, rtype, rdata)
