#!/usr/bin/python3
"""bench/issue.sh driver: N issuances through the subscriber pages vs `openssl ca -batch`."""

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

SRC = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(SRC, "scripts"))
sys.path.insert(0, os.path.join(SRC, "tests"))

import stack as stackmod  # noqa: E402
from ecert_util import Subscriber, make_csr, rsa_key, new_application  # noqa: E402

DEADLINE = time.monotonic() + 1500          # every loop below stops by itself
BLOCK = 25                                  # issuances between switching CT on and off


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100.0 * (len(xs) - 1))))]


def openssl_ca_setup(d):
    """A file-based CA like the usual `openssl ca` deployments: key on disk, index.txt."""
    os.makedirs(os.path.join(d, "new"))
    open(os.path.join(d, "index.txt"), "w").close()
    with open(os.path.join(d, "serial"), "w") as f:
        f.write("01\n")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                    os.path.join(d, "ca.key"), "-out", os.path.join(d, "ca.pem"), "-days", "3650",
                    "-subj", "/C=HK/ST=Hong Kong/L=Hong Kong/O=Hongkong Post/CN=Reference CA"],
                   check=True, capture_output=True)
    conf = os.path.join(d, "ca.cnf")
    with open(conf, "w") as f:
        f.write("""[ca]
default_ca = ref
[ref]
dir = %(d)s
database = $dir/index.txt
serial = $dir/serial
new_certs_dir = $dir/new
certificate = $dir/ca.pem
private_key = $dir/ca.key
default_md = sha256
default_days = 199
policy = anything
unique_subject = no
copy_extensions = none
[anything]
countryName = optional
stateOrProvinceName = optional
localityName = optional
organizationName = optional
commonName = supplied
[server]
authorityInfoAccess = OCSP;URI:http://ocsp1.eCert.gov.hk,caIssuers;URI:http://www1.ecert.gov.hk/root/ecert_ssl_ca_3-17.crt
authorityKeyIdentifier = keyid
subjectKeyIdentifier = hash
keyUsage = critical,digitalSignature,keyEncipherment
certificatePolicies = @cps,2.23.140.1.2.2
subjectAltName = DNS:${ENV::SAN}
basicConstraints = critical,CA:FALSE
extendedKeyUsage = serverAuth
crlDistributionPoints = URI:http://crl1.eCert.gov.hk/crl/eCertSCA3-17CRL1.crl
[cps]
policyIdentifier = 1.3.6.1.4.1.16030.1.7.16
CPS.1 = http://www.eCert.gov.hk/product/cps/ecert
""" % {"d": d})
    return conf


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    work = tempfile.mkdtemp(prefix="ecert-bench-", dir="/tmp")
    os.chmod(work, 0o755)                      # httpd children (www-data) reach the token below
    port, dbport = stackmod.free_ports(2)
    stackmod.become_subreaper()
    st = stackmod.Stack(os.path.join(work, "run"), port, dbport, SRC, quiet=True)
    try:
        print("bench: starting a private stack (MariaDB, SoftHSM, ceremony, httpd) ...", flush=True)
        st.start(summary=False)
        keys = [rsa_key() for _ in range(20)]
        print("bench: registering %d government applications ..." % n, flush=True)
        apps = []
        for i in range(n):
            if time.monotonic() > DEADLINE:
                raise SystemExit("bench: out of time while registering")
            env = new_application(st, "bench%d.example.com" % i)
            env["csr"] = make_csr(keys[i % len(keys)], env["server_name"])
            apps.append(env)

        print("bench: issuing through the subscriber pages (login + confirm not timed), in blocks of %d "
              "with the %d local CT logs and without, interleaved ..." % (BLOCK, len(st.ct_logs)), flush=True)
        web, plain = [], []
        for b in range(0, n, BLOCK):
            with_ct = (b // BLOCK) % 2 == 0
            if st.ct_enabled != with_ct:
                st.ct_enabled = with_ct
                st.restart_httpd()
            for env in apps[b:b + BLOCK]:
                if time.monotonic() > DEADLINE:
                    raise SystemExit("bench: out of time while issuing")
                sub = Subscriber(st)
                sub.login(env)
                sub.confirm()
                assert sub.r.url.endswith("/csr"), sub.r.url
                t0 = time.perf_counter()
                r = sub.submit_csr(env["csr"])          # POST /csr -> 303 -> GET /certificate
                (web if with_ct else plain).append(time.perf_counter() - t0)
                if r.status_code != 200 or not r.url.endswith("/certificate") or "c-serial" not in r.text:
                    raise SystemExit("bench: issuance %s failed: %s %s" % (env["server_name"], r.status_code, r.url))
        issued = st.sql("SELECT COUNT(*) FROM certificate WHERE server_name LIKE 'bench%%' "
                        "AND application_id IS NOT NULL")[0][0]
        assert issued == n, issued

        print("bench: issuing the same CSRs with openssl ca -batch (key on disk) ...", flush=True)
        d = os.path.join(work, "openssl-ca")
        conf = openssl_ca_setup(d)
        ref = []
        for i, env in enumerate(apps):
            if time.monotonic() > DEADLINE:
                raise SystemExit("bench: out of time in the reference")
            csr = os.path.join(d, "r%d.csr" % i)
            with open(csr, "w") as f:
                f.write(env["csr"].replace("NEW CERTIFICATE REQUEST", "CERTIFICATE REQUEST"))
            e = dict(os.environ, SAN=env["server_name"])
            t0 = time.perf_counter()
            subprocess.run(["openssl", "ca", "-batch", "-config", conf, "-extensions", "server", "-rand_serial",
                            "-notext", "-in", csr, "-out", os.path.join(d, "r%d.pem" % i),
                            "-subj", "/C=HK/ST=Hong Kong/L=Hong Kong/O=Example Company Limited/CN=%s"
                            % env["server_name"]], check=True, capture_output=True, env=e)
            ref.append(time.perf_counter() - t0)

        def line(name, xs):
            return "%-34s p50 %7.1f ms   p99 %7.1f ms   mean %7.1f ms   %7.1f issuances/s" % (
                name, 1000 * pct(xs, 50), 1000 * pct(xs, 99), 1000 * statistics.mean(xs), len(xs) / sum(xs))
        print()
        print("issuance benchmark: %d issuances (%d with CT, %d without) and %d by the reference, sequential, "
              "one client, 127.0.0.1" % (len(web) + len(plain), len(web), len(plain), len(ref)))
        print(line("mod_ecert, CT (3 local logs)", web))
        if plain:
            print(line("mod_ecert, no CT", plain))
        print(line("openssl ca -batch (reference)", ref))
        print("ratio p50 (reference / ours with CT): %.2fx   throughput (ours with CT / reference): %.2fx"
              % (pct(ref, 50) / pct(web, 50), (len(web) / sum(web)) / (len(ref) / sum(ref))))
        if plain:
            print("CT costs p50 %+.1f ms, p99 %+.1f ms per issuance (precertificate signature + 3 submissions)"
                  % (1000 * (pct(web, 50) - pct(plain, 50)), 1000 * (pct(web, 99) - pct(plain, 99))))
        print("target p50 < 150 ms: %s; at least the reference's issuances/s: %s"
              % ("met" if pct(web, 50) < 0.150 else "MISSED",
                 "met" if len(web) / sum(web) >= len(ref) / sum(ref) else "MISSED"))
    except BaseException:
        print("bench: httpd error.log tail:\n" + stackmod.tail(st.error_log_path(), 20), file=sys.stderr)
        raise
    finally:
        st.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
