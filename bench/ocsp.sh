#!/usr/bin/env bash
# OCSP responder benchmark (issue 3, R-13). Not a test: prints figures and ratios.
#
# One private stack on 127.0.0.1 (MariaDB, SoftHSM token, httpd with mod_ocsp) under a
# temporary directory, 100,000 certificates in the store, then wrk load phases of
# BENCH_SEC seconds (default 10), 64 connections and 1 connection:
#   (a) mod_ocsp GET          (b) mod_ocsp POST
#   (c) the same httpd serving the identical response DER as a static file (the ceiling)
#   (d) openssl ocsp -index (100,000 lines) -multi 2, POST, software responder key, loaded
#       with ab (it serves one request per connection), in a network namespace of its own
#       (it cannot bind to 127.0.0.1 only)
#   (e) the nonce path (OCSPNonce on: one C_Sign per request) on a second httpd, against
#       bench/p11sign.c, a bare PKCS#11 C_Sign loop on the same token and key
# (a)-(c) run twice in the order a b c c b a, half the time each, after a short warm-up,
# and are averaged, so a drifting background load falls on all three alike; (e) likewise
# between runs of the bare loop. Then the RSS of the httpd children, with 100,000 and (BENCH_MILLION=0 skips it)
# 1,000,000 certificates in the store.
# Targets: a/c and b/c >= 0.95, p99(a) <= 1.2 x p99(c), a/d >= 10, e >= 0.9 x bare,
# RSS per child < 64 MB.
#   make bench            (or: bash bench/ocsp.sh; BENCH_SEC=5 for a quicker run)
set -euo pipefail

SRC="$(cd "$(dirname "$0")/.." && pwd)"
export BENCH_SRC="$SRC"
export BENCH_SEC="${BENCH_SEC:-10}"
export BENCH_MILLION="${BENCH_MILLION:-1}"
for tool in wrk ab openssl gcc unshare; do
    command -v "$tool" >/dev/null || { echo "bench: $tool is missing (make deps)" >&2; exit 1; }
done
[ -x "$SRC/build/ecertctl" ] && [ -f "$SRC/build/mod_ocsp.so" ] || { echo "bench: run make first" >&2; exit 1; }
mkdir -p "$SRC/build/bench"
gcc -O2 -Wall -Wextra -Werror $(pkg-config --cflags p11-kit-1) -o "$SRC/build/bench/p11sign" \
    "$SRC/bench/p11sign.c" -ldl -lpthread
export BENCH_P11SIGN="$SRC/build/bench/p11sign"

exec /usr/bin/python3 - <<'PYTHON'
import base64, os, re, shutil, subprocess, sys, tempfile, time, urllib.parse, urllib.request

SRC = os.environ["BENCH_SRC"]
SEC = int(os.environ["BENCH_SEC"])
sys.path.insert(0, os.path.join(SRC, "scripts"))
from stack import Stack, free_ports, become_subreaper  # noqa: E402

become_subreaper()
rundir = tempfile.mkdtemp(prefix="ecert-bench-", dir="/tmp")
port, dbport, oport = free_ports(3)   # oport: inside the namespace of (d)
extra = ("AddType application/ocsp-response .ocsp\nOCSPFreshSignRate 100000\n"
         # room for the 2,000 distinct answers of the 1,000,000 phase (ServerRoot-relative:
         # one file per httpd instance)
         "")
st = Stack(rundir, port, dbport, SRC, extra_conf=extra, quiet=True)
results = {}
ok = False


def say(msg):
    print("bench: " + msg, flush=True)


