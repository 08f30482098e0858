"""Structured logs (JSON Lines, https://jsonlines.org: one object per record) carrying each request's id.

``configure(fmt, level)`` puts one handler on the root logger, writing to stderr either JSON lines
(``fmt="json"``) or plain text (``fmt="text"``). Every record carries the id of the request it was
logged under (``request_id``, from a context variable the observability middleware sets), so an
error logged deep inside an interaction can be matched with the access line and the client's
``X-Request-ID``. The access log (``fhir_server.access``) is one record per request, off unless
``enable_access_log()`` was called (``serve --access-log`` / ``FHIR_ACCESS_LOG=1``).
"""

from __future__ import annotations

import logging
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

import orjson

REQUEST_ID: ContextVar[str | None] = ContextVar("fhir_request_id", default=None)
ACCESS = logging.getLogger("fhir_server.access")
FORMATS = ("json", "text")
_STANDARD = frozenset(vars(logging.makeLogRecord({})))  # attributes every LogRecord has
_STANDARD_PLUS = _STANDARD | {"message", "asctime", "request_id", "fields", "color_message"}
_IN_ACCESS_MESSAGE = ("method", "path", "status", "duration_ms")  # the access message says these already


class RequestIdFilter(logging.Filter):
    """Stamp each record with the current request's id (None outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = REQUEST_ID.get()
        return True


def _extra(record: logging.LogRecord) -> dict[str, Any]:
    """What the caller passed with ``extra=``: ``fields`` (a dict) and any other non-standard attribute."""
    out: dict[str, Any] = {}
    fields = getattr(record, "fields", None)
    if isinstance(fields, dict):
        out.update(fields)
    for key, value in vars(record).items():
        if key not in _STANDARD_PLUS:
            out[key] = value
    return out


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, request id, extra fields, exception."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "pid": record.process,
        }
        rid = getattr(record, "request_id", None)
        if rid is not None:
            entry["request_id"] = rid
        entry.update(_extra(record))
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return orjson.dumps(entry, default=str).decode()


class TextFormatter(logging.Formatter):
    """``time LEVEL logger [request id] message key=value…`` for people reading a terminal."""

    def format(self, record: logging.LogRecord) -> str:
        when = datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
        rid = getattr(record, "request_id", None)
        line = f"{when} {record.levelname} {record.name}{f' [{rid}]' if rid else ''} {record.getMessage()}"
        extra = _extra(record)
        if record.name == ACCESS.name:
            for key in _IN_ACCESS_MESSAGE:
                extra.pop(key, None)
        line += "".join(f" {k}={v}" for k, v in extra.items() if v not in ("", None))
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        if record.stack_info:
            line += "\n" + self.formatStack(record.stack_info)
        return line


class _Handler(logging.StreamHandler):  # type: ignore[type-arg]
    """Our root handler: writes to whatever ``sys.stderr`` is when it writes (and is told apart from others)."""

    def __init__(self, stream: Any = None) -> None:
        super().__init__()

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


def formatter(fmt: str) -> logging.Formatter:
    if fmt not in FORMATS:
        raise ValueError(f"log format must be json or text, not {fmt!r}")
    return JsonFormatter() if fmt == "json" else TextFormatter()


def configure(fmt: str = "json", level: str | int = "WARNING", *, force: bool = True) -> None:
    """Log to stderr in ``fmt`` (json | text) at ``level``; replaces what an earlier call installed.

    ``force=False`` leaves a root logger that has someone else's handlers alone (as ``logging.basicConfig``
    does), e.g. when the command runs inside a test runner that captures logs.
    """
    handler_format = formatter(fmt)
    root = logging.getLogger()
    if not force and any(not isinstance(h, _Handler) for h in root.handlers):
        return
    for old in [h for h in root.handlers if isinstance(h, _Handler)]:
        root.removeHandler(old)
    handler = _Handler()
    handler.setFormatter(handler_format)
    handler.addFilter(RequestIdFilter())
    root.addHandler(handler)
    root.setLevel(level.upper() if isinstance(level, str) else level)


def enable_access_log(on: bool = True) -> None:
    """The access log is INFO records: let them through whatever the root level is."""
    ACCESS.setLevel(logging.INFO if on else logging.WARNING)


def access(method: str, path: str, status: int, seconds: float, fields: dict[str, Any]) -> None:
    """The access line of one request."""
    fields["method"] = method
    fields["path"] = path
    fields["status"] = status
    fields["duration_ms"] = round(seconds * 1000, 3)
    ACCESS.info("%s %s %d %.3f ms", method, path, status, seconds * 1000, extra={"fields": fields})


def current_request_id() -> str | None:
    """The id of the request being handled (the client's ``X-Request-ID`` or one made up), None outside one."""
    return REQUEST_ID.get()


def dict_config(fmt: str, level: str | int, access_log: bool) -> dict[str, Any]:
    """The same set-up as a ``logging.config.dictConfig`` dict: uvicorn applies it in each worker process."""
    formatter(fmt)  # refuse an unknown format here, in the parent
    klass = "JsonFormatter" if fmt == "json" else "TextFormatter"
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": f"{__name__}.RequestIdFilter"}},
        "formatters": {"fhir": {"()": f"{__name__}.{klass}"}},
        "handlers": {"stderr": {"class": f"{__name__}._Handler", "formatter": "fhir", "filters": ["request_id"],
                                "stream": "ext://sys.stderr"}},
        "root": {"handlers": ["stderr"], "level": level.upper() if isinstance(level, str) else level},
        "loggers": {
            "uvicorn": {"handlers": [], "propagate": True},
            "uvicorn.error": {"handlers": [], "propagate": True},
            ACCESS.name: {"level": "INFO" if access_log else "WARNING"},
        },
    }
