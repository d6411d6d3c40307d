"""The CA's e-mail (R-19): messages queued in the store and sent through a real SMTP relay
(tests/smtp_server.py, aiosmtpd) with STARTTLS, checked with Python's email package as a mail
client reads them: RFC 5322 headers, an RFC 2047 subject, MIME text/plain UTF-8; the relay
down then up delivers each message exactly once."""

import email.utils
import re
import time

from ecert_util import new_application


def wait_sent(stack, message_id, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = stack.sql("SELECT sent_at FROM mail_queue WHERE message_id = %s", (message_id,))
        if rows and rows[0][0]:
            return True
        time.sleep(0.2)
    return False


def invitation(stack, name):
    args = ["application", "add", "--server-name", name, "--type", "standard", "--government",
            "--org-en", "Mail Test Ltd", "--email", "rep@%s" % name, "--send-invitation"]
    out = stack.ctl(*args).stdout
    pin = re.search(r"e-Cert PIN:\s*([\d ]{19})", out).group(1)
    ref = re.search(r"Subscriber Reference Number:\s*(\d{10})", out).group(1)
    assert "is queued for rep@%s" % name in out
    return pin, ref


def test_csr_invitation_is_a_proper_message(stack):
    name = "invite%d.example.org" % int(time.time() * 1000 % 100000)
    pin, ref = invitation(stack, name)
    got = stack.smtp.wait_for(lambda m: m["To"] == "<rep@%s>" % name or ("rep@" + name) in str(m["To"]))
    assert got, "no invitation reached the relay"
    to, tls, msg = got
    assert to == ["rep@" + name]
    assert tls, "the relay offered STARTTLS and the CA did not use it"
    # RFC 5322 headers
    assert msg["From"].addresses[0].addr_spec == "notices@ca.example.org"
    assert email.utils.parsedate_to_datetime(msg["Date"]).utcoffset().total_seconds() == 0
    assert re.fullmatch(r"<[0-9a-f]{32}@ca\.example\.org>", msg["Message-ID"])
    assert msg["Auto-Submitted"] == "auto-generated"
    # the subject is UTF-8 in RFC 2047 encoded words; decoded it is the User Guide's
    head = msg.raw.split(b"\r\n\r\n", 1)[0]
    assert re.search(rb"^Subject: Submission of Certificate Signing Request \(CSR\) / =\?UTF-8\?B\?", head, re.M) or \
        re.search(rb"^Subject: =\?UTF-8\?B\?", head, re.M), head
    assert all(len(line) <= 998 for line in msg.raw.split(b"\r\n"))
    assert str(msg["Subject"]).startswith("Submission of Certificate Signing Request (CSR) / 提交證書簽署要求")
    assert msg.get_content_type() == "text/plain" and msg.get_content_charset() == "utf-8"
    assert msg["Content-Transfer-Encoding"] == "base64"
    body = msg.get_content()
    assert name in body and ref in body and stack.url("/ecert/") in body
    assert "獲授權代表" in body and "密碼信封" in body
    # never the PIN (User Guide A: it comes in the envelope)
    assert pin.replace(" ", "") not in body.replace(" ", "")
    row = stack.sql("SELECT kind, sent_at IS NOT NULL, attempts FROM mail_queue WHERE message_id = %s",
                    (msg["Message-ID"][1:-1],))[0]
    assert row == ("csr-invite", 1, 1)


def test_relay_down_then_up_delivers_once(stack):
    stack.expect_log(r"ECE0122: the mail relay")
    stack.smtp.stop()
    try:
        name = "relaydown%d.example.org" % int(time.time() * 1000 % 100000)
        invitation(stack, name)
        mid = stack.sql("SELECT message_id FROM mail_queue WHERE rcpt_to = %s", ("rep@" + name,))[0][0]
        # the worker tries, fails, and keeps it for later
        deadline = time.monotonic() + 15
        row = None
        while time.monotonic() < deadline:
            row = stack.sql("SELECT attempts, last_error, sent_at FROM mail_queue WHERE message_id = %s", (mid,))[0]
            if row[0] >= 1:
                break
            time.sleep(0.2)
        assert row[0] >= 1 and row[1] and row[2] is None, row
    finally:
        stack.smtp.start()
    # the retry comes after 30 s at most
    stack.sql("UPDATE mail_queue SET next_attempt = NOW(6) WHERE message_id = %s", (mid,))
    assert wait_sent(stack, mid)
    time.sleep(2)
    delivered = [m for _, _, m in stack.smtp.messages() if m["Message-ID"] == "<%s>" % mid]
    assert len(delivered) == 1
    assert stack.sql("SELECT COUNT(*) FROM mail_queue WHERE message_id = %s", (mid,))[0][0] == 1
