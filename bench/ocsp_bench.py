"""OCSP responder benchmark (issues 3 and 11, R-13). Not a test: prints figures and ratios.

One private stack on 127.0.0.1 (MariaDB, SoftHSM token, httpd with mod_ocsp) and, beside it,
a stock httpd (Debian's mpm_event.conf and apache2.conf defaults, access log on) serving the
identical answer bytes as one file per answer: the ceiling. wrk, 64 connections unless said.

  queue      100,000 certificates queued at once: the re-sign queue's signatures/s, between
             two runs of bench/p11sign.c (the bare C_Sign loop, same token and key)
  realistic  GET and POST of the 100,000 answers, uniformly at random and Zipf (s = 1.1), against
             the stock httpd serving the same answers (GET); interleaved m s p p s m
  single     one serial over and over: (a) GET (b) POST against (c) the stock httpd's one file
  (d)        openssl ocsp -index with the same 100,000 certificates (software key), POST, ab
  (e)        the nonce path (one C_Sign per request) against the bare C_Sign loop
  revocation all 100,000 revoked by one statement: time until a sample of them is answered
             revoked, and until every answer is re-signed and in the replica
  million    (BENCH_MILLION=1, the default) 1,000,000 certificates: queue rate again, the
             replica's size, RSS per child, realistic uniform GET against the stock httpd

Targets: realistic GET and POST >= 0.95 x stock, p99 <= 1.5 x stock's, queue >= 0.8 x bare
C_Sign, RSS per child < 64 MB (private memory: the replica is page cache, shared), single
serial (a)/(c) >= 0.95, nonce path >= 0.9 x bare.
"""
import base64
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

