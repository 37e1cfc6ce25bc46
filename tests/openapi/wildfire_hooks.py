"""Schemathesis hooks: signs every WildfireChat admin call as the vendor's
server SDKs do (headers nonce, timestamp, sign = SHA-1 hex of
nonce|secret|timestamp), with a fresh nonce each time (confab refuses a
replayed one). The secret comes from CONFAB_WILDFIRE_SECRET."""

import hashlib
import os
import time
import uuid

import schemathesis


@schemathesis.hook
def before_call(ctx, case, **kwargs):
    secret = os.environ["CONFAB_WILDFIRE_SECRET"]
    nonce = uuid.uuid4().hex
    timestamp = str(int(time.time() * 1000))
    sign = hashlib.sha1(f"{nonce}|{secret}|{timestamp}".encode()).hexdigest()
    if case.headers is None:
        case.headers = {}
    case.headers.update({"nonce": nonce, "timestamp": timestamp, "sign": sign})
