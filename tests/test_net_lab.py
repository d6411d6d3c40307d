"""The network lab of multi-perspective issuance corroboration (BR 3.2.2.9; scripts/net_lab.py):
the session's bridge and namespaces see the stack's Knot DNS and the applicants' web sites as
the host does, one namespace can be given a hijacked web server or forged DNS answers at the
same addresses while the others still see the real ones, and a lab leaves nothing behind,
also when its owner was killed. Root only (the `net` fixture skips elsewhere)."""

import json
import os
import subprocess
import sys
import textwrap
import time

import pytest

import net_lab
from net_lab import REGISTRY, NetLab, proc_start_time
from web_sites import WebSites

pytestmark = pytest.mark.skipif(not NetLab.available(), reason="no network lab: %s"
                                % NetLab.unavailable_reason())

_n = [0]


def unique(label):
    _n[0] += 1
    return "%s%d-%d.com" % (label, int(time.time() * 1000) % 1000000, _n[0])


@pytest.fixture(scope="module")
def hosts(net):
    p1, p2 = net.add_host("nlt1"), net.add_host("nlt2")
    yield p1, p2
    net.remove_host(p1)
    net.remove_host(p2)


@pytest.fixture(scope="module")
def sites(net, tmp_path_factory):
    s = WebSites(str(tmp_path_factory.mktemp("nlsites")), addr=net.web_addr).start()
    yield s
    s.stop()


def curl(net, name, path, host=None):
    """(status, body) of http://name/path with name at the lab's web address, from host's
    namespace (or the host namespace)."""
    argv = ["curl", "-s", "--max-time", "5", "--resolve", "%s:80:%s" % (name, net.web_addr),
            "-w", "\n%{http_code}", "http://%s%s" % (name, path)]
    r = host.run(argv) if host else subprocess.run(argv, capture_output=True, text=True, timeout=30)
    body, _, status = r.stdout.rpartition("\n")
    return status, body


def dig(net, rtype, name, host=None, tcp=False):
    argv = ["dig", "+short", "+time=2", "+tries=1", "@" + net.dns_addr, rtype, name] + (["+tcp"] if tcp else [])
    r = host.run(argv) if host else subprocess.run(argv, capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr
    return sorted(r.stdout.split("\n")[:-1])


def links():
    return set(os.listdir("/sys/class/net"))


def netns():
    r = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True)
    return {l.split()[0] for l in r.stdout.splitlines() if l.strip()}


def test_addresses_and_names(net, hosts):
    p1, p2 = hosts
    assert net.prefix.startswith("10.") and net.prefix.endswith(".0.0/16")
    x = net.net
    assert (net.gw, net.dns_addr, net.dns_backend, net.web_addr, net.dead_addr) == \
        (x + ".0.1", x + ".0.53", x + ".0.54", x + ".0.80", x + ".0.254")
    assert p1.addr.startswith(x + ".1.") and p2.addr.startswith(x + ".1.") and p1.addr != p2.addr
    assert {p1.ns, p2.ns} <= netns()
    assert {net.bridge, p1.veth, p2.veth} <= links()
    assert all(len(n) <= 15 for n in (net.bridge, p1.veth, p2.veth))
    r = p1.run(["ip", "-4", "-o", "addr", "show", "dev", "eth0"])
    assert "%s/16" % p1.addr in r.stdout
    # a namespace has no way out: no default route
    assert "default" not in p1.run(["ip", "-4", "route"]).stdout
    state = json.load(open(net.state_file))
    assert state["owner_pid"] == os.getpid() and {h["ns"] for h in state["hosts"]} >= {p1.ns, p2.ns}
    assert json.load(open(os.path.join(REGISTRY, net.id + ".json")))["bridge"] == net.bridge


def test_stack_dns_is_on_the_lab(stack, net):
    assert stack.dns.addr == net.dns_addr and net.dns_backend in stack.dns.also_listen
    assert stack.web_addr == net.web_addr
    conf = open(stack.dns.conf).read()
    assert "%s@53" % net.dns_addr in conf and "%s@53" % net.dns_backend in conf


def test_web_sites_reached_from_every_namespace(net, hosts, sites):
    name = "www." + unique("real")
    sites.route(name, "/", body="the real site\n")
    for h in (None,) + hosts:
        assert curl(net, name, "/", h) == ("200", "the real site\n"), h
    assert curl(net, name, "/nothing", hosts[0])[0] == "404"


def test_hijacked_web_seen_by_one_namespace_only(net, hosts, sites):
    p1, p2 = hosts
    name = "www." + unique("hijack")
    sites.route(name, "/f.txt", body="real code\n")
    seen = len([q for q in sites.requests if q[1] == name])
    net.hijack_web(p1, {(name, "/f.txt"): "the hijacker's code\n"})
    try:
        assert curl(net, name, "/f.txt", p1) == ("200", "the hijacker's code\n")
        assert curl(net, name, "/other", p1)[0] == "404"             # not the real site's 404
        assert len([q for q in sites.requests if q[1] == name]) == seen   # never reached it
        assert curl(net, name, "/f.txt", p2) == ("200", "real code\n")
        assert curl(net, name, "/f.txt") == ("200", "real code\n")
        with pytest.raises(Exception):
            net.hijack_web(p1, {})                                     # one at a time
    finally:
        net.unhijack_web(p1)
    assert curl(net, name, "/f.txt", p1) == ("200", "real code\n")
    assert net.web_addr not in p1.run(["ip", "-4", "-o", "addr", "show", "dev", "lo"]).stdout
    net.unhijack_web(p1)                                               # again: nothing to do