SRC = os.environ["BENCH_SRC"]
SEC = int(os.environ.get("BENCH_SEC", "10"))
HALF = max(3, SEC // 2)
MILLION = os.environ.get("BENCH_MILLION", "1") == "1"
N = int(os.environ.get("BENCH_CERTS", "100000"))        # the realistic phase's store (and M: 10 x N)
M = 10 * N
sys.path.insert(0, os.path.join(SRC, "scripts"))
sys.path.insert(0, os.path.join(SRC, "tests"))
sys.path.insert(0, os.path.join(SRC, "bench"))
from stack import Stack, free_ports, become_subreaper  # noqa: E402
from stock_httpd import StockHttpd  # noqa: E402
import ocsp_util as u  # noqa: E402

LUA = os.path.join(SRC, "bench", "ocsp_dist.lua")
RESPONDER_KEY = "Hongkong Post e-Cert SSL CA 3 - 17 OCSP Responder"

def say(msg):
    print("bench: " + msg, flush=True)


def wrk(url, conns=64, lua=None, env=None, seconds=None):
    threads = 1 if conns == 1 else 2
    seconds = seconds or SEC
    cmd = ["wrk", "-t%d" % threads, "-c%d" % conns, "-d%ds" % seconds, "--latency", "--timeout", "10s"]
    if lua:
        cmd += ["-s", lua]
    out = subprocess.run(cmd + [url], capture_output=True, text=True, timeout=seconds + 300,
                         env=dict(os.environ, **(env or {}))).stdout
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if not m:
        raise RuntimeError("wrk: " + out)
    lat = {}
    for pct in ("50", "99"):
        m2 = re.search(r"^\s+%s(?:\.000)?%%\s+([\d.]+)(us|ms|s)\s*$" % pct, out, re.M)
        lat[pct] = float(m2.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m2.group(2)] if m2 else float("nan")
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errs = re.search(r"Socket errors: (.*)", out)
    return {"rps": float(m.group(1)), "p50": lat["50"], "p99": lat["99"], "non2xx": int(bad.group(1)) if bad else 0,
            "errors": errs.group(1) if errs else ""}


def average(runs):
    r = {f: sum(x[f] for x in runs) / len(runs) for f in ("rps", "p50", "p99")}
    r["non2xx"] = sum(x["non2xx"] for x in runs)
    r["errors"] = "; ".join(x["errors"] for x in runs if x["errors"])
    return r


def show(name, r):
    extra = ""
    if r["non2xx"]:
        extra += "  non-2xx %d" % r["non2xx"]
    if r["errors"]:
        extra += "  socket errors: %s" % r["errors"]
    print("  %-50s %9.0f req/s   p50 %8.3f ms   p99 %8.3f ms%s" % (name, r["rps"], r["p50"], r["p99"], extra),
          flush=True)


def ratio(name, x, target, ok):
    print("  %-50s %7.2f   target %-8s %s" % (name, x, target, "ok" if ok(x) else "MISSED"), flush=True)


def memory_of_children(st):
    """[(VmRSS, RssAnon, RssFile) MB] of the httpd children."""
    parent = st.httpd_pid(1)
    out = []
    for pid in st._httpd_procs(st.httpd_conf):
        if pid == parent:
            continue
        with open("/proc/%d/status" % pid) as f:
            text = f.read()
        vals = [int(re.search(r"%s:\s+(\d+) kB" % k, text).group(1)) / 1024.0 for k in ("VmRSS", "RssAnon", "RssFile")]
        out.append(tuple(vals))
    return out


def show_memory(st, label):
    mem = memory_of_children(st)
    print("  %-50s %s" % ("httpd children, " + label, ", ".join(
        "RSS %.0f MB (private %.1f, file pages %.0f)" % m for m in mem)), flush=True)
    return max(m[1] for m in mem)


def serial(prefix, n):
    return prefix + ("%x" % n).rjust(39, "0")


def insert(st, issuer_id, lo, hi, prefix="1"):
    """Certificates lo..hi: serial prefix + 39 hex digits (20 octets), every 10th revoked."""
    st.sql("INSERT INTO certificate (serial_hex, issuer_id, server_name, spki_sha256, cert_der, not_before, "
           "not_after, status, revoked_at, revocation_reason) SELECT CONCAT(%s, LOWER(LPAD(HEX(seq), 39, '0'))), %s, "
           "'bench.example.com', UNHEX(SHA2(CONCAT(%s, seq), 256)), UNHEX('00'), UTC_TIMESTAMP() - INTERVAL 1 DAY, "
           "UTC_TIMESTAMP() + INTERVAL 90 DAY, IF(seq %% 10 = 0, 'revoked', 'issued'), "
           "IF(seq %% 10 = 0, UTC_TIMESTAMP(), NULL), IF(seq %% 10 = 0, 1, NULL) "
           "FROM seq_{lo}_to_{hi}".format(lo=lo, hi=hi), (prefix, issuer_id, prefix))


def p11sign(st, threads, seconds):
    # the activated PIN through a pipe: no file holds it
    out = subprocess.run([os.environ["BENCH_P11SIGN"], st.p11module, "ecert", RESPONDER_KEY, "/dev/stdin",
                          str(threads), str(seconds)], input=st.token_pin + "\n", capture_output=True,
                         text=True, env=st.env(), timeout=seconds + 60)
    m = re.search(r"per_second ([\d.]+)", out.stdout)
    if not m:
        raise RuntimeError("p11sign: " + out.stdout + out.stderr)
    return float(m.group(1))


def queued(st):
    """Whether anything is still queued: an existence test, so that polling costs the
    database nothing against the queue being measured."""
    return st.sql("SELECT EXISTS (SELECT 1 FROM ocsp_pending)")[0][0]


def replica_entries(st):
    out = subprocess.run(["mdb_stat", "-s", "answers", u.replica_dir(st)], capture_output=True, text=True).stdout
    m = re.search(r"Entries: (\d+)", out)
    return int(m.group(1)) if m else 0


def queue_phase(st, lo, hi, label):
    """Queues certificates lo..hi at once; signatures/s of the drain against the bare loop
    measured just before and after (2 threads: one signer per child of the stack's 2)."""
    before = p11sign(st, 2, HALF)
    t0 = time.monotonic()
    # in slices: one statement's row locks must fit InnoDB's lock table
    for a in range(lo, hi + 1, 100000):
        st.sql("INSERT INTO ocsp_pending (issuer_id, serial_hex) SELECT issuer_id, serial_hex FROM certificate "
               "WHERE server_name = 'bench.example.com' AND serial_hex BETWEEN %s AND %s",
               (serial("1", a), serial("1", min(a + 99999, hi))))
    while queued(st):
        if time.monotonic() - t0 > 3600:
            raise RuntimeError("the queue did not drain in an hour")
        time.sleep(0.2)
    dt = time.monotonic() - t0
    after = p11sign(st, 2, HALF)
    sigs = 2 * (hi - lo + 1)
    bare = (before + after) / 2
    print("  %-50s %9.0f sig/s   (%d certificates in %.1f s)" % ("re-sign queue, " + label, sigs / dt,
                                                                  hi - lo + 1, dt), flush=True)
    print("  %-50s %9.0f sig/s   (%.0f before, %.0f after)" % ("bare C_Sign loop, 2 threads", bare, before, after),
          flush=True)
    return sigs / dt / bare


def wait_replica(st, want, timeout=1800):
    t0 = time.monotonic()
    while replica_entries(st) < want:
        if time.monotonic() - t0 > timeout:
            raise RuntimeError("the replica holds %d of %d answers" % (replica_entries(st), want))
        time.sleep(0.5)
    size = os.path.getsize(os.path.join(u.replica_dir(st), "data.mdb"))
    print("  %-50s %9d records, %.0f MB on disk (%.0f octets per certificate)" % (
        "replica", want, size / 1e6, size / (want / 2)), flush=True)


def export(st, stock, issuer, lo, hi, rundir, tag):
    """The SHA-1 CertID answers of lo..hi as stock files, and the three request lists in
    one random order: mod_ocsp GET paths, POST bodies (hex), stock GET paths."""
    rows = list(st.sql("SELECT r.serial_hex, HEX(r.response_der) FROM ocsp_response r JOIN certificate c ON "
                  "c.issuer_id = r.issuer_id AND c.serial_hex = r.serial_hex WHERE r.issuer_id = %s AND "
                  "r.hash_alg = 'sha1' AND c.server_name = 'bench.example.com' AND r.serial_hex BETWEEN %s AND %s",
                  (issuer.id, serial("1", lo), serial("1", hi))))
    random.Random(11).shuffle(rows)
    lists = {k: open(os.path.join(rundir, "%s-%s.txt" % (tag, k)), "w") for k in ("get", "post", "stock")}
    for s, der_hex in rows:
        sub = os.path.join(stock.htdocs, "r", s[-2:])
        os.makedirs(sub, exist_ok=True)
        with open(os.path.join(sub, s + ".der"), "wb") as f:
            f.write(bytes.fromhex(der_hex))
        req = u.request(u.certid(issuer, s))
        lists["get"].write("/ocsp/" + urllib.parse.quote(base64.b64encode(req).decode(), safe="") + "\n")
        lists["post"].write(req.hex() + "\n")
        lists["stock"].write("/r/%s/%s.der\n" % (s[-2:], s))
    for f in lists.values():
        f.close()
    return {k: os.path.join(rundir, "%s-%s.txt" % (tag, k)) for k in lists}, rows


def realistic(st, stock, lists, dists, label):
    results = {}
    for dist in dists:
        env = {"BENCH_DIST": dist}
        phases = {
            "m": (st.url("/"), dict(env, BENCH_METHOD="GET", BENCH_LIST=lists["get"]), "mod_ocsp GET"),
            "p": (st.url("/"), dict(env, BENCH_METHOD="POST", BENCH_LIST=lists["post"]), "mod_ocsp POST"),
            "s": (stock.url("/"), dict(env, BENCH_METHOD="GET", BENCH_LIST=lists["stock"]), "stock httpd GET, same bytes"),
        }
        for k in "mps":
            wrk(phases[k][0], lua=LUA, env=phases[k][1], seconds=2)     # warm-up: children, page cache
        runs = {k: [] for k in phases}
        for k in "mpsspm":
            runs[k].append(wrk(phases[k][0], lua=LUA, env=phases[k][1], seconds=HALF))
        for k in "mps":
            results[(dist, k)] = average(runs[k])
            show("%s, %s, %s" % (label, dist, phases[k][2]), results[(dist, k)])
    return results


def main():
    become_subreaper()
    rundir = tempfile.mkdtemp(prefix="ecert-bench-", dir="/tmp")
    port, dbport, oport, sport = free_ports(4)
    extra = "AddType application/ocsp-response .ocsp\nOCSPFreshSignRate 100000\n"
    st = Stack(rundir, port, dbport, SRC, extra_conf=extra, quiet=True)
    stock = StockHttpd(rundir, sport, "AddType application/ocsp-response .der")
    os.makedirs(os.path.join(stock.htdocs, "r"))
    ok = False
    targets = []
    try:
        t_start = time.monotonic()
        say("load average at start: %s" % open("/proc/loadavg").read().split()[:3])
        say("starting a private stack in %s" % rundir)
        st.start(summary=False)
        iss = u.issuers(st)["ssl"]
        subca = iss.pem
        t0 = time.monotonic()
        insert(st, iss.id, 1, N)
        say("{:,} certificates inserted in %.1fs\n".format(N) % (time.monotonic() - t0))

        print("queue (2 cores shared by MariaDB, httpd and SoftHSM)", flush=True)
        q = queue_phase(st, 1, N, "{:,} certificates".format(N))
        targets.append(("queue / bare C_Sign", q, ">= 0.8", lambda v: v >= 0.8))
        wait_replica(st, 2 * N)

        lists, rows = export(st, stock, iss, 1, N, rundir, "n")
        stock.start()
        for s, der_hex in rows[:3]:
            with urllib.request.urlopen(stock.url("/r/%s/%s.der" % (s[-2:], s)), timeout=10) as r:
                assert r.read().hex().upper() == der_hex.upper()
            assert u.post(st, u.request(u.certid(iss, s))).body.hex().upper() == der_hex.upper()
        say("%d answers exported; mod_ocsp and the stock httpd serve the same bytes" % len(rows))

        print("\nrealistic: {:,} certificates, %d s per phase, 64 connections".format(N) % SEC, flush=True)
        res = realistic(st, stock, lists, ("uniform", "zipf"), "{:,}".format(N))
        for dist in ("uniform", "zipf"):
            m, p, s = res[(dist, "m")], res[(dist, "p")], res[(dist, "s")]
            targets.append(("%s GET / stock" % dist, m["rps"] / s["rps"], ">= 0.95", lambda v: v >= 0.95))
            targets.append(("%s POST / stock" % dist, p["rps"] / s["rps"], ">= 0.95", lambda v: v >= 0.95))
            targets.append(("%s p99 GET / stock" % dist, m["p99"] / s["p99"], "<= 1.5", lambda v: v <= 1.5))
            targets.append(("%s p99 POST / stock" % dist, p["p99"] / s["p99"], "<= 1.5", lambda v: v <= 1.5))

        # one serial over and over, against the stock httpd's one file
        target = serial("1", N // 2 + 1)
        req = u.request(u.certid(iss, target))
        get_path = "/ocsp/" + urllib.parse.quote(base64.b64encode(req).decode(), safe="")
        req_file = os.path.join(rundir, "req.der")
        with open(req_file, "wb") as f:
            f.write(req)
        post_lua = os.path.join(rundir, "post.lua")
        with open(post_lua, "w") as f:
            f.write('local f = io.open("%s", "rb")\nwrk.method = "POST"\nwrk.body = f:read("*a")\nf:close()\n'
                    'wrk.headers["Content-Type"] = "application/ocsp-request"\n' % req_file)
        one = stock.url("/r/%s/%s.der" % (target[-2:], target))
        print("\nsingle serial, %d s per phase" % SEC, flush=True)
        phases = {"a": (st.url(get_path), None, "(a) mod_ocsp GET"), "b": (st.url("/ocsp"), post_lua, "(b) mod_ocsp POST"),
                  "c": (one, None, "(c) stock httpd, the same answer's file")}
        single = {}
        for conns in (64, 1):
            for k in "abc":
                wrk(phases[k][0], conns, phases[k][1], seconds=2)
            runs = {k: [] for k in phases}
            for k in "abccba":
                runs[k].append(wrk(phases[k][0], conns, phases[k][1], seconds=HALF))
            for k in "abc":
                single[(k, conns)] = average(runs[k])
                show("%s, %d conn" % (phases[k][2], conns), single[(k, conns)])
        targets.append(("single (a) GET / (c) stock", single[("a", 64)]["rps"] / single[("c", 64)]["rps"], ">= 0.95",
                        lambda v: v >= 0.95))
        targets.append(("single (b) POST / (c) stock", single[("b", 64)]["rps"] / single[("c", 64)]["rps"], ">= 0.95",
                        lambda v: v >= 0.95))
        targets.append(("[single (a) / (c), 1 conn]", single[("a", 1)]["rps"] / single[("c", 1)]["rps"], ">= 0.95",
                        lambda v: v >= 0.95))

        d64 = openssl_ocsp(st, rundir, oport, subca, req_file, target)
        targets.append(("single (a) GET / (d) openssl ocsp", single[("a", 64)]["rps"] / d64["rps"], ">= 10",
                        lambda v: v >= 10))
        e = nonce_path(st, rundir, subca, target)
        targets.append(("(e) nonce path / bare C_Sign", e, ">= 0.9", lambda v: v >= 0.9))

        worst = show_memory(st, "{:,} certificates".format(N))

        print("\nmass revocation: {:,} certificates revoked by one statement".format(N), flush=True)
        sample = random.Random(5).sample(range(1, N + 1), 200)
        t0 = time.monotonic()
        st.sql("UPDATE certificate SET status = 'revoked', revoked_at = UTC_TIMESTAMP(), revocation_reason = 1, "
               "status_changed = NOW(6) WHERE server_name = 'bench.example.com'")
        st.sql("INSERT INTO ocsp_pending (issuer_id, serial_hex) SELECT issuer_id, serial_hex FROM certificate "
               "WHERE server_name = 'bench.example.com' ON DUPLICATE KEY UPDATE queued_at = NOW(6)")
        t_sql = time.monotonic() - t0
        pending = set(sample)
        while pending and time.monotonic() - t0 < 600:
            pending = {n for n in pending if u.cert_status(st, iss, serial("1", n)) != "REVOKED"}
        t_answered = time.monotonic() - t0
        while queued(st) and time.monotonic() - t0 < 3600:
            time.sleep(0.5)
        t_signed = time.monotonic() - t0
        print("  %-50s %9.1f s   (the statements took %.1f s; %d of 200 still not revoked)" % (
            "a random 200 of them all answered revoked", t_answered, t_sql, len(pending)), flush=True)
        print("  %-50s %9.1f s   (%.0f sig/s)" % ("all {:,} answers re-signed".format(2 * N), t_signed,
                                                   2 * N / max(t_signed, 0.001)), flush=True)

        if MILLION:
            print("\n{:,} certificates".format(M), flush=True)
            t0 = time.monotonic()
            for lo in range(N + 1, M + 1, 150000):
                insert(st, iss.id, lo, min(lo + 149999, M))
            say("{:,} more certificates inserted in %.1fs".format(M - N) % (time.monotonic() - t0))
            queue_phase(st, N + 1, M, "{:,} more certificates".format(M - N))
            wait_replica(st, 2 * M)
            lists1m, rows = export(st, stock, iss, N + 1, M, rundir, "m")
            # the 100,000 revoked above are served too: both lists, one file each
            for k in lists1m:
                with open(lists1m[k], "a") as out, open(lists[k]) as old:
                    shutil.copyfileobj(old, out)
            say("%d more answers exported" % len(rows))
            res1m = realistic(st, stock, lists1m, ("uniform",), "{:,}".format(M))
            m, s = res1m[("uniform", "m")], res1m[("uniform", "s")]
            targets.append(("1M uniform GET / stock", m["rps"] / s["rps"], ">= 0.95", lambda v: v >= 0.95))
            targets.append(("1M uniform p99 GET / stock", m["p99"] / s["p99"], "<= 1.5", lambda v: v <= 1.5))
            worst = max(worst, show_memory(st, "{:,} certificates".format(M)))

        targets.append(("largest child private memory (MB)", worst, "< 64", lambda v: v < 64))
        print("\nratios", flush=True)
        for name, v, tgt, fn in targets:
            ratio(name, v, tgt, fn)
        say("done in %.0fs; load average at end: %s" % (time.monotonic() - t_start,
                                                          open("/proc/loadavg").read().split()[:3]))
        ok = True
    finally:
        stock.stop()
        st.stop()
        st.expect_log(r"AH10159: server is within MinSpareThreads")
        st.expect_log(r"AH03490: scoreboard is full, not at MaxRequestWorkers")
        problems = st.error_log_problems()
        if problems:
            print("bench: httpd error.log problems (run dir kept: %s):\n%s" % (rundir, "\n".join(problems[:20])))
        elif not ok:
            print("bench: failed (run dir kept: %s)" % rundir)
        else:
            shutil.rmtree(rundir, ignore_errors=True)


def openssl_ocsp(st, rundir, oport, subca, req_file, target):
    """(d) openssl ocsp with the same N certificates and a software responder key, in a
    network namespace of its own (it cannot bind to 127.0.0.1 only), loaded with ab."""
    od = os.path.join(rundir, "openssl-ocsp")
    os.makedirs(od)
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=bench responder",
                    "-keyout", od + "/key.pem", "-out", od + "/cert.pem", "-days", "30"], check=True, capture_output=True)
    exp = time.strftime("%y%m%d%H%M%SZ", time.gmtime(time.time() + 90 * 86400))
    rev = time.strftime("%y%m%d%H%M%SZ", time.gmtime())
    with open(od + "/index.txt.attr", "w") as f:
        f.write("unique_subject = no\n")
    with open(od + "/index.txt", "w") as f:
        for n in range(1, N + 1):
            s = serial("1", n).upper()
            f.write("R\t%s\t%s,keyCompromise\t%s\tunknown\t/CN=bench\n" % (exp, rev, s) if n % 10 == 0
                    else "V\t%s\t\t%s\tunknown\t/CN=bench\n" % (exp, s))
    script = """set -e
ip link set lo up
openssl ocsp -index {od}/index.txt -port {port} -rsigner {od}/cert.pem -rkey {od}/key.pem -CA {ca} \\
    -multi 2 -nmin 60 -ignore_err >/dev/null 2>{od}/log &
pid=$!
trap 'kill -KILL $pid $(ps -o pid= --ppid $pid) 2>/dev/null || true' EXIT
for i in $(seq 100); do (echo >/dev/tcp/127.0.0.1/{port}) 2>/dev/null && break; sleep 0.1; done
openssl ocsp -issuer {ca} -serial 0x{serial} -url http://127.0.0.1:{port}/ -VAfile {od}/cert.pem >{od}/check 2>&1
ab -q -t {sec} -n 100000000 -c 64 -p {req} -T application/ocsp-request http://127.0.0.1:{port}/ >{od}/ab64 2>&1
""".format(od=od, port=oport, ca=subca, req=req_file, sec=SEC, serial=target)
    subprocess.run(["unshare", "-n", "bash", "-c", script], check=True, timeout=SEC + 120)
    assert ": good" in open(od + "/check").read()
    out = open(od + "/ab64").read()
    pct = dict(re.findall(r"^\s+(\d+)%\s+(\d+)", out, re.M))
    r = {"rps": float(re.search(r"Requests per second:\s+([\d.]+)", out).group(1)), "p50": float(pct.get("50", "nan")),
         "p99": float(pct.get("99", "nan")), "non2xx": 0, "errors": ""}
    show("(d) openssl ocsp -index -multi 2 (ab), 64 conn", r)
    return r


