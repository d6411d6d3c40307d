#!/usr/bin/env bash
# Install every Debian package that building, running and testing e-Cert CA services need.
# Idempotent: prints nothing and exits 0 when everything is already installed.
# Works as root, or as a user with sudo.  Never leaves a system MariaDB/Apache service
# started by the install: our stack runs private instances (scripts/stack.py).
set -euo pipefail

PKGS=(
    # build
    make gcc pkg-config clang libclang-rt-14-dev
    apache2 apache2-dev libapr1-dev libaprutil1-dev libaprutil1-dbd-mysql
    libssl-dev openssl libidn2-dev libp11-kit-dev libcurl4-openssl-dev libunbound-dev libpsl-dev liblmdb-dev lmdb-utils
    libgfshare-dev libkeyutils-dev keyutils libjansson-dev
    # run
    mariadb-server mariadb-client softhsm2 p11-kit opensc
    # test
    gnutls-bin nghttp2-client wrk valgrind
    python3-pytest python3-cryptography python3-pymysql python3-requests python3-dnslib python3-pykcs11
    python3-aiosmtpd knot knot-dnsutils bind9-dnsutils dns-root-data publicsuffix
    # the CT monitor tests/test_ct_log.py runs against the test CT logs (tests/ct_log.py)
    certspotter
    # the network lab of the multi-perspective tests (scripts/net_lab.py): bridge, namespaces,
    # veths, the hijackers' DNS proxy, and the probes of tests/test_net_lab.py
    iproute2 iputils-ping curl python3-dnspython
    chromium nodejs npm fonts-wqy-microhei
)

# Names satisfied on this machine: installed packages plus the virtual names they provide
# (e.g. NodeSource's nodejs provides and conflicts with "npm": asking apt for Debian's npm
# would try to remove it).
have_names() {
    dpkg-query -W -f='${Status}|${Package}|${Provides}\n' 2>/dev/null | awk -F'|' '
        $1 == "install ok installed" {
            print $2
            n = split($3, prov, ",")
            for (i = 1; i <= n; i++) {
                p = prov[i]; sub(/\(.*/, "", p); gsub(/[ \t]/, "", p)
                if (p != "") print p
            }
        }' | sort -u
}

missing=()
have="$(have_names)"
for p in "${PKGS[@]}"; do
    grep -qxF -- "$p" <<<"$have" || missing+=("$p")
done
[ "${#missing[@]}" -eq 0 ] && exit 0

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        if [ -t 0 ]; then SUDO=(sudo); else SUDO=(sudo -n); fi
    else
        echo "deps.sh: missing packages (${missing[*]}) and not root, no sudo: install them as root" >&2
        exit 1
    fi
fi

echo "deps: installing ${missing[*]}"

# Keep package maintainer scripts from starting system services (mariadb on 3306, apache on 80):
# a policy-rc.d that denies everything, only if the machine has none; removed afterwards.
policy=/usr/sbin/policy-rc.d
made_policy=0
cleanup() {
    if [ "$made_policy" = 1 ]; then "${SUDO[@]}" rm -f "$policy"; fi
    if [ -n "${log:-}" ]; then rm -f "$log"; fi
}
trap cleanup EXIT
if [ ! -e "$policy" ]; then
    "${SUDO[@]}" sh -c "printf '#!/bin/sh\n# temporary, from e-Cert scripts/deps.sh\nexit 101\n' > $policy && chmod 755 $policy"
    made_policy=1
fi

log="$(mktemp /tmp/ecert-deps.XXXXXX)"
export DEBIAN_FRONTEND=noninteractive
apt_opts=(-o DPkg::Lock::Timeout=600 -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)
if ! "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get "${apt_opts[@]}" update -qq >"$log" 2>&1; then
    cat "$log" >&2; echo "deps.sh: apt-get update failed" >&2; exit 1
fi
if ! "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get "${apt_opts[@]}" install -y -qq "${missing[@]}" >"$log" 2>&1; then
    tail -n 60 "$log" >&2; echo "deps.sh: apt-get install failed" >&2; exit 1
fi
echo "deps: done"
