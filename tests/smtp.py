"""A real SMTP server for the tests that check what Keystay emails (aiosmtpd on a free
loopback port; Django's SMTP backend sends to it)."""

import email
import email.policy
import socket
from collections.abc import Iterator
from contextlib import contextmanager

from aiosmtpd.controller import Controller


class Inbox:
    """What the SMTP server received; `refuse` makes it answer every message with an
    error, as a mail server that will not take it."""

    def __init__(self):
        self.envelopes = []
        self.refuse = ""

    async def handle_DATA(self, server, session, envelope):
        if self.refuse:
            return self.refuse
        self.envelopes.append(envelope)
        return "250 Message accepted"

    @property
    def messages(self):
        return [
            email.message_from_bytes(e.content, policy=email.policy.default)
            for e in self.envelopes
        ]

    def bodies(self) -> list[str]:
        return [text_of(m) for m in self.messages]


def text_of(message) -> str:
    """The text of a received email, with the wire's CRLF line ends read as newlines."""
    return message.get_content().replace("\r\n", "\n")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def smtp_server(settings) -> Iterator[Inbox]:
    """Start a server, point Django's email settings at it, and give its inbox."""
    port = free_port()
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_TIMEOUT = 5
    try:
        yield inbox
    finally:
        controller.stop()