def nonce_path(st, rundir, subca, target):
    """(e) fresh signing: every request with a nonce costs one C_Sign; interleaved with the
    bare loop. One session per child keeps the signers near the core count."""
    st.start_httpd2(extra_conf="OCSPNonce on\nOCSPFreshSignRate 100000\nOCSPSessions 1\n")
    nonce_req = os.path.join(rundir, "req-nonce.der")
    subprocess.run(["openssl", "ocsp", "-issuer", subca, "-serial", "0x" + target, "-reqout", nonce_req],
                   check=True, capture_output=True)
    nonce_lua = os.path.join(rundir, "post-nonce.lua")
    with open(nonce_lua, "w") as f:
        f.write('local f = io.open("%s", "rb")\nwrk.method = "POST"\nwrk.body = f:read("*a")\nf:close()\n'
                'wrk.headers["Content-Type"] = "application/ocsp-request"\n' % nonce_req)
    bare, nonce = [], []
    for step in ("b", "e", "e", "b"):
        if step == "e":
            nonce.append(wrk(st.url("/ocsp", 2), 64, nonce_lua, seconds=HALF))
        else:
            bare.append(p11sign(st, 2, HALF))
    st.stop_httpd2()
    r = average(nonce)
    show("(e) nonce path (C_Sign per request), 64 conn", r)
    b = sum(bare) / len(bare)
    print("  %-50s %9.0f sig/s" % ("bare C_Sign loop, 2 threads", b), flush=True)
    return r["rps"] / b


if __name__ == "__main__":
    main()
