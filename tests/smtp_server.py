"""The mail relay the tests give the CA: a real SMTP server (Debian's python3-aiosmtpd) on
127.0.0.1 that offers STARTTLS with a certificate of a test CA and keeps every message it
accepts as a file, with the envelope and whether the session was encrypted.

    SmtpSink(workdir).start(port)   a child process serving until stop()
    sink.messages()                 [(envelope_to, tls, email.message.Message)], in arrival order;
                                    each message's .raw holds the bytes as they arrived

Run directly it serves: python3 tests/smtp_server.py DIR PORT CERT KEY
"""

import email
import email.policy
import json
import os
import signal
import socket
import subprocess
import sys
import time


def _serve(directory, port, cert, key):
    import ssl
    from aiosmtpd.controller import Controller

    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)

    class Keep:
        def __init__(self):
            self.n = 0

        async def handle_DATA(self, server, session, envelope):
            self.n += 1
            name = os.path.join(directory, "%013d-%04d" % (int(time.time() * 1000), self.n))
            with open(name + ".tmp", "wb") as f:
                f.write(envelope.original_content or envelope.content)
            with open(name + ".json.tmp", "w") as f:
                json.dump({"from": envelope.mail_from, "to": envelope.rcpt_tos,
                           "tls": session.ssl is not None}, f)
            os.replace(name + ".json.tmp", name + ".json")
            os.replace(name + ".tmp", name + ".eml")
            return "250 OK"

    c = Controller(Keep(), hostname="127.0.0.1", port=port, tls_context=ctx, require_starttls=False,
                   decode_data=False)
    c.start()
    signal.sigwait({signal.SIGTERM, signal.SIGINT})
    c.stop()


class SmtpSink:
    def __init__(self, workdir):
        self.dir = os.path.join(workdir, "smtp")
        os.makedirs(self.dir, exist_ok=True)
        self.cert, self.key, self.ca = self._certificates(workdir)
        self.port = None
        self.proc = None

    @staticmethod
    def _certificates(workdir):
        """A test CA and a certificate of it for 127.0.0.1 (the relay the CA is told to trust)."""
        ca_key, ca = os.path.join(workdir, "smtp-ca.key"), os.path.join(workdir, "smtp-ca.pem")
        key, csr, cert = (os.path.join(workdir, n) for n in ("smtp.key", "smtp.csr", "smtp.pem"))
        ext = os.path.join(workdir, "smtp.ext")
        if not os.path.exists(cert):
            run = lambda *a: subprocess.run(a, check=True, capture_output=True, timeout=60)
            run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca_key, "-out", ca,
                "-subj", "/CN=Test Mail Relay CA", "-days", "30")
            run("openssl", "req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr,
                "-subj", "/CN=127.0.0.1")
            with open(ext, "w") as f:
                f.write("subjectAltName = IP:127.0.0.1, DNS:localhost\n")
            run("openssl", "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
                "-out", cert, "-days", "30", "-extfile", ext)
            os.chmod(key, 0o644)
        return cert, key, ca

    def start(self, port=None):
        if port:
            self.port = port
        if not self.port:
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
            s.close()
        self.proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), self.dir, str(self.port),
                                      self.cert, self.key], stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("the SMTP server did not start on port %d" % self.port)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    @property
    def url(self):
        return "smtp://127.0.0.1:%d" % self.port

    def messages(self):
        out = []
        for name in sorted(n for n in os.listdir(self.dir) if n.endswith(".eml")):
            base = os.path.join(self.dir, name[:-4])
            with open(base + ".eml", "rb") as f:
                raw = f.read()
            msg = email.message_from_bytes(raw, policy=email.policy.default)
            msg.raw = raw               # as it came over the wire
            with open(base + ".json") as f:
                env = json.load(f)
            out.append((env["to"], env["tls"], msg))
        return out

    def wait_for(self, predicate, timeout=15):
        """The first message for which predicate(msg) holds, waiting for it."""
        deadline = time.monotonic() + timeout
        while True:
            for to, tls, msg in self.messages():
                if predicate(msg):
                    return to, tls, msg
            if time.monotonic() > deadline:
                return None
            time.sleep(0.2)


if __name__ == "__main__":
    _serve(sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4])
