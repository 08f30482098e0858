"""A fake OpenAI-compatible Chat Completions server (real HTTP on 127.0.0.1), answering in the documented shapes.

It checks what a real endpoint checks (bearer key, ``model``, ``messages`` with valid roles) and,
for these tests, that none of the ``forbidden`` strings (a test patient's identifiers) appear
anywhere in the request. Behaviours are scripted per request: ``ok`` (the default: an answer built
from the prompt), ``429``, ``quota``, ``401``, ``500``, ``slow`` and ``garbage``.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

KEY = "sk-test-0123456789"
ANSWER_MODEL = "gpt-test-2026-01-01"
ROLES = {"system", "developer", "user", "assistant", "tool"}
FACT = re.compile(r"^(R\d+) \| (\w+) \| (.*)$", re.M)
SECTION_OF = {"Condition": "problems", "MedicationRequest": "medications", "MedicationStatement": "medications",
              "AllergyIntolerance": "allergies", "Observation": "results", "Immunization": "immunizations",
              "Procedure": "procedures", "Encounter": "encounters", "Appointment": "appointments"}


def error(message: str, type_: str, code: str | None, param: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def summary_answer(body: dict[str, Any]) -> str:
    """One statement per fact, citing it; plus an overview citing two things that were never sent."""
    user = next(m["content"] for m in body["messages"] if m["role"] == "user")
    sections: dict[str, list[dict[str, Any]]] = {}
    for alias, res_type, text in FACT.findall(user):
        sections.setdefault(SECTION_OF.get(res_type, "overview"), []).append({"text": text, "sources": [alias]})
    overview = [{"text": "Overall the record is stable.", "sources": ["R9999", "Condition/made-up"]}]
    return json.dumps({"sections": [{"key": "overview", "statements": overview}]
                       + [{"key": k, "statements": v} for k, v in sections.items()]})


def triage_answer(body: dict[str, Any]) -> str:
    return json.dumps({"careLevel": "self-care", "reasons": ["Mild symptoms for a short time."],
                       "advice": "Rest, drink fluids, and book a visit if it lasts more than a week."})


def default_answer(body: dict[str, Any]) -> str:
    system = next((m["content"] for m in body["messages"] if m["role"] == "system"), "")
    return triage_answer(body) if "careLevel" in system else summary_answer(body)


class FakeOpenAI:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.script: list[str] = []
        self.answer: Callable[[dict[str, Any]], str] = default_answer
        self.forbidden: list[str] = []
        self.slow_seconds = 3.0
        self.lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def start(self) -> FakeOpenAI:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def reset(self) -> None:
        with self.lock:
            self.requests.clear()
            self.script.clear()
            self.answer = default_answer
            self.forbidden = []

    def _next(self) -> str:
        with self.lock:
            return self.script.pop(0) if self.script else "ok"

    def respond(self, headers: dict[str, str], raw: str) -> tuple[int, dict[str, str], Any]:
        """(status, extra headers, JSON body) for one request."""
        try:
            body = json.loads(raw)
        except ValueError:
            return 400, {}, error("We could not parse the JSON body of your request.", "invalid_request_error", None)
        with self.lock:
            self.requests.append({"headers": headers, "raw": raw, "body": body})
        if headers.get("authorization") != f"Bearer {KEY}":
            return 401, {}, error("Incorrect API key provided: sk-***. Check the key.", "invalid_request_error",
                                  "invalid_api_key")
        if not isinstance(body.get("model"), str):
            return 400, {}, error("you must provide a model parameter", "invalid_request_error", None, "model")
        msgs = body.get("messages")
        if not isinstance(msgs, list) or not msgs or any(
                not isinstance(m, dict) or m.get("role") not in ROLES for m in msgs):
            return 400, {}, error("Invalid 'messages'.", "invalid_request_error", None, "messages")
        leaked = [s for s in self.forbidden if s.lower() in raw.lower()]
        if leaked:
            return 400, {}, error(f"identifiers in the prompt: {leaked}", "invalid_request_error", "phi", "messages")
        behaviour = self._next()
        if behaviour == "429":
            return 429, {"retry-after": "7", "retry-after-ms": "5", "x-ratelimit-remaining-tokens": "0"}, error(
                "Rate limit reached for gpt-test on tokens per min (TPM). Please try again in 7s.", "tokens",
                "rate_limit_exceeded")
        if behaviour == "quota":
            return 429, {"x-should-retry": "false"}, error("You exceeded your current quota.", "insufficient_quota",
                                                           "insufficient_quota")
        if behaviour == "401":
            return 401, {}, error("Incorrect API key provided.", "invalid_request_error", "invalid_api_key")
        if behaviour == "500":
            return 500, {"x-should-retry": "false"}, error("The server had an error.", "server_error", None)
        if behaviour == "slow":
            time.sleep(self.slow_seconds)
        content = "Sure! Here is your summary." if behaviour == "garbage" else self.answer(body)
        return 200, {}, completion(content)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                if self.path not in ("/v1/chat/completions", "/chat/completions"):
                    self._send(404, {}, error(f"Unknown path {self.path}", "invalid_request_error", None))
                    return
                raw = self.rfile.read(int(self.headers.get("content-length") or 0)).decode()
                headers = {k.lower(): v for k, v in self.headers.items()}
                self._send(*fake.respond(headers, raw))

            def _send(self, status: int, headers: dict[str, str], body: Any) -> None:
                data = json.dumps(body).encode()
                try:
                    self.send_response(status)
                    self.send_header("content-type", "application/json")
                    self.send_header("x-request-id", f"req_fake{len(fake.requests):06d}")
                    for k, v in headers.items():
                        self.send_header(k, v)
                    self.send_header("content-length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


def completion(content: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-FAKE0001", "object": "chat.completion", "created": 1772735000, "model": ANSWER_MODEL,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content, "refusal": None,
                                             "annotations": []}, "logprobs": None, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 100, "completion_tokens": 50, "total_tokens": 150},
        "system_fingerprint": "fp_fake0001",
    }
