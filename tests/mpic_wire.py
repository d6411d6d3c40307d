"""The CA/perspective protocol (core/ec_mpic_wire.h) written again from its description, for
the tests to speak it as the CA or a perspective would — or as an attacker with a stolen TLS
certificate but no key would."""

import hashlib
import hmac
import secrets
import time

FIRST = {"request": "ecert-mpic/1 request", "answer": "ecert-mpic/1 answer"}
ORDER = {"request": ["client", "perspective", "nonce", "time", "check", "name", "code", "method", "issuer"],
         "answer": ["perspective", "nonce", "time", "check", "name", "result", "reason", "detail", "evidence"]}


def _esc(v):
    out = []
    for b in v.encode():
        out.append(chr(b) if 0x20 < b < 0x7f and b != 0x25 else "%%%02X" % b)
    return "".join(out)


def _unesc(v):
    out, i, b = bytearray(), 0, v.encode()
    while i < len(b):
        if b[i] == 0x25:
            out.append(int(b[i + 1:i + 3], 16))
            i += 3
        else:
            out.append(b[i])
            i += 1
    return out.decode()


def encode(direction, fields, key):
    lines = [FIRST[direction]]
    for k in ORDER[direction]:
        vals = fields.get(k)
        for v in (vals if isinstance(vals, list) else [vals]):
            if v not in (None, ""):
                lines.append("%s=%s" % (k, _esc(str(v))))
    body = ("\n".join(lines) + "\n").encode()
    mac = hmac.new(key, body, hashlib.sha256).hexdigest()
    return body + ("mac=%s\n" % mac).encode()


def decode(data, key=None):
    """(direction, fields, mac_ok) of a message; fields' issuer is a list."""
    text = data.decode()
    first, rest = text.split("\n", 1)
    direction = [d for d, f in FIRST.items() if f == first][0]
    fields, mac = {"issuer": []}, None
    for line in rest.splitlines():
        k, v = line.split("=", 1)
        if k == "mac":
            mac = v
        elif k == "issuer":
            fields["issuer"].append(_unesc(v))
        else:
            fields[k] = _unesc(v)
    body = data[:data.rindex(b"mac=")]
    ok = key is not None and mac == hmac.new(key, body, hashlib.sha256).hexdigest()
    return direction, fields, ok


def request(perspective, check, name=None, code=None, issuers=None, method=None, client="hk-primary",
            nonce=None, at=None):
    return {"client": client, "perspective": perspective, "nonce": nonce or secrets.token_hex(16),
            "time": int(at if at is not None else time.time()), "check": check, "name": name, "code": code,
            "method": method, "issuer": issuers or []}


def read_key(path):
    return bytes.fromhex(open(path).read().strip())
