#!/usr/bin/python3
"""bench/pages.sh driver: p50/p99 and requests/s of each subscriber page type with 16
concurrent clients (wrk), side by side with a stock httpd serving the same rendered HTML as
static files; the login POST (scrypt on purpose) measured apart, sequential and 16 at once."""

import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time

SRC = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(SRC, "scripts"))
sys.path.insert(0, os.path.join(SRC, "tests"))
sys.path.insert(0, os.path.join(SRC, "bench"))

import stack as stackmod  # noqa: E402
from ecert_util import Subscriber, make_csr, rsa_key, new_application  # noqa: E402
from stock_httpd import StockHttpd  # noqa: E402

DEADLINE = time.monotonic() + 1200          # every loop below stops by itself
SEC = int(os.environ.get("BENCH_SEC") or 5)  # seconds of each wrk run
ROUNDS = int(os.environ.get("BENCH_ROUNDS") or 3)   # ours, stock, ours, stock ... per page
CONNS = 16
LOGINS_SEQ = 10
LOGINS_PER_CLIENT = 2


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100.0 * (len(xs) - 1))))]


def median(xs):
    return pct(xs, 50)


def seconds(text):
    m = re.match(r"([\d.]+)(us|ms|s|m)$", text)
    return float(m.group(1)) * {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}[m.group(2)]


def wrk(url, cookie=None):
    """(p50 s, p99 s, requests/s) of one bounded wrk run; fails on any non-2xx answer."""
    cmd = ["wrk", "-t2", "-c%d" % CONNS, "-d%ds" % SEC, "--timeout", "10s", "--latency"]
    if cookie:
        cmd += ["-H", "Cookie: " + cookie]
    r = subprocess.run(cmd + [url], capture_output=True, text=True, timeout=SEC + 60)
    out = r.stdout
    if r.returncode != 0 or "Non-2xx" in out or "Socket errors" in out:
        raise SystemExit("bench: wrk %s:\n%s%s" % (url, out, r.stderr))
    p50 = seconds(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))
    p99 = seconds(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))
    rps = float(re.search(r"^Requests/sec:\s+([\d.]+)", out, re.M).group(1))
    return p50, p99, rps


def walk(st, n_search):
    """One application at each step of the flow; returns [(page type, path, cookie, file)]."""
    key = rsa_key()
    apps = {k: new_application(st, "pages-%s.example.com" % k) for k in ("confirm", "csr", "cert", "download")}
    subs = {}
    for k, env in apps.items():
        sub = subs[k] = Subscriber(st)
        r = sub.login(env)
        assert r.url.endswith("/confirm"), (k, r.url)
        if k == "confirm":
            continue
        r = sub.confirm()
        assert r.url.endswith("/csr"), (k, r.url)
        if k == "csr":
            continue
        r = sub.submit_csr(make_csr(key, env["server_name"]))
        assert r.url.endswith("/certificate"), (k, r.url)
        if k == "download":
            r = sub.accept()
            assert "/download" in r.url, (k, r.url)
    for i in range(n_search):                  # certificates of one name for the search to list
        env = new_application(st, "pages-search.example.com")
        sub = Subscriber(st)
        sub.login(env)
        sub.confirm()
        assert sub.submit_csr(make_csr(key, env["server_name"])).url.endswith("/certificate")
        sub.accept()

    def sid(k):
        return "ecert_sid=" + subs[k].cookie()
    return [
        ("login (GET)", "/ecert/login", None, "login.html"),
        ("search, %d results" % n_search, "/ecert/search?q=pages-search.example.com", None, "search.html"),
        ("confirm", "/ecert/confirm", sid("confirm"), "confirm.html"),
        ("csr", "/ecert/csr", sid("csr"), "csr.html"),
        ("certificate", "/ecert/certificate", sid("cert"), "certificate.html"),
        ("download", "/ecert/download", sid("download"), "download.html"),
        ("asset ecert.css", "/ecert/assets/ecert.css", None, "ecert.css"),
    ]


def snapshot(st, pages, stock):
    """Each page's rendered answer, once, as the stock server's static file."""
    import requests
    for name, path, cookie, fname in pages:
        r = requests.get(st.url(path), headers={"Cookie": cookie} if cookie else {},
                         allow_redirects=False, timeout=30)
        want = "text/css" if fname.endswith(".css") else "text/html"
        if r.status_code != 200 or not r.headers.get("Content-Type", "").startswith(want):
            raise SystemExit("bench: %s answered %d %s" % (path, r.status_code, r.headers.get("Content-Type")))
        if fname.endswith(".html") and "</html>" not in r.text:
            raise SystemExit("bench: %s is not a whole page" % path)
        if fname == "search.html" and "pages-search.example.com" not in r.text.split("<form", 2)[-1]:
            raise SystemExit("bench: the search lists no certificate")
        with open(os.path.join(stock.htdocs, fname), "wb") as f:
            f.write(r.content)


