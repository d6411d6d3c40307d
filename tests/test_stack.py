"""Smoke tests: the session stack is really up (MariaDB, SoftHSM token, httpd)."""

import os
import re
import socket
import subprocess

import requests


def test_mariadb_answers(stack):
    rows = stack.sql("SELECT version FROM schema_version")
    assert len(rows) >= 1


def test_db_upgrade_is_idempotent(stack):
    before = stack.schema_version()
    assert stack.db_upgrade() == []
    assert stack.schema_version() == before >= 1


def test_token_listed(stack):
    r = subprocess.run(["pkcs11-tool", "--module", stack.p11module, "--list-slots"],
                       env=stack.env(), capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert re.search(r"token label\s*:\s*ecert\s*$", r.stdout, re.M), r.stdout


def test_httpd_answers(stack):
    with socket.create_connection(("127.0.0.1", stack.port), timeout=10) as s:
        s.sendall(b"HEAD /root/root_ca_3.pem.crt HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        first = s.recv(4096).split(b"\r\n", 1)[0]
    assert re.match(rb"HTTP/1\.[01] \d{3} ", first), first


def test_root_certificate_published(stack):
    r = requests.get(stack.url("/root/root_ca_3.pem.crt"), timeout=10)
    assert r.status_code == 200
    assert b"-----BEGIN CERTIFICATE-----" in r.content


def test_demo_envelope_printed_not_stored(stack):
    m = re.search(r"e-Cert PIN:\s*([\d ]{19})", stack.demo_envelope)
    assert m, stack.demo_envelope
    pin = m.group(1).replace(" ", "")
    ref = open(stack.demo_ref_file).read().strip()
    assert re.fullmatch(r"\d{9}", ref)
    for root, _, files in os.walk(stack.rundir):
        for name in files:
            path = os.path.join(root, name)
            if "/mysql/" in path or "/tokens/" in path or not os.path.isfile(path):
                continue
            with open(path, "rb") as f:
                assert pin.encode() not in f.read(), "PIN in clear in " + path


def test_second_httpd_instance(stack):
    port2 = None
    try:
        stack.start_httpd2()
        port2 = stack.port2
        assert port2 != stack.port
        assert stack.httpd_pid(2) and stack.httpd_pid(2) != stack.httpd_pid(1)
        r = requests.get(stack.url("/root/root_ca_3.pem.crt", instance=2), timeout=10)
        assert r.status_code == 200
    finally:
        stack.stop_httpd2()
    assert stack.httpd_pid(2) is None
    assert stack.httpd_pid(1), "stopping the second instance must leave the first running"
