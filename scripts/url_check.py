"""What `make run` checks before it says the stack is running: every URL it prints answers
200 with the right content type and a body of the right shape, judged by independent parsers
(Python's cryptography for the OCSP answer, CRLs and certificates).

    problems = check(stack)     [] when all is well, else one line per URL that failed
"""

import json
import os
import urllib.error
import urllib.request

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

TIMEOUT = 15


def fetch(url, data=None, ctype=None):
    """(status, content type, body) of one request to url; status 0 when it could not be made."""
    req = urllib.request.Request(url, data=data, headers={"Content-Type": ctype} if ctype else {})
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT) as r:
            return r.status, r.headers.get("Content-Type", ""), r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type", ""), e.read()
    except OSError as e:
        return 0, "", str(e).encode()


def _page(marker):
    def judge(body):
        text = body.decode("utf-8", "replace")
        if "</html>" not in text.lower():
            return "not a whole HTML page"
        return None if marker in text else "no %s in the page" % marker
    return judge


def _crl(body):
    try:
        x509.load_der_x509_crl(body)
    except ValueError as e:
        return "not a DER CRL: %s" % e
    return None


def _cert(body):
    try:
        x509.load_der_x509_certificate(body)
    except ValueError:
        try:
            x509.load_pem_x509_certificate(body)
        except ValueError as e:
            return "not a certificate: %s" % e
    return None


def _sth(body):
    try:
        return None if "tree_size" in json.loads(body) else "no tree_size in the STH"
    except ValueError as e:
        return "not JSON: %s" % e


def _load_pem(path):
    with open(path, "rb") as f:
        return x509.load_pem_x509_certificate(f.read())


def _ocsp(stack):
    """A real OCSP request: the status of the SSL Sub CA's certificate, asked of the root's
    responder; it must be a signed answer 'good' for that very serial."""
    root = _load_pem(os.path.join(stack.pubdir, "root", "root_ca_3.pem.crt"))
    sub = _load_pem(os.path.join(stack.pubdir, "root", "ecert_ssl_ca_3-17.pem.crt"))
    req = ocsp.OCSPRequestBuilder().add_certificate(sub, root, hashes.SHA1()).build()

    def judge(body):
        try:
            resp = ocsp.load_der_ocsp_response(body)
        except ValueError as e:
            return "not an OCSP response: %s" % e
        if resp.response_status != ocsp.OCSPResponseStatus.SUCCESSFUL:
            return "OCSP response status %s" % resp.response_status.name
        if resp.serial_number != sub.serial_number or resp.certificate_status != ocsp.OCSPCertStatus.GOOD:
            return "OCSP answer is not 'good' for the SSL Sub CA (serial %x: %s)" % (
                resp.serial_number, resp.certificate_status.name)
        return None
    return req.public_bytes(serialization.Encoding.DER), judge


def check(stack):
    b = stack.base_url
    ocsp_req, ocsp_judge = _ocsp(stack)
    checks = [
        ("%s/ecert/" % b, None, "text/html", _page("<body")),
        ("%s/ecert/login" % b, None, "text/html", _page('name="pin"')),
        ("%s/ocsp" % b, ocsp_req, "application/ocsp-response", ocsp_judge),
        ("%s/crl/eCertSCA3-17CRL1.crl" % b, None, "application/pkix-crl", _crl),
        ("%s/crl/eCertESCA3-17CRL1.crl" % b, None, "application/pkix-crl", _crl),
        ("%s/crl/RootCA3ARL.crl" % b, None, "application/pkix-crl", _crl),
        ("%s/root/root_ca_3.crt" % b, None, "application/pkix-cert", _cert),
        ("%s/root/ecert_ssl_ca_3-17.crt" % b, None, "application/pkix-cert", _cert),
    ]
    checks += [(log.url + "ct/v1/get-sth", None, "application/json", _sth) for log in stack.ct_logs]
    problems = []
    for url, data, want_type, judge in checks:
        status, ctype, body = fetch(url, data, "application/ocsp-request" if data else None)
        if status != 200:
            why = "HTTP %d" % status if status else body.decode("utf-8", "replace")
        elif ctype.split(";")[0].strip() != want_type:
            why = "content type %r, not %s" % (ctype, want_type)
        else:
            why = judge(body)
        if why:
            problems.append("%s%s: %s" % (url, " (POST)" if data else "", why))
    return problems
