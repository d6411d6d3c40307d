"""CRL benchmark (issue 7): generation and serving, each against an independent reference in
the same run. Not a test: prints figures and ratios. Run through bench/crl.sh.

Generation: 1,000 / 100,000 / 1,000,000 revoked certificates of the SSL Sub CA in the store
(reasons spread over unspecified, 1, 3, 4, 5, 9); `ecertctl crl issue --ca ssl` (store read in
batches, DER, C_Sign in the SoftHSM token, chunked commit, audit) against `openssl ca -gencrl`
over an index.txt of the same entries with the key in a file. Runs alternate (ours, openssl,
openssl, ours, ...); seconds are medians, RSS the peak of each process (wait4).
Targets: 1,000,000 entries in < 5 s and < 256 MB, signing included.

Serving: the 1,000,000-entry CRL (some 50 MB) with wrk from the node's handler, against a stock
httpd (Debian's mpm_event and keep-alive defaults, nothing else loaded but mime and authz)
serving the identical bytes as a file. Phases alternate a b b a. Target: >= 0.95.
"""

import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

SRC = os.environ["BENCH_SRC"]
SEC = int(os.environ.get("BENCH_SEC", "10"))
SIZES = [int(x) for x in os.environ.get("BENCH_SIZES", "1000,100000,1000000").split(",")]
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
sys.path.insert(0, os.path.join(SRC, "scripts"))
sys.path.insert(0, os.path.join(SRC, "bench"))
from stack import Stack, free_ports, become_subreaper  # noqa: E402
from stock_httpd import StockHttpd  # noqa: E402

def say(msg):
    print("bench: " + msg, flush=True)


def timed_rss(cmd, env=None):
    """(seconds, peak RSS in MB) of one process, measured by bench/peak.c."""
    r = subprocess.run([os.environ["BENCH_PEAK"]] + cmd, env=env, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, text=True, timeout=900)
    if r.returncode != 0:
        raise RuntimeError("%s exited %d: %s" % (" ".join(cmd), r.returncode, r.stderr[-2000:]))
    secs, kib = r.stderr.strip().splitlines()[-1].split()
    return float(secs), int(kib) / 1024.0


def wrk(url, conns, seconds):
    out = subprocess.run(["wrk", "-t2", "-c%d" % conns, "-d%ds" % seconds, "--latency", "--timeout", "30s", url],
                         capture_output=True, text=True, timeout=seconds + 120).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    tr = re.search(r"Transfer/sec:\s+([\d.]+)(\w+)", out)
    m = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
    p99 = float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)] if m else float("nan")
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return {"rps": rps, "p99": p99, "transfer": tr.group(1) + tr.group(2) if tr else "?",
            "non2xx": int(bad.group(1)) if bad else 0}