def wrk(url, conns, lua=None, env=None, seconds=None):
    threads = 1 if conns == 1 else 2
    seconds = seconds or SEC
    cmd = ["wrk", "-t%d" % threads, "-c%d" % conns, "-d%ds" % seconds, "--latency", "--timeout", "10s"]
    if lua:
        cmd += ["-s", lua]
    out = subprocess.run(cmd + [url], capture_output=True, text=True, timeout=seconds + 60,
                         env=dict(os.environ, **(env or {}))).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    lat = {}
    for pct in ("50", "99"):
        m = re.search(r"^\s+%s(?:\.000)?%%\s+([\d.]+)(us|ms|s)\s*$" % pct, out, re.M)
        lat[pct] = float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)] if m else float("nan")
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errs = re.search(r"Socket errors: (.*)", out)
    return {"rps": rps, "p50": lat["50"], "p99": lat["99"], "non2xx": int(bad.group(1)) if bad else 0,
            "errors": errs.group(1) if errs else ""}


def show(name, r):
    extra = ""
    if r["non2xx"]:
        extra += "  non-2xx %d" % r["non2xx"]
    if r["errors"]:
        extra += "  socket errors: %s" % r["errors"]
    print("  %-44s %10.0f req/s   p50 %8.3f ms   p99 %8.3f ms%s" % (name, r["rps"], r["p50"], r["p99"], extra),
          flush=True)


def rss_children(instance=1):
    conf = st.httpd_conf if instance == 1 else st.httpd2_conf
    parent = st.httpd_pid(instance)
    out = []
    for pid in st._httpd_procs(conf):
        if pid == parent:
            continue
        with open("/proc/%d/status" % pid) as f:
            m = re.search(r"VmRSS:\s+(\d+) kB", f.read())
        out.append(int(m.group(1)) / 1024.0)
    return out


def post(url, body, ctype="application/ocsp-request"):
    req = urllib.request.Request(url, data=body, headers={"Content-Type": ctype})
    with urllib.request.urlopen(req, timeout=30) as r:
        return r.read()


def lua_post(path, body_file):
    with open(path, "w") as f:
        f.write('local f = io.open("%s", "rb")\nwrk.method = "POST"\nwrk.body = f:read("*a")\nf:close()\n'
                'wrk.headers["Content-Type"] = "application/ocsp-request"\n' % body_file)
    return path


