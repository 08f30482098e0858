"""Small fake FHIR endpoints on 127.0.0.1 for the runner's tests (stdlib HTTP server in a thread)."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

Handler = Callable[[str, str, dict[str, str], bytes], tuple[int, dict[str, str], Any]]


class FakeServer:
    """Answers every request with ``handle(method, path?query, headers, body) -> (status, headers, json)``."""

    def __init__(self, handle: Handler) -> None:

        class _H(BaseHTTPRequestHandler):
            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                status, headers, data = handle(
                    self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body
                )
                raw = b"" if data is None else json.dumps(data).encode()
                self.send_response(status)
                for k, v in {"Content-Type": "application/fhir+json", **headers}.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            do_GET = do_POST = do_PUT = do_DELETE = _any

            def log_message(self, *args: Any) -> None:
                return

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _H)
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def query(path: str) -> dict[str, list[str]]:
    return parse_qs(urlparse(path).query)


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