def main():
    become_subreaper()
    rundir = tempfile.mkdtemp(prefix="ecert-crlbench-", dir="/tmp")
    port, dbport, sport = free_ports(3)
    st = Stack(rundir, port, dbport, SRC, quiet=True)
    stock = StockHttpd(rundir, sport, "AddType application/pkix-crl .crl")
    ok = False
    try:
        say("load average at start: %s" % open("/proc/loadavg").read().split()[:3])
        st.start(summary=False)
        st.stop_httpd(1)                 # generation alone on the machine
        ssl_id = st.sql("SELECT id FROM ca WHERE role = 'ssl'")[0][0]
        env = st.env()
        ours = [st.ecertctl, "-f", st.ecert_conf, "crl", "issue", "--ca", "ssl"]

        # the reference CA: the same kind of key, in a file
        ref = os.path.join(rundir, "ref")
        os.makedirs(ref)
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ref + "/ca.key",
                        "-out", ref + "/ca.pem", "-subj", "/C=HK/O=Reference/CN=Reference CA", "-days", "3650"],
                       check=True, capture_output=True)
        with open(ref + "/ca.cnf", "w") as f:
            f.write("[ca]\ndefault_ca = ref\n[ref]\ndir = %s\ndatabase = %s/index.txt\n"
                    "certificate = %s/ca.pem\nprivate_key = %s/ca.key\ncrlnumber = %s/crlnumber\n"
                    "default_md = sha256\ndefault_crl_days = 7\ncrl_extensions = ext\n"
                    "[ext]\nauthorityKeyIdentifier = keyid:always\n" % ((ref,) * 5))
        with open(ref + "/crlnumber", "w") as f:
            f.write("01\n")
        openssl = ["openssl", "ca", "-config", ref + "/ca.cnf", "-gencrl", "-out", ref + "/ref.crl"]

        have = 0
        gen = {}
        for n in SIZES:
            t0 = time.monotonic()
            st.sql("INSERT INTO certificate (serial_hex, issuer_id, server_name, spki_sha256, cert_der, not_before, "
                   "not_after, status, revoked_at, revocation_reason) SELECT CONCAT('1', LPAD(HEX(seq), 39, '0')), "
                   "%s, 'bench.example.com', UNHEX(SHA2(seq, 256)), UNHEX('00'), UTC_TIMESTAMP() - INTERVAL 30 DAY, "
                   "UTC_TIMESTAMP() + INTERVAL 90 DAY, 'revoked', UTC_TIMESTAMP() - INTERVAL (seq %% 86400) SECOND, "
                   "ELT(1 + seq %% 6, NULL, 1, 3, 4, 5, 9) FROM seq_%d_to_%d" % (ssl_id, have + 1, n))
            have = n
            # the same entries for openssl: R, expiry, revocation[,reason], serial, file, subject
            names = {1: "keyCompromise", 3: "affiliationChanged", 4: "superseded",
                     5: "cessationOfOperation", 9: "superseded"}   # openssl ca knows no privilegeWithdrawn: same size
            rows = st.sql("SELECT DATE_FORMAT(not_after, '%%y%%m%%d%%H%%i%%sZ'), "
                          "DATE_FORMAT(revoked_at, '%%y%%m%%d%%H%%i%%sZ'), revocation_reason, UPPER(serial_hex) "
                          "FROM certificate WHERE issuer_id = %s AND status = 'revoked'", (ssl_id,))
            with open(ref + "/index.txt", "w") as f:
                for exp, rev, why, serial in rows:
                    f.write("R\t%s\t%s%s\t%s\tunknown\t/CN=bench\n"
                            % (exp, rev, "," + names[why] if why in names else "", serial))
            del rows
            say("%d revoked certificates in the store and in index.txt (%.0fs)" % (n, time.monotonic() - t0))
            runs = {"ours": [], "openssl": []}
            for i in range(ROUNDS):
                order = ("ours", "openssl") if i % 2 == 0 else ("openssl", "ours")
                for who in order:
                    runs[who].append(timed_rss(ours if who == "ours" else openssl, env))
            gen[n] = runs
            ts = {w: statistics.median(x[0] for x in r) for w, r in runs.items()}
            rss = {w: max(x[1] for x in r) for w, r in runs.items()}
            print("  %9d entries   ecertctl crl issue %6.2f s %6.0f MB   openssl ca -gencrl %6.2f s %6.0f MB"
                  "   time ratio %.2f" % (n, ts["ours"], rss["ours"], ts["openssl"], rss["openssl"],
                                          ts["ours"] / ts["openssl"]), flush=True)
        last = SIZES[-1]
        out = subprocess.run([st.ecertctl, "-f", st.ecert_conf, "crl", "list", "--ca", "ssl", "--limit", "1"],
                             env=env, capture_output=True, text=True).stdout
        size = int(re.findall(r"^ssl .* (\d+)  \S+", out, re.M)[0])
        say("newest CRL: %d octets (%.1f MB); openssl's: %d octets" % (size, size / 1e6,
                                                                        os.path.getsize(ref + "/ref.crl")))

        # serving: the node and a stock httpd, identical bytes
        st.start_httpd(1)
        url = st.url("/crl/eCertSCA3-17CRL1.crl")
        for _ in range(100):
            r = subprocess.run(["curl", "-s", "-o", rundir + "/served.crl", "-w", "%{http_code}", url],
                               capture_output=True, text=True)
            if r.stdout == "200" and os.path.getsize(rundir + "/served.crl") == size:
                break
            time.sleep(0.2)
        shutil.copy(rundir + "/served.crl", stock.htdocs + "/eCertSCA3-17CRL1.crl")
        stock.start()
        surl = stock.url("/eCertSCA3-17CRL1.crl")
        for _ in range(50):
            if subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", surl],
                              capture_output=True, text=True).stdout == "200":
                break
            time.sleep(0.1)
        a = subprocess.run(["sha256sum", rundir + "/served.crl", stock.htdocs + "/eCertSCA3-17CRL1.crl"],
                           capture_output=True, text=True).stdout.split()
        assert a[0] == a[2], "not the same bytes"
        res = {"a": [], "b": []}
        for conns in (16,):
            for who in ("a", "b", "b", "a"):
                res[who].append(wrk(url if who == "a" else surl, conns, SEC))
        for who, name in (("a", "(a) mod_ecert /crl/ handler"), ("b", "(b) stock httpd, same file")):
            rps = statistics.mean(r["rps"] for r in res[who])
            p99 = statistics.mean(r["p99"] for r in res[who])
            bad = sum(r["non2xx"] for r in res[who])
            print("  %-34s %8.1f req/s  p99 %8.1f ms  %s/s%s" % (name, rps, p99, res[who][0]["transfer"],
                                                                   "  non-2xx %d" % bad if bad else ""), flush=True)
        ra = statistics.mean(r["rps"] for r in res["a"]) / statistics.mean(r["rps"] for r in res["b"])
        ts1m = statistics.median(x[0] for x in gen[last]["ours"])
        rss1m = max(x[1] for x in gen[last]["ours"])
        print("\nratios and targets", flush=True)
        print("  %-44s %7.2f   target >= 0.95  %s" % ("serving (a) / (b)", ra, "ok" if ra >= 0.95 else "MISSED"))
        print("  %-44s %7.2f s target < 5 s    %s" % ("generation, %d entries" % last, ts1m,
                                                      "ok" if ts1m < 5 else "MISSED"))
        print("  %-44s %7.0f MB target < 256 MB %s" % ("peak RSS, %d entries" % last, rss1m,
                                                       "ok" if rss1m < 256 else "MISSED"))
        say("load average at end: %s" % open("/proc/loadavg").read().split()[:3])
        ok = True
    finally:
        stock.stop()
        st.stop()
        if ok:
            shutil.rmtree(rundir, ignore_errors=True)
        else:
            print("bench: failed (run dir kept: %s)" % rundir)


main()