try:
    t_start = time.monotonic()
    # the figures are only as good as the machine is quiet: say how busy it was
    say("load average at start: %s" % open("/proc/loadavg").read().split()[:3])
    say("starting a private stack in %s" % rundir)
    st.start(summary=False)
    ssl_id = st.sql("SELECT id FROM ca WHERE role = 'ssl'")[0][0]
    subca = os.path.join(st.pubdir, "root", "ecert_ssl_ca_3-17.pem.crt")

    def insert(lo, hi):
        # serials: '1' + 39 hex digits (20 octets); every 10th revoked; not queued (not pre-signed)
        st.sql("INSERT INTO certificate (serial_hex, issuer_id, server_name, spki_sha256, cert_der, not_before, "
               "not_after, status, revoked_at, revocation_reason) SELECT CONCAT('1', LPAD(HEX(seq), 39, '0')), %s, "
               "'bench.example.com', UNHEX(SHA2(seq, 256)), UNHEX('00'), UTC_TIMESTAMP() - INTERVAL 1 DAY, "
               "UTC_TIMESTAMP() + INTERVAL 90 DAY, IF(seq %% 10 = 0, 'revoked', 'issued'), "
               "IF(seq %% 10 = 0, UTC_TIMESTAMP(), NULL), IF(seq %% 10 = 0, 1, NULL) "
               "FROM seq_%d_to_%d" % (ssl_id, lo, hi))
    t0 = time.monotonic()
    insert(1, 100000)
    say("100,000 certificates inserted in %.1fs" % (time.monotonic() - t0))

    def serial(n):
        return "1" + ("%x" % n).rjust(39, "0")
    target = serial(50001)
    req = os.path.join(rundir, "req.der")
    subprocess.run(["openssl", "ocsp", "-issuer", subca, "-serial", "0x" + target, "-no_nonce", "-reqout", req],
                   check=True, capture_output=True)
    body = open(req, "rb").read()
    get_path = "/ocsp/" + urllib.parse.quote(base64.b64encode(body).decode(), safe="")
    resp = post(st.url("/ocsp"), body)          # signed on demand, stored, cached
    assert urllib.request.urlopen(st.url(get_path), timeout=30).read() == resp
    static = os.path.join(st.pubdir, "root", "bench.ocsp")
    with open(static, "wb") as f:
        f.write(resp)
    st.fix_permissions()
    with urllib.request.urlopen(st.url("/root/bench.ocsp"), timeout=30) as r:
        assert r.read() == resp and r.headers["Content-Type"] == "application/ocsp-response"
    say("response %d octets; GET, POST and the static file serve the same bytes" % len(resp))
    post_lua = lua_post(os.path.join(rundir, "post.lua"), req)

    print("\n%d s per phase, wrk on 127.0.0.1 (2 cores shared with httpd)" % SEC, flush=True)
    half = max(3, SEC // 2)
    phases = {"a": (st.url(get_path), None, "(a) mod_ocsp GET"), "b": (st.url("/ocsp"), post_lua, "(b) mod_ocsp POST"),
              "c": (st.url("/root/bench.ocsp"), None, "(c) static file, same DER")}
    for conns in (64, 1):
        runs = {k: [] for k in phases}
        # warm-up, not counted: after a change of load httpd starts or stops children
        for k in "abc":
            wrk(phases[k][0], conns, phases[k][1], seconds=2)
        for k in "abccba":
            url, lua, _ = phases[k]
            runs[k].append(wrk(url, conns, lua, seconds=half))
        for k in "abc":
            r = {f: sum(x[f] for x in runs[k]) / len(runs[k]) for f in ("rps", "p50", "p99")}
            r["non2xx"] = sum(x["non2xx"] for x in runs[k])
            r["errors"] = "; ".join(x["errors"] for x in runs[k] if x["errors"])
            results["%s%d" % (k, conns)] = r
            show("%s, %d conn" % (phases[k][2], conns), r)

    # (d) openssl ocsp with the same 100,000 certificates and a software responder key
    od = os.path.join(rundir, "openssl-ocsp")
    os.makedirs(od)
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=bench responder",
                    "-keyout", od + "/key.pem", "-out", od + "/cert.pem", "-days", "30"],
                   check=True, capture_output=True)
    exp = time.strftime("%y%m%d%H%M%SZ", time.gmtime(time.time() + 90 * 86400))
    rev = time.strftime("%y%m%d%H%M%SZ", time.gmtime())
    with open(od + "/index.txt.attr", "w") as f:
        f.write("unique_subject = no\n")
    with open(od + "/index.txt", "w") as f:
        for n in range(1, 100001):
            s = serial(n).upper()
            f.write("R\t%s\t%s,keyCompromise\t%s\tunknown\t/CN=bench\n" % (exp, rev, s) if n % 10 == 0
                    else "V\t%s\t\t%s\tunknown\t/CN=bench\n" % (exp, s))
    script = """set -e
ip link set lo up
openssl ocsp -index {od}/index.txt -port {port} -rsigner {od}/cert.pem -rkey {od}/key.pem -CA {ca} \\
    -multi 2 -nmin 60 -ignore_err >/dev/null 2>{od}/log &
pid=$!
# -multi children outlive a SIGTERM to their parent: take them down by pid
trap 'kill -KILL $pid $(ps -o pid= --ppid $pid) 2>/dev/null || true' EXIT
for i in $(seq 100); do (echo >/dev/tcp/127.0.0.1/{port}) 2>/dev/null && break; sleep 0.1; done
openssl ocsp -issuer {ca} -serial 0x{serial} -url http://127.0.0.1:{port}/ -VAfile {od}/cert.pem >{od}/check 2>&1
for c in 64 1; do
    ab -q -t {sec} -n 100000000 -c $c -p {req} -T application/ocsp-request http://127.0.0.1:{port}/ >{od}/ab$c 2>&1
done
""".format(od=od, port=oport, ca=subca, req=req, sec=SEC, serial=target)
    subprocess.run(["unshare", "-n", "bash", "-c", script], check=True, timeout=2 * SEC + 120)
    check = open(od + "/check").read()
    assert ": good" in check, check
    for conns in (64, 1):
        out = open("%s/ab%d" % (od, conns)).read()
        pct = dict(re.findall(r"^\s+(\d+)%\s+(\d+)", out, re.M))
        failed = re.search(r"Failed requests:\s+(\d+)", out)
        results["d%d" % conns] = {"rps": float(re.search(r"Requests per second:\s+([\d.]+)", out).group(1)),
                                  "p50": float(pct.get("50", "nan")), "p99": float(pct.get("99", "nan")),
                                  "non2xx": int(failed.group(1)) if failed else 0, "errors": ""}
        show("(d) openssl ocsp -index -multi 2 (ab), %d conn" % conns, results["d%d" % conns])

    # (e) fresh signing: every request with a nonce costs one C_Sign
    # SoftHSM signs on the CPU: one session per child keeps the signers near the core count
    st.start_httpd2(extra_conf="OCSPNonce on\nOCSPFreshSignRate 100000\nOCSPSessions 1\n")
    nonce_req = os.path.join(rundir, "req-nonce.der")
    subprocess.run(["openssl", "ocsp", "-issuer", subca, "-serial", "0x" + target, "-reqout", nonce_req],
                   check=True, capture_output=True)
    r = subprocess.run(["openssl", "ocsp", "-reqin", nonce_req, "-url", st.url("/ocsp", 2), "-issuer", subca,
                        "-noverify", "-resp_text"], capture_output=True, text=True)
    assert "OCSP Nonce" in r.stdout, r.stdout + r.stderr
    nonce_lua = lua_post(os.path.join(rundir, "post-nonce.lua"), nonce_req)
    key = "Hongkong Post e-Cert SSL CA 3 - 17 OCSP Responder"

    def p11sign(threads):
        out = subprocess.run([os.environ["BENCH_P11SIGN"], st.p11module, "ecert", key, st.pin_file, str(threads),
                              str(half)], capture_output=True, text=True, env=st.env(), timeout=half + 60)
        m = re.search(r"per_second ([\d.]+)", out.stdout)
        if not m:
            raise RuntimeError("p11sign: " + out.stdout + out.stderr)
        return float(m.group(1))
    # interleaved like (a)-(c): bare 2 and 4 threads, nonce path twice, bare 4 and 2 threads
    bare = {2: [], 4: []}
    nonce = []
    for step in ("b2", "b4", "e", "e", "b4", "b2"):
        if step == "e":
            nonce.append(wrk(st.url("/ocsp", 2), 64, nonce_lua, seconds=half))
        else:
            bare[int(step[1])].append(p11sign(int(step[1])))
    results["e64"] = {f: sum(x[f] for x in nonce) / len(nonce) for f in ("rps", "p50", "p99")}
    results["e64"]["non2xx"] = sum(x["non2xx"] for x in nonce)
    results["e64"]["errors"] = "; ".join(x["errors"] for x in nonce if x["errors"])
    show("(e) nonce path (C_Sign per request), 64 conn", results["e64"])
    for threads in (2, 4):
        rate = sum(bare[threads]) / len(bare[threads])
        print("  %-44s %10.0f sig/s" % ("bare C_Sign loop, %d threads" % threads, rate), flush=True)
    results["bare"] = max(sum(v) / len(v) for v in bare.values())
    st.stop_httpd2()

    rss100k = rss_children()
    print("  %-44s %s" % ("RSS per httpd child, 100,000 certificates",
                          ", ".join("%.1f MB" % r for r in rss100k)), flush=True)

    if os.environ.get("BENCH_MILLION") == "1":
        t0 = time.monotonic()
        for lo in range(100001, 1000001, 150000):
            insert(lo, min(lo + 149999, 1000000))
        say("1,000,000 certificates in the store (%.1fs)" % (time.monotonic() - t0))
        # 2,000 distinct certificates, each answered (signed on demand, stored, cached)
        bodies = os.path.join(rundir, "many")
        os.makedirs(bodies)
        serials = [serial(n) for n in range(1, 1000001, 500)]
        lua = os.path.join(rundir, "many.lua")
        with open(lua, "w") as f:
            f.write("local bodies = {}\n")
            f.write("wrk.method = \"POST\"\nwrk.headers[\"Content-Type\"] = \"application/ocsp-request\"\n")
            f.write("local i = 0\nrequest = function()\n  i = i %% %d + 1\n"
                    "  return wrk.format(nil, nil, nil, bodies[i])\nend\n" % len(serials))
            f.write("local f = io.open(\"%s/all.txt\", \"r\")\nfor line in f:lines() do\n"
                    "  bodies[#bodies + 1] = (line:gsub(\"%%x%%x\", function(h) return string.char(tonumber(h, 16)) end))\n"
                    "end\nf:close()\n" % bodies)
        sys.path.insert(0, os.path.join(SRC, "tests"))
        import ocsp_util as u
        iss = u.issuers(st)["ssl"]
        with open(os.path.join(bodies, "all.txt"), "w") as f:
            for s in serials:
                f.write(u.request(u.certid(iss, s)).hex() + "\n")
        results["m64"] = wrk(st.url("/ocsp"), 64, lua)
        show("2,000 distinct certificates of 1,000,000, 64 conn", results["m64"])
        results["m64b"] = wrk(st.url("/ocsp"), 64, lua)
        show("  again (all cached)", results["m64b"])
        rss1m = rss_children()
        print("  %-44s %s" % ("RSS per httpd child, 1,000,000 certificates",
                              ", ".join("%.1f MB" % r for r in rss1m)), flush=True)
    else:
        rss1m = []

    a, b, c, d = results["a64"], results["b64"], results["c64"], results["d64"]
    print("\nratios (64 connections; 1 connection in brackets)", flush=True)

    def ratio(name, x, y, target, ok):
        print("  %-34s %7.2f   target %s  %s" % (name, x / y, target, "ok" if ok(x / y) else "MISSED"), flush=True)
    ratio("(a) GET / (c) static", a["rps"], c["rps"], ">= 0.95", lambda v: v >= 0.95)
    ratio("(b) POST / (c) static", b["rps"], c["rps"], ">= 0.95", lambda v: v >= 0.95)
    ratio("p99 (a) / p99 (c)", a["p99"], c["p99"], "<= 1.2", lambda v: v <= 1.2)
    ratio("(a) GET / (d) openssl ocsp", a["rps"], d["rps"], ">= 10", lambda v: v >= 10)
    ratio("(e) nonce path / bare C_Sign", results["e64"]["rps"], results["bare"], ">= 0.9", lambda v: v >= 0.9)
    ratio("[(a) / (c), 1 conn]", results["a1"]["rps"], results["c1"]["rps"], ">= 0.95", lambda v: v >= 0.95)
    ratio("[(b) / (c), 1 conn]", results["b1"]["rps"], results["c1"]["rps"], ">= 0.95", lambda v: v >= 0.95)
    ratio("[p99 (a) / p99 (c), 1 conn]", results["a1"]["p99"], results["c1"]["p99"], "<= 1.2", lambda v: v <= 1.2)
    worst = max(rss100k + rss1m)
    print("  %-34s %7.1f   target < 64 MB  %s" % ("largest child RSS (MB)", worst, "ok" if worst < 64 else "MISSED"))
    say("done in %.0fs; load average at end: %s" % (time.monotonic() - t_start,
                                                      open("/proc/loadavg").read().split()[:3]))
    ok = True
finally:
    st.stop()
    # a loaded httpd (64 connections against 100 workers) says so; that is not a fault
    st.expect_log(r"AH10159: server is within MinSpareThreads")
    st.expect_log(r"AH03490: scoreboard is full, not at MaxRequestWorkers")
    problems = st.error_log_problems()
    if problems:
        print("bench: httpd error.log problems (run dir kept: %s):\n%s" % (rundir, "\n".join(problems[:20])))
    elif not ok:
        print("bench: failed (run dir kept: %s)" % rundir)
    else:
        shutil.rmtree(rundir, ignore_errors=True)
PYTHON