def logins(st, n_clients):
    """Login POST latencies (login GET for the form not timed): sequential, then n_clients at once."""
    def one(env):
        sub = Subscriber(st)
        sub.get("/login")
        t0 = time.perf_counter()
        r = sub.post("/login", {"server_name": env["server_name"], "reference": env["reference"],
                                "pin": env["pin"]}, allow_redirects=False)
        dt = time.perf_counter() - t0
        if r.status_code != 303 or not r.headers.get("Location", "").endswith("/confirm"):
            raise RuntimeError("login answered %d %s" % (r.status_code, r.headers.get("Location")))
        return dt

    env = new_application(st, "pages-login.example.com")
    seq = [one(env) for _ in range(LOGINS_SEQ)]
    envs = [new_application(st, "pages-login%d.example.com" % i) for i in range(n_clients)]
    conc, errors = [], []
    gate = threading.Barrier(n_clients)

    def client(e):
        try:
            gate.wait(timeout=60)
            for _ in range(LOGINS_PER_CLIENT):
                conc.append(one(e))
        except Exception as ex:           # reported below, the bench fails
            errors.append(str(ex))
    threads = [threading.Thread(target=client, args=(e,)) for e in envs]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    wall = time.perf_counter() - t0
    if errors or len(conc) != n_clients * LOGINS_PER_CLIENT:
        raise SystemExit("bench: concurrent logins failed: %s" % "; ".join(errors[:3]))
    return seq, conc, wall


def main():
    work = tempfile.mkdtemp(prefix="ecert-bench-pages-", dir="/tmp")
    os.chmod(work, 0o755)
    port, dbport, stock_port = stackmod.free_ports(3)
    stackmod.become_subreaper()
    st = stackmod.Stack(os.path.join(work, "run"), port, dbport, SRC, quiet=True)
    stock = StockHttpd(work, stock_port, "AddType text/css .css")
    try:
        print("bench: starting a private stack (MariaDB, SoftHSM, ceremony, httpd) ...", flush=True)
        st.start(summary=False)
        print("bench: walking applications to each page (issuing 5 certificates) ...", flush=True)
        pages = walk(st, 3)
        snapshot(st, pages, stock)
        stock.start()
        print("bench: wrk, %d connections, %d s per run, %d rounds per page, ours and stock interleaved ..."
              % (CONNS, SEC, ROUNDS), flush=True)
        rows = []
        for name, path, cookie, fname in pages:
            ours, ref = [], []
            for _ in range(ROUNDS):
                if time.monotonic() > DEADLINE:
                    raise SystemExit("bench: out of time")
                ours.append(wrk(st.url(path), cookie))
                ref.append(wrk(stock.url("/" + fname)))
            size = os.path.getsize(os.path.join(stock.htdocs, fname))
            rows.append((name, size, [median([x[i] for x in ours]) for i in range(3)],
                         [median([x[i] for x in ref]) for i in range(3)]))
        print("bench: login POST, %d sequential, then %d clients x %d at once ..."
              % (LOGINS_SEQ, CONNS, LOGINS_PER_CLIENT), flush=True)
        seq, conc, wall = logins(st, CONNS)

        print()
        print("subscriber pages: %d concurrent connections (wrk -t2), %d s x %d rounds each, medians of "
              "the rounds; 127.0.0.1, %d CPUs shared with other work (noisy)"
              % (CONNS, SEC, ROUNDS, os.cpu_count()))
        print("%-22s %7s | %-28s | %-28s | %s" % ("page", "bytes", "mod_ecert p50 / p99 / req/s",
                                                   "stock static p50 / p99 / req/s", "ratio p50, req/s"))
        for name, size, o, r in rows:
            print("%-22s %7d | %6.2f ms %7.2f ms %7.0f/s | %6.2f ms %7.2f ms %7.0f/s | %5.1fx %5.2f"
                  % (name, size, 1e3 * o[0], 1e3 * o[1], o[2], 1e3 * r[0], 1e3 * r[1], r[2],
                     o[0] / r[0], o[2] / r[2]))
        print("login POST (scrypt)    sequential: p50 %.0f ms p99 %.0f ms (%d)   %d at once: p50 %.0f ms "
              "p99 %.0f ms, %.1f logins/s (%d)"
              % (1e3 * pct(seq, 50), 1e3 * pct(seq, 99), len(seq), CONNS, 1e3 * pct(conc, 50),
                 1e3 * pct(conc, 99), len(conc) / wall, len(conc)))
    except BaseException:
        print("bench: httpd error.log tail:\n" + stackmod.tail(st.error_log_path(), 20), file=sys.stderr)
        raise
    finally:
        stock.stop()
        st.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
