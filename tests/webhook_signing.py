"""Signing Seam webhook deliveries in tests, as Seam's Svix does (the fake never sends any)."""

import base64
import datetime

import svix

SECRET = "whsec_" + base64.b64encode(b"keystay-tests-webhook-secret-32b").decode()


def signed_headers(body: str, *, secret=SECRET, msg_id="msg_1", sent_at=None):
    sent_at = sent_at or datetime.datetime.now(datetime.UTC)
    return {
        "HTTP_SVIX_ID": msg_id,
        "HTTP_SVIX_TIMESTAMP": str(int(sent_at.timestamp())),
        "HTTP_SVIX_SIGNATURE": svix.Webhook(secret).sign(msg_id, sent_at, body),
    }
