"""Certificate problem reports (R-11; CPS 4.9.2; BR 4.9.5): stored with a report number,
audited, acknowledged on screen and by e-mail (with nothing the reporter wrote), announced to
the operations address with everything; ecertctl lists them against the 24-hour clock, shows
and closes them. Every field checked, escaped when it comes back, nothing stored on a refusal."""

import re
import time

from ecert_util import Subscriber, certificate_of, error_code, issue_via_web, new_application, page_error


def unique(prefix):
    return "%s%d.example.org" % (prefix, time.monotonic_ns() % 10**10)


def send(stack, **fields):
    sub = Subscriber(stack)
    sub.get("/report")
    data = {"contact": "reporter@example.net", "certificate": "www.example.com", "category": "misissuance",
            "text": "The certificate names a domain the subscriber does not own."}
    data.update(fields)
    return sub.post("/report", data)


def test_problem_report_round_trip(stack):
    env = new_application(stack, unique("cpr-"))
    issue_via_web(stack, env)
    _, _, serial_hex, _ = certificate_of(stack, env)
    spaced = " ".join(serial_hex[i:i + 2] for i in range(0, 40, 2))
    audits = stack.sql("SELECT COUNT(*) FROM audit_event WHERE event = 'report.filed'")[0][0]
    secret_text = "Evidence attached: phishing site at <b>https://evil.example</b> %d" % time.time_ns()
    r = send(stack, certificate=spaced.upper(), category="fraud", text=secret_text)
    assert r.status_code == 200 and "/report/done?report=CPR-" in r.url, (r.status_code, page_error(r))
    no = re.search(r'id="report-no">(CPR-\d{8})<', r.text).group(1)
    assert "24" in r.text
    row = stack.sql("SELECT kind, category, contact, serial_hex, server_name, body, handled FROM problem_report "
                    "WHERE report_no = %s", (no,))[0]
    assert row == ("problem", "fraud", "reporter@example.net", serial_hex, None, secret_text, 0)
    assert stack.sql("SELECT COUNT(*) FROM audit_event WHERE event = 'report.filed'")[0][0] == audits + 1
    # the reporter's acknowledgement: the number, never the text
    got = stack.smtp.wait_for(lambda m: no in str(m["Subject"]) and "received" in str(m["Subject"]))
    assert got
    to, _, ack = got
    assert to == ["reporter@example.net"] and no in ack.get_content() and "evil.example" not in ack.get_content()
    # the operators get everything
    got = stack.smtp.wait_for(lambda m: str(m["Subject"]).startswith("[CPR] " + no))
    assert got
    to, _, ops = got
    assert to == ["ops@ca.example.org"] and secret_text in ops.get_content()
    # the back office
    out = stack.ctl("report", "list").stdout
    line = [l for l in out.splitlines() if l.startswith(no)]
    assert line and "fraud" in line[0] and "left" in line[0] and serial_hex in line[0]
    out = stack.ctl("report", "show", no).stdout
    assert secret_text in out and "reporter@example.net" in out
    r2 = stack.ctl("report", "close", no, check=False)
    assert r2.returncode != 0 and "--note" in r2.stderr
    stack.ctl("report", "close", no, "--note", "preliminary report sent; certificate under review")
    assert stack.sql("SELECT handled, close_note FROM problem_report WHERE report_no = %s", (no,))[0] == \
        (1, "preliminary report sent; certificate under review")
    assert no not in stack.ctl("report", "list").stdout
    assert no in stack.ctl("report", "list", "--all").stdout
    r2 = stack.ctl("report", "close", no, "--note", "again", check=False)
    assert r2.returncode != 0 and "already closed" in r2.stderr
    r2 = stack.ctl("report", "show", "CPR-00000000", check=False)
    assert r2.returncode != 0 and "no report" in r2.stderr


def test_overdue_reports_say_so(stack):
    r = send(stack, certificate="overdue.example.org", category="other", text="late")
    no = re.search(r"report=(CPR-\d{8})", r.url).group(1)
    assert stack.sql("SELECT server_name FROM problem_report WHERE report_no = %s", (no,))[0][0] == "overdue.example.org"
    stack.sql("UPDATE problem_report SET created_at = UTC_TIMESTAMP() - INTERVAL 25 HOUR WHERE report_no = %s", (no,))
    line = [l for l in stack.ctl("report", "list").stdout.splitlines() if l.startswith(no)][0]
    assert "OVERDUE" in line and "25h" in line


def test_every_field_is_checked_and_nothing_is_stored(stack):
    before = stack.sql("SELECT COUNT(*) FROM problem_report")[0][0]
    for fields, code in (({"contact": "nobody"}, "report.bad_contact"),
                         ({"contact": "a@b"}, "report.bad_contact"),
                         ({"contact": "x@example.net\r\nBcc: victim@example.com"}, "report.bad_contact"),
                         ({"category": "spam"}, "report.bad_category"),
                         ({"certificate": ""}, "report.no_certificate"),
                         ({"certificate": "not a name!"}, "report.bad_certificate"),
                         ({"text": ""}, "report.no_text"),
                         ({"text": "x" * 4001}, "report.text_too_long"),
                         ({"text": "bell \x07 here"}, "report.bad_text")):
        r = send(stack, **fields)
        assert r.status_code == 400 and error_code(r) == code, (fields, r.status_code, error_code(r))
    # what comes back is escaped
    r = send(stack, contact="bad", text="<script>alert(1)</script>")
    assert "<script>alert(1)</script>" not in r.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in r.text
    r = send(stack, csrf="0" * 64)
    assert r.status_code == 403
    assert stack.sql("SELECT COUNT(*) FROM problem_report")[0][0] == before
    # unknown and malformed report numbers
    assert Subscriber(stack).get("/report/done?report=CPR-00000000").status_code == 404
    assert Subscriber(stack).get("/report/done?report=../../x").status_code == 404