def test_forged_dns_seen_by_one_namespace_only(stack, net, hosts):
    p1, p2 = hosts
    d = stack.dns
    forged, other = "www." + unique("forge"), "www." + unique("honest")
    insecure = "www.%d-%d.unsigned-zone.com" % (os.getpid(), _n[0])
    for n in (forged, other, insecure):
        d.add(n, "TXT", '"real %s"' % n)
    d.add(forged, "CAA", '0 issue "ecert.gov.hk"')
    d.settle()
    net.hijack_dns(p1, {(forged + ".", "TXT"): ['"forged one"', '"forged two"'],
                        (forged + ".", "CAA"): ['0 issue "evil-ca.example"'],
                        (insecure + ".", "TXT"): ['"forged insecure"']})
    try:
        for tcp in (False, True):
            assert dig(net, "TXT", forged, p1, tcp) == ['"forged one"', '"forged two"']
            assert dig(net, "CAA", forged, p1, tcp) == ['0 issue "evil-ca.example"']
            assert dig(net, "TXT", insecure, p1, tcp) == ['"forged insecure"']
            assert dig(net, "TXT", other, p1, tcp) == ['"real %s"' % other]     # passed through
            assert dig(net, "A", "ns.com", p1, tcp) == [net.dns_addr]          # the glue: the same
            for h in (p2, None):
                assert dig(net, "TXT", forged, h, tcp) == ['"real %s"' % forged]
                assert dig(net, "CAA", forged, h, tcp) == ['0 issue "ecert.gov.hk"']
        # the forgery is unsigned: a signed zone's real answer has its RRSIG, the forged none
        r = p1.run(["dig", "+dnssec", "+time=2", "+tries=1", "@" + net.dns_addr, "TXT", forged])
        assert "forged one" in r.stdout and "RRSIG" not in r.stdout and " aa" in r.stdout
        r = p2.run(["dig", "+dnssec", "+time=2", "+tries=1", "@" + net.dns_addr, "TXT", forged])
        assert "RRSIG" in r.stdout
        log = open(os.path.join(os.path.dirname(net.state_file), "hijack-dns-%s.log" % p1.name)).read()
        assert "forge %s. TXT: 2 record(s)" % forged in log and "forward %s. TXT" % other in log
    finally:
        net.unhijack_dns(p1)
    assert dig(net, "TXT", forged, p1) == ['"real %s"' % forged]


def test_stop_leaves_nothing(tmp_path):
    lab = NetLab(str(tmp_path)).start()
    try:
        a, b = lab.add_host("a"), lab.add_host("b")
        made_links, made_ns = {lab.bridge, a.veth, b.veth}, {a.ns, b.ns}
        assert made_links <= links() and made_ns <= netns()
        lab.hijack_web(a, {("x.com", "/"): "x"})
        lab.hijack_dns(b, {("x.com.", "TXT"): ['"x"']})
        procs = [a.web.pid, b.dns.pid]
        prefix, registry = lab.prefix, lab.registry_file
        # something a test started in a namespace ends with it
        sleeper = subprocess.Popen(a.cmd(["sleep", "600"]))
    finally:
        lab.stop()
    assert sleeper.wait(10) is not None
    assert not made_links & links() and not made_ns & netns()
    assert not [p for p in procs if proc_start_time(p)]
    assert not os.path.exists(registry) and not os.path.exists(lab.state_file)
    routes = subprocess.run(["ip", "-4", "route", "show", "table", "all"], capture_output=True, text=True).stdout
    assert prefix not in routes
    lab.stop()                                                          # idempotent


def test_a_killed_owner_is_cleaned_up(tmp_path):
    """A session killed with its lab up: its hijackers end by themselves, and cleanup_stale()
    removes the rest."""
    script = textwrap.dedent("""
        import os, subprocess, sys
        sys.path[:0] = [%r]
        from net_lab import NetLab
        lab = NetLab(%r).start()
        h = lab.add_host("k")
        lab.hijack_web(h, {("x.com", "/"): "x"})
        lab.hijack_dns(h, {("x.com.", "TXT"): ['"x"']})
        subprocess.Popen(h.cmd(["sleep", "600"]), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        print(lab.id, lab.bridge, h.ns, h.veth, h.web.pid, h.dns.pid, flush=True)
        os.kill(os.getpid(), 9)
    """ % (os.path.dirname(os.path.abspath(net_lab.__file__)), str(tmp_path)))
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    lab_id, bridge, ns, veth, web, dns = r.stdout.split()
    assert {bridge, veth} <= links() and ns in netns()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and (proc_start_time(int(web)) or proc_start_time(int(dns))):
        time.sleep(0.1)
    for p in (int(web), int(dns)):          # orphans of ours (the session is their subreaper)
        try:
            os.waitpid(p, os.WNOHANG)
        except ChildProcessError:
            pass
    assert not proc_start_time(int(web)) and not proc_start_time(int(dns))
    assert lab_id in NetLab.cleanup_stale()
    assert not {bridge, veth} & links() and ns not in netns()
    assert not os.path.exists(os.path.join(REGISTRY, lab_id + ".json"))
    assert lab_id not in NetLab.cleanup_stale()
