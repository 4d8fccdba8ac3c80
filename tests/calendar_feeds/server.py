"""A real HTTP server on 127.0.0.1, in a thread, serving calendars as the channels do.

Each path answers what the test put there: a calendar (with an ETag, answering 304 to a
request that already has it), an error, an HTML page, a redirect. Every request is
recorded with its headers, so a test can see the conditional GET.
"""

from __future__ import annotations

import hashlib
import http.server
import threading
from dataclasses import dataclass, field


@dataclass
class Page:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    etag: bool = True  # answer 304 to If-None-Match of the same body


class CalendarServer:
    def __init__(self):
        self.pages: dict[str, Page] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                server.requests.append((self.path, dict(self.headers.items())))
                page = server.pages.get(self.path, Page(404, b"Not found"))
                headers = dict(page.headers)
                body, status = page.body, page.status
                if page.etag and status == 200:
                    tag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
                    headers["ETag"] = tag
                    if self.headers.get("If-None-Match") == tag:
                        status, body = 304, b""
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def serve(self, path: str, body: bytes | str, *, status: int = 200, **headers) -> str:
        """Answer `body` at `path` from now on; returns the URL."""
        if isinstance(body, str):
            body = body.encode()
        headers.setdefault("Content-Type", "text/calendar; charset=utf-8")
        self.pages[path] = Page(status, body, {k.replace("_", "-"): v for k, v in headers.items()})
        return self.url + path

    def requests_to(self, path: str) -> list[dict[str, str]]:
        return [headers for p, headers in self.requests if p == path]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
