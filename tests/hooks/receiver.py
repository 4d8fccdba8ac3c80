"""A real HTTP server on 127.0.0.1, in a thread: the webhook receiver of the tests.

It records every request (method, path, headers, body) and answers from a queue of
prepared answers (then 200 "ok"), so a test can make it fail, redirect or stall.
"""

from __future__ import annotations

import http.server
import ssl
import threading
from collections import deque
from dataclasses import dataclass


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class Receiver:
    def __init__(self, *, tls: ssl.SSLContext | None = None):
        self.requests: list[Received] = []
        self.answers: deque[tuple[int, bytes, dict[str, str]]] = deque()
        self.server_names: list[str | None] = []
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                receiver.requests.append(
                    Received(self.command, self.path, dict(self.headers.items()), body)
                )
                status, content, headers = (
                    receiver.answers.popleft() if receiver.answers else (200, b"ok", {})
                )
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(content)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(content)

            do_GET = do_PUT = do_POST

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        scheme = "http"
        if tls is not None:
            tls.sni_callback = self._note_server_name
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
            scheme = "https"
        self.url = f"{scheme}://127.0.0.1:{self.port}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def _note_server_name(self, sock, server_name, context):
        self.server_names.append(server_name)

    def answer(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None):
        self.answers.append((status, body, headers or {}))

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
