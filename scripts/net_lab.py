"""A private test "internet" of network namespaces, for multi-perspective issuance
corroboration (CA/B Forum BR 3.2.2.9): remote perspectives run inside namespaces and must see
the same DNS and web sites the primary CA (in the host namespace) sees, and a test can give ONE
perspective a hijacked view (another web server, a forged DNS answer) at the same IP address,
as a BGP hijack would.

Root only (NetLab.available() says whether it can run here). One lab is:

    host namespace                      bridge ecb<id>, 10.X.0.0/16 (X free, 100..199)
      gw           10.X.0.1             the bridge's own address
      dns_addr     10.X.0.53            Knot DNS (scripts/dns_lab.py): the root and every NS glue
      dns_backend  10.X.0.54            the same Knot: where a DNS hijacker forwards to
      web_addr     10.X.0.80            the applicants' web sites (tests/web_sites.py)
      dead_addr    10.X.0.254           on the bridge's prefix, nothing answers there
    namespace ec<id>-<name>             one per add_host(): eth0 = 10.X.1.k/16, veth to the bridge

    lab = NetLab(rundir).start()
    h = lab.add_host("p1")                  # h.ns, h.addr, h.cmd(["curl", ...])
    lab.hijack_web(h, {("www.shop.com", "/x"): "forged\\n"})   # web_addr:80 inside h only
    lab.hijack_dns(h, {("www.shop.com.", "TXT"): ['"forged"']}) # dns_addr:53 inside h only
    lab.unhijack_web(h); lab.unhijack_dns(h)
    lab.stop()                              # idempotent

A hijack puts the hijacked address on the namespace's lo: the local route wins there, so that
namespace's traffic to it stays inside it (tests/hijack_web.py, tests/hijack_dns.py), while
everyone else still reaches the real servers over the bridge.

No address of the lab ever leaves the machine: the namespaces have no default route, and an
"unreachable 10.X.0.0/16" route (metric 4000) stays under the bridge's route while the lab runs,
so that nothing sent to the lab's addresses goes out of the default route if the bridge is gone.

What a lab made is recorded in rundir/netlab.json and in REGISTRY/<id>.json with the owner's pid
(and its start time); NetLab.cleanup_stale() (also run by start()) removes the bridges,
namespaces, veths and routes of labs whose owner is dead (a killed session).
"""

import fcntl
import ipaddress
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TESTS = os.path.join(REPO, "tests")
IP = shutil.which("ip") or "/usr/sbin/ip"
PING = shutil.which("ping") or "/usr/bin/ping"
REGISTRY = os.environ.get("ECERT_NETLAB_REGISTRY", "/run/ecert-netlab")
SAFETY_METRIC = 4000

_available = None        # (bool, reason), cached


class NetLabError(Exception):
    pass


def _run(argv, check=True, **kw):
    r = subprocess.run([str(a) for a in argv], capture_output=True, text=True,
                       stdin=subprocess.DEVNULL, **kw)
    if check and r.returncode != 0:
        raise NetLabError("%s: exit %d: %s%s" % (" ".join(map(str, argv)), r.returncode,
                                                 r.stdout, r.stderr))
    return r


def _ip(*args, check=True):
    return _run([IP] + list(args), check=check)


def proc_start_time(pid):
    """The start time (clock ticks since boot) of pid, or None when it does not exist or has
    exited (a zombie): a pid and its start time name one process, even after the pid is reused."""
    try:
        with open("/proc/%d/stat" % int(pid)) as f:
            s = f.read()
        fields = s[s.rindex(")") + 2:].split()
        return None if fields[0] in ("Z", "X") else fields[19]
    except (OSError, ValueError, IndexError):
        return None


def _alive(pid, start):
    return pid and proc_start_time(pid) == start


def _netns_list():
    r = _ip("netns", "list", check=False)
    return {l.split()[0] for l in r.stdout.splitlines() if l.strip()}


def _link_exists(name):
    return os.path.exists("/sys/class/net/%s" % name)


def _write_json(path, data):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(data, f, indent=1, sort_keys=True)
    os.replace(tmp, path)


