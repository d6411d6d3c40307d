"""Smoke tests: the session stack is really up (MariaDB, SoftHSM token, httpd)."""

import os
import pwd
import re
import socket
import subprocess

import requests

import stack as stackmod


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


def test_children_read_nothing_of_the_checkout(stack):
    """httpd's children may not traverse a private checkout: every path of the generated
    configurations (the CA's and the perspectives') is outside it, under the run dir."""
    confs = [stack.httpd_conf, stack.ecert_conf] + [p.conf for p in stack.mpic]
    for conf in confs:
        with open(conf, encoding="utf-8") as f:
            text = f.read()
        assert stack.srcdir + "/" not in text, conf
        assert stack.moddir + "/" not in text, conf
    with open(stack.httpd_conf, encoding="utf-8") as f:
        assert '"%s"' % os.path.join(stack.stagedir, "modules", "mod_ecert.so") in f.read()
    staged = os.path.join(stack.stage_htdocs, "templates", "login.html")
    with open(staged, "rb") as a, open(os.path.join(stack.srcdir, "htdocs", "templates", "login.html"), "rb") as b:
        assert a.read() == b.read()
    if os.geteuid() == 0:
        assert stackmod.child_can_traverse(os.path.dirname(staged)) and os.stat(staged).st_mode & 0o004
        st = os.stat(stack.tokendir)
        assert st.st_mode & 0o777 == 0o700 and st.st_uid == pwd.getpwnam(stackmod.HTTPD_USER).pw_uid


def test_private_parent_moves_the_run_dir(tmp_path):
    """A run dir whose parent the children cannot traverse lives under STATE_HOME instead
    (keyed by its path); one they can reach stays where it is."""
    sm = stackmod
    assert sm.run_home("/tmp/ecert-x/run") == "/tmp/ecert-x/run"
    if os.geteuid() != 0:
        return
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    os.chmod(private, 0o700)
    home = sm.run_home(str(private / "run"))
    assert home.startswith(sm.STATE_HOME + "/") and home == sm.run_home(str(private / "run"))
    assert home != sm.run_home(str(private / "run2"))
    assert not sm.child_can_traverse(str(private))


def test_broken_template_stops_the_start(stack):
    """The templates are read and checked once, at start: a broken one stops a starting httpd
    (the second instance here), with its name in the log, instead of failing requests later;
    the running one, which read them before, goes on serving."""
    page = os.path.join(stack.stage_htdocs, "templates", "login.html")
    with open(page, encoding="utf-8") as f:
        good = f.read()
    try:
        with open(page, "w", encoding="utf-8") as f:
            f.write(good + "{{#never}}")
        try:
            stack.start_httpd2()
            assert False, "httpd started with a broken template"
        except stackmod.StackError as e:
            assert "ECE0240" in str(e), str(e)
        log = "\n".join(stack.error_log_lines(2))
        assert re.search(r"\[ecert:emerg\] .*ECE0240: ECertTemplates: template .*/login\.html: "
                         r"section never is not closed", log), log
        r = requests.get(stack.url("/ecert/login"), timeout=10)
        assert r.status_code == 200 and "{{" not in r.text and "never" not in r.text
    finally:
        with open(page, "w", encoding="utf-8") as f:
            f.write(good)
        stack.stop_httpd2()
        stack.set_aside_log2("broken-template")
