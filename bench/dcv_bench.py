"""bench/dcv.sh: ecertctl's DNS Change and CAA checks against delv on the same records.

ecertctl dcv txt/caa run the CA's own checks (core/ec_dcv_job.c, core/ec_caa.c) through its
libunbound resolver, as the DCV worker does: one process, its resolver's cache warm for the
root and the TLD keys only (every name is distinct). delv (BIND 9) validates each answer in a
fresh process, so it is timed two ways against ours: per lookup as delv reports it, and per
whole command with `ecertctl` started once per check as well ("cold")."""

import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

SRC = os.environ.get("BENCH_SRC") or os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(SRC, "scripts"))
from dns_lab import DnsLab  # noqa: E402

N = int(os.environ.get("BENCH_N", "100"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
ECERTCTL = os.path.join(SRC, "build", "ecertctl")


def free_addr():
    if os.geteuid() != 0:
        return None
    for n in range(200, 250):
        a = "127.0.53.%d" % n
        try:
            for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
                s = socket.socket(socket.AF_INET, kind)
                s.bind((a, 53))
                s.close()
            return a
        except OSError:
            continue
    return None


def pct(v, q):
    v = sorted(v)
    return v[min(len(v) - 1, int(round(q / 100.0 * (len(v) - 1))))]


def ours(conf, args):
    """Per-check milliseconds as ecertctl reports them, and the wall time of the batch."""
    t0 = time.monotonic()
    r = subprocess.run([ECERTCTL, "-f", conf, "dcv"] + args, capture_output=True, text=True, timeout=600)
    wall = time.monotonic() - t0
    ms = [float(line.split("\t")[2].split()[0]) for line in r.stdout.splitlines() if "\t" in line]
    verdicts = [line.split("\t")[1] for line in r.stdout.splitlines() if "\t" in line]
    return ms, wall, verdicts


def delv(lab, anchor, rtype, name):
    t0 = time.monotonic()
    r = subprocess.run(["delv", "@" + lab.addr, "-p", str(lab.port), "-a", anchor, "+root=.", rtype, name],
                       capture_output=True, text=True, timeout=60)
    return (time.monotonic() - t0) * 1000, r.stdout


def main():
    work = tempfile.mkdtemp(prefix="ecert-dcvbench-", dir="/tmp")
    addr = free_addr()
    lab = DnsLab(os.path.join(work, "dns"), addr, 53) if addr else \
        DnsLab(os.path.join(work, "dns"), "127.0.0.1", 53535, delegated=False)
    try:
        lab.start()
        zone_txt = "com." if lab.delegated else "."
        print("bench: %s DNS at %s:%d, %d names, %d rounds" % (
            "delegated" if lab.delegated else "flat", lab.addr, lab.port, N, ROUNDS), flush=True)
        # records: TXT at distinct names; CAA at the parent of distinct names (a 2-step climb)
        codes = {}
        batch = []
        for i in range(N):
            name, code = "dcv%d.bench-txt.com" % i, "code%028d" % i
            codes[name] = code
            batch.append(("TXT", name, '"%s"' % code))
            batch.append(("CAA", "caa%d.bench-caa.com" % i, '0 issue "ecert.gov.hk"'))
        zone = lab.zone_of("x.com")
        lab.knotc("zone-begin", zone)
        for t, owner, rdata in batch:
            lab.knotc("zone-set", zone, owner + ".", "3600", t, rdata)
        lab.knotc("zone-commit", zone)
        time.sleep(1)
        conf = os.path.join(work, "ecert.conf")
        with open(conf, "w") as f:
            f.write(lab.directives())
        anchor = os.path.join(work, "delv.anchor")
        ds = open(lab.trust_anchor).read().split()
        with open(anchor, "w") as f:
            f.write('trust-anchors { . static-ds %s %s %s "%s"; };\n' % (ds[2], ds[3], ds[4], ds[5]))
        # delv must agree that the records validate
        ms, out = delv(lab, anchor, "TXT", "dcv0.bench-txt.com")
        assert "; fully validated" in out, out
        res = {k: [] for k in ("txt_ours", "txt_cold", "txt_delv", "caa_ours", "caa_cold", "caa_delv")}
        walls = {"txt_ours": 0.0, "caa_ours": 0.0}
        cold_n = min(N, 20)
        for rnd in range(ROUNDS):
            names = list(codes)
            args = []
            for n in names:
                args += [n, codes[n]]
            # a fresh process each round: the answers are never in its cache beforehand
            ms, wall, verdicts = ours(conf, ["txt"] + args)
            assert verdicts == ["passed"] * N, verdicts[:3]
            res["txt_ours"] += ms
            walls["txt_ours"] += wall
            for n in names:
                res["txt_delv"].append(delv(lab, anchor, "TXT", n)[0])
            for n in names[:cold_n]:
                t0 = time.monotonic()
                ours(conf, ["txt", n, codes[n]])
                res["txt_cold"].append((time.monotonic() - t0) * 1000)
            caa_names = ["www.caa%d.bench-caa.com" % i for i in range(N)]
            ms, wall, verdicts = ours(conf, ["caa"] + caa_names)
            assert verdicts == ["permit"] * N, verdicts[:3]
            res["caa_ours"] += ms
            walls["caa_ours"] += wall
            for n in caa_names:
                # the same two lookups the climb makes: the name (empty) and its parent
                a = delv(lab, anchor, "CAA", n)[0]
                b = delv(lab, anchor, "CAA", n.split(".", 1)[1])[0]
                res["caa_delv"].append(a + b)
            for n in caa_names[:cold_n]:
                t0 = time.monotonic()
                ours(conf, ["caa", n])
                res["caa_cold"].append((time.monotonic() - t0) * 1000)
            print("bench: round %d done" % (rnd + 1), flush=True)
        print("\n%-34s %9s %9s %12s" % ("", "p50 ms", "p99 ms", "checks/s"))
        for k, label in (("txt_ours", "DNS Change, ecertctl (one process)"),
                         ("txt_cold", "DNS Change, ecertctl per check"),
                         ("txt_delv", "TXT, delv per lookup"),
                         ("caa_ours", "CAA, ecertctl (one process)"),
                         ("caa_cold", "CAA, ecertctl per check"),
                         ("caa_delv", "CAA (2 lookups), delv")):
            v = res[k]
            rate = (len(v) / walls[k]) if k in walls else 1000.0 / statistics.mean(v)
            print("%-34s %9.2f %9.2f %12.1f" % (label, pct(v, 50), pct(v, 99), rate))
        print("\nratios (ecertctl / delv, lower is faster):")
        print("  DNS Change p50, in process / delv:   %.3f" % (pct(res["txt_ours"], 50) / pct(res["txt_delv"], 50)))
        print("  DNS Change p50, per check / delv:    %.3f" % (pct(res["txt_cold"], 50) / pct(res["txt_delv"], 50)))
        print("  CAA p50, in process / delv:          %.3f" % (pct(res["caa_ours"], 50) / pct(res["caa_delv"], 50)))
        print("  CAA p50, per check / delv:           %.3f" % (pct(res["caa_cold"], 50) / pct(res["caa_delv"], 50)))
    finally:
        lab.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