class _Lock:
    """The registry's lock: one lab at a time picks its /16 and id, or cleans stale labs."""

    def __enter__(self):
        os.makedirs(REGISTRY, exist_ok=True)
        self.f = open(os.path.join(REGISTRY, "lock"), "w")
        fcntl.flock(self.f, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        fcntl.flock(self.f, fcntl.LOCK_UN)
        self.f.close()


def _kill_netns_pids(ns, grace=3.0):
    """Ends whatever still runs inside namespace ns (it was started there by the lab's user),
    so that deleting the namespace really frees it and its veth."""
    def pids():
        r = _ip("netns", "pids", ns, check=False)
        return [int(p) for p in r.stdout.split() if p.isdigit()]
    left = pids()
    seen = set(left)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for p in left:
            try:
                os.kill(p, sig)
            except OSError:
                pass
        deadline = time.monotonic() + grace
        while left and time.monotonic() < deadline:
            time.sleep(0.05)
            _reap(seen)
            left = pids()
            seen.update(left)
        if not left:
            break
    _reap(seen)


def _reap(pids):
    """Collects the exit status of those of pids that are our children (or orphans we are the
    subreaper of), so none stays <defunct>; other processes' children are not touched."""
    for p in pids:
        try:
            os.waitpid(p, os.WNOHANG)
        except ChildProcessError:
            pass


def _teardown(state):
    """Removes everything a state record lists; quiet about what is already gone."""
    for h in state.get("hosts", []):
        for key in ("web_pid", "dns_pid"):
            pid, start = h.get(key), h.get(key + "_start")
            if _alive(pid, start):
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        if h["ns"] in _netns_list():
            _kill_netns_pids(h["ns"])
            _ip("netns", "del", h["ns"], check=False)
        if _link_exists(h["veth"]):
            _ip("link", "del", h["veth"], check=False)
    if state.get("bridge") and _link_exists(state["bridge"]):
        _ip("link", "del", state["bridge"], check=False)
    if state.get("net"):
        _ip("route", "del", "unreachable", "%s.0.0/16" % state["net"], "metric", str(SAFETY_METRIC),
            check=False)


class LabHost:
    """One namespace of a lab: a remote perspective's machine."""

    def __init__(self, lab, name, ns, veth, addr):
        self.lab, self.name, self.ns, self.veth, self.addr = lab, name, ns, veth, addr
        self.web = None          # the hijack_web process, when hijacked
        self.dns = None          # the hijack_dns process, when hijacked

    def cmd(self, argv):
        """argv run inside this namespace."""
        return [IP, "netns", "exec", self.ns] + [str(a) for a in argv]

    def run(self, argv, check=False, timeout=60, **kw):
        """subprocess.run of argv inside this namespace (text, output captured)."""
        return subprocess.run(self.cmd(argv), capture_output=True, text=True, check=check,
                              timeout=timeout, stdin=subprocess.DEVNULL, **kw)

    def __repr__(self):
        return "LabHost(%s, %s, %s)" % (self.name, self.ns, self.addr)


class NetLab:
    """See the module docstring."""

    def __init__(self, rundir):
        self.dir = os.path.abspath(rundir)
        self.id = None
        self.net = None          # "10.X"
        self.bridge = None
        self.hosts = {}          # name -> LabHost
        self._k = 0
        self.state_file = os.path.join(self.dir, "netlab.json")
        self.registry_file = None

    # ------------------------------------------------------------ can we

    @staticmethod
    def available():
        """True when this process can make a lab: euid 0 and `ip netns add` works (tried once
        with a throwaway namespace)."""
        global _available
        if _available is None:
            _available = NetLab._probe()
        return _available[0]

    @staticmethod
    def unavailable_reason():
        NetLab.available()
        return _available[1]

    @staticmethod
    def _probe():
        if os.geteuid() != 0:
            return False, "the network lab needs root"
        if not os.path.exists(IP):
            return False, "the network lab needs iproute2 (ip)"
        n = os.getpid()
        ns, br, veth = "ecprobe%d" % n, "ecbp%d" % n, "ecvp%d" % n
        try:
            r = _ip("netns", "add", ns, check=False)
            if r.returncode != 0:
                return False, "ip netns add does not work here: %s" % (r.stderr.strip() or r.returncode)
            for what, argv in (("a new network namespace cannot be configured", ["-n", ns, "link", "set", "lo", "up"]),
                               ("no bridges here", ["link", "add", br, "type", "bridge"]),
                               ("no veth pairs here", ["link", "add", veth, "type", "veth", "peer", "name", "eth0",
                                                       "netns", ns])):
                r = _ip(*argv, check=False)
                if r.returncode != 0:
                    return False, "%s: %s" % (what, r.stderr.strip())
            return True, None
        finally:
            for link in (veth, br):
                if _link_exists(link):
                    _ip("link", "del", link, check=False)
            _ip("netns", "del", ns, check=False)

    # ------------------------------------------------------------ addresses

    def _need(self):
        if not self.net:
            raise NetLabError("the lab is not started")

    @property
    def prefix(self):
        self._need()
        return "%s.0.0/16" % self.net

    @property
    def gw(self):
        self._need()
        return "%s.0.1" % self.net

    @property
    def dns_addr(self):
        self._need()
        return "%s.0.53" % self.net

    @property
    def dns_backend(self):
        self._need()
        return "%s.0.54" % self.net

    @property
    def web_addr(self):
        self._need()
        return "%s.0.80" % self.net

    @property
    def dead_addr(self):
        """An address of the lab's /16 where nothing listens or answers."""
        self._need()
        return "%s.0.254" % self.net

    # ------------------------------------------------------------ state

    def _state(self):
        hosts = []
        for h in self.hosts.values():
            d = {"name": h.name, "ns": h.ns, "veth": h.veth, "addr": h.addr}
            for key, p in (("web_pid", h.web), ("dns_pid", h.dns)):
                if p is not None:
                    d[key], d[key + "_start"] = p.pid, proc_start_time(p.pid)
            hosts.append(d)
        return {"id": self.id, "net": self.net, "bridge": self.bridge, "rundir": self.dir,
                "owner_pid": os.getpid(), "owner_start": proc_start_time(os.getpid()),
                "hosts": hosts}

    def _save(self):
        st = self._state()
        _write_json(self.state_file, st)
        if self.registry_file:
            _write_json(self.registry_file, st)

    @staticmethod
    def _records():
        try:
            names = os.listdir(REGISTRY)
        except FileNotFoundError:
            return []
        out = []
        for n in sorted(names):
            if not n.endswith(".json"):
                continue
            p = os.path.join(REGISTRY, n)
            try:
                with open(p) as f:
                    out.append((p, json.load(f)))
            except (OSError, ValueError):
                continue
        return out

    @staticmethod
    def cleanup_stale():
        """Removes the labs (bridges, namespaces, veths, routes) whose recorded owner process is
        dead; returns their ids. Labs of live owners are left alone."""
        done = []
        with _Lock():
            for path, st in NetLab._records():
                if _alive(st.get("owner_pid"), st.get("owner_start")):
                    continue
                _teardown(st)
                os.unlink(path)
                done.append(st.get("id"))
        return done

    # ------------------------------------------------------------ lifecycle

    def _pick_net(self, taken_ids):
        routes = _ip("-4", "route", "show", "table", "all").stdout.splitlines()
        routes += ["%s" % l.split()[3] for l in _ip("-4", "-o", "addr").stdout.splitlines()
                   if len(l.split()) > 3]
        used = []
        kinds = {"unicast", "local", "broadcast", "multicast", "unreachable", "blackhole",
                 "prohibit", "throw", "anycast", "nat"}
        for line in routes:
            t = line.split()
            if not t:
                continue
            dest = t[1] if t[0] in kinds and len(t) > 1 else t[0]
            if dest == "default":
                continue
            try:
                used.append(ipaddress.ip_network(dest, strict=False))
            except ValueError:
                continue
        recorded = {st.get("net") for _, st in self._records()}
        free = []
        for x in range(100, 200):
            net = ipaddress.ip_network("10.%d.0.0/16" % x)
            if "10.%d" % x in recorded or any(net.overlaps(u) for u in used):
                continue
            free.append(x)
        if not free:
            raise NetLabError("no free 10.X.0.0/16 (X in 100..199) for the network lab")
        x = random.choice(free)
        while True:
            i = "%04x" % random.randrange(0x10000)
            if i not in taken_ids and not _link_exists("ecb" + i):
                return "10.%d" % x, i

    def start(self):
        if self.net:
            return self
        if not NetLab.available():
            raise NetLabError(NetLab.unavailable_reason())
        os.makedirs(self.dir, exist_ok=True)
        NetLab.cleanup_stale()
        with _Lock():
            ids = {st.get("id") for _, st in self._records()}
            self.net, self.id = self._pick_net(ids)
            self.bridge = "ecb" + self.id
            self.registry_file = os.path.join(REGISTRY, "%s.json" % self.id)
            self._save()             # recorded before anything is made: a kill now is cleanable
        try:
            _ip("route", "add", "unreachable", self.prefix, "metric", str(SAFETY_METRIC))
            _ip("link", "add", self.bridge, "type", "bridge")
            # the bridge has no IPv6 business; and no STP: its ports forward at once
            _run(["sysctl", "-qw", "net.ipv6.conf.%s.disable_ipv6=1" % self.bridge], check=False)
            for a in (self.gw, self.dns_addr, self.dns_backend, self.web_addr):
                _ip("addr", "add", "%s/16" % a, "dev", self.bridge)
            _ip("link", "set", self.bridge, "up")
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self):
        """Stops the hijackers, deletes the namespaces (and whatever runs in them), the veths,
        the bridge and the route. Idempotent."""
        if not self.net:
            return
        for h in list(self.hosts.values()):
            self._stop_proc(h, "web")
            self._stop_proc(h, "dns")
        _teardown(self._state())
        self.hosts = {}
        for p in (self.registry_file, self.state_file):
            if p:
                try:
                    os.unlink(p)
                except FileNotFoundError:
                    pass
        self.net = self.id = self.bridge = self.registry_file = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # ------------------------------------------------------------ hosts

    def add_host(self, name):
        """A namespace on the lab's bridge: eth0 = 10.X.1.k/16, lo up, answering ping from the
        host namespace before this returns."""
        self._need()
        if name in self.hosts:
            raise NetLabError("host %s exists" % name)
        if not name.replace("-", "").replace("_", "").isalnum():
            raise NetLabError("host name %r: letters, digits, - and _ only" % name)
        self._k += 1
        if self._k > 254:
            raise NetLabError("at most 254 hosts in a lab")
        k = self._k
        h = LabHost(self, name, "ec%s-%s" % (self.id, name), "ecv%s%d" % (self.id, k),
                    "%s.1.%d" % (self.net, k))
        self.hosts[name] = h
        self._save()
        try:
            _ip("netns", "add", h.ns)
            _ip("link", "add", h.veth, "type", "veth", "peer", "name", "eth0", "netns", h.ns)
            _run(["sysctl", "-qw", "net.ipv6.conf.%s.disable_ipv6=1" % h.veth], check=False)
            _ip("link", "set", h.veth, "master", self.bridge)
            _ip("link", "set", h.veth, "up")
            _ip("-n", h.ns, "link", "set", "lo", "up")
            _ip("-n", h.ns, "addr", "add", "%s/16" % h.addr, "dev", "eth0")
            _ip("-n", h.ns, "link", "set", "eth0", "up")
            self._wait_ping(h)
        except BaseException:
            self.remove_host(h)
            raise
        return h

    def _wait_ping(self, h, timeout=10):
        """h answers ping from the host namespace (or, without ping, connects from its namespace
        to a TCP listener of ours on gw)."""
        deadline = time.monotonic() + timeout
        while True:
            r = self._ping(h)
            if r.returncode == 0:
                return
            if time.monotonic() > deadline:
                raise NetLabError("host %s (%s in %s) does not answer: %s%s"
                                  % (h.name, h.addr, h.ns, r.stdout, r.stderr))
            time.sleep(0.1)

    def _ping(self, h):
        if os.path.exists(PING):
            return _run([PING, "-n", "-q", "-c1", "-W1", h.addr], check=False)
        with socket.socket() as s:
            s.bind((self.gw, 0))
            s.listen(1)
            return _run(h.cmd([sys.executable, "-c", "import socket, sys; socket.create_connection("
                               "(sys.argv[1], int(sys.argv[2])), 1).close()", self.gw, s.getsockname()[1]]),
                        check=False, timeout=10)

    def remove_host(self, h):
        """Deletes one namespace (ending whatever runs in it) and its veth."""
        h = self.hosts.get(h) if isinstance(h, str) else h
        if h is None or self.hosts.get(h.name) is not h:
            return
        self._stop_proc(h, "web")
        self._stop_proc(h, "dns")
        if h.ns in _netns_list():
            _kill_netns_pids(h.ns)
            _ip("netns", "del", h.ns, check=False)
        if _link_exists(h.veth):
            _ip("link", "del", h.veth, check=False)
        del self.hosts[h.name]
        self._save()

    # ------------------------------------------------------------ hijacks

    def _host(self, h):
        h = self.hosts.get(h) if isinstance(h, str) else h
        if h is None or self.hosts.get(h.name) is not h:
            raise NetLabError("not a host of this lab: %r" % (h,))
        return h

    def _start_proc(self, h, kind, addr, argv, timeout=15):
        """Puts addr/32 on h's lo and runs argv (a tests/hijack_*.py) in h's namespace until it
        has bound its sockets (it creates its --ready file)."""
        if getattr(h, kind) is not None:
            raise NetLabError("%s is already %s-hijacked" % (h.name, kind))
        ready = os.path.join(self.dir, "hijack-%s-%s.ready" % (kind, h.name))
        log = os.path.join(self.dir, "hijack-%s-%s.log" % (kind, h.name))
        if os.path.exists(ready):
            os.unlink(ready)
        _ip("-n", h.ns, "addr", "add", "%s/32" % addr, "dev", "lo")
        argv = argv + ["--ready", ready, "--owner-pid", str(os.getpid()),
                       "--owner-start", proc_start_time(os.getpid())]
        with open(log, "ab") as lf:
            p = subprocess.Popen(h.cmd(argv), stdin=subprocess.DEVNULL, stdout=lf,
                                 stderr=subprocess.STDOUT, start_new_session=True)
        setattr(h, kind, p)
        self._save()
        deadline = time.monotonic() + timeout
        while not os.path.exists(ready):
            if p.poll() is not None or time.monotonic() > deadline:
                self._stop_proc(h, kind)
                with open(log, errors="replace") as f:
                    tail = f.read()[-2000:]
                raise NetLabError("the %s hijacker of %s did not start (log %s):\n%s"
                                  % (kind, h.name, log, tail))
            time.sleep(0.05)

    def _stop_proc(self, h, kind):
        p = getattr(h, kind)
        if p is None:
            return
        if p.poll() is None:
            p.terminate()
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)
        setattr(h, kind, None)
        addr = self.web_addr if kind == "web" else self.dns_addr
        _ip("-n", h.ns, "addr", "del", "%s/32" % addr, "dev", "lo", check=False)
        self._save()

    def hijack_web(self, host, routes, port=80):
        """From inside host's namespace, web_addr:port is tests/hijack_web.py serving routes
        {(hostname, path): body} (by the Host header; 404 otherwise)."""
        h = self._host(host)
        self._need()
        path = os.path.join(self.dir, "hijack-web-%s.json" % h.name)
        _write_json(path, [{"host": k[0], "path": k[1], "body": v} for k, v in routes.items()])
        self._start_proc(h, "web", self.web_addr,
                         [sys.executable, os.path.join(TESTS, "hijack_web.py"), "--addr", self.web_addr,
                          "--port", str(port), "--routes", path])

    def unhijack_web(self, host):
        self._stop_proc(self._host(host), "web")

    def hijack_dns(self, host, overrides, delay_ms=0):
        """From inside host's namespace, dns_addr:53 (UDP and TCP) is tests/hijack_dns.py: every
        query forwarded unchanged to dns_backend:53, except (qname, qtype) in overrides
        {("name.", "TXT"): [rdata text, ...]}, answered with those records (forged: unsigned,
        authoritative, TTL 1; an empty list is a NODATA answer). delay_ms is added to every
        forwarded query: a perspective whose DNS path is long (bench/mpic.sh)."""
        h = self._host(host)
        self._need()
        path = os.path.join(self.dir, "hijack-dns-%s.json" % h.name)
        _write_json(path, [{"name": k[0], "type": k[1], "rdata": list(v)} for k, v in overrides.items()])
        self._start_proc(h, "dns", self.dns_addr,
                         [sys.executable, os.path.join(TESTS, "hijack_dns.py"), "--addr", self.dns_addr,
                          "--port", "53", "--upstream", self.dns_backend, "--overrides", path,
                          "--delay-ms", str(delay_ms)])

    def unhijack_dns(self, host):
        self._stop_proc(self._host(host), "dns")


def tcp_open(addr, port, timeout=1.0):
    """True when addr:port accepts a TCP connection (from this namespace)."""
    try:
        socket.create_connection((addr, port), timeout).close()
        return True
    except OSError:
        return False


if __name__ == "__main__":
    # python3 scripts/net_lab.py cleanup: removes the labs of dead owners
    if sys.argv[1:] == ["cleanup"]:
        print("removed: %s" % (" ".join(NetLab.cleanup_stale()) or "nothing"))
    else:
        print("usage: net_lab.py cleanup", file=sys.stderr)
        sys.exit(2)
