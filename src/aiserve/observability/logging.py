"""Logging set-up: one JSON object per line (or plain text), request ids carried as fields."""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from typing import Any

import orjson

from aiserve.settings import ObservabilitySettings

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message",
    "asctime",
    "taskName",
    "color_message",  # uvicorn's copy of the message with terminal colours
}


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON line; fields passed with `extra=` become keys."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as JSON."""
        data: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        data.update({k: v for k, v in record.__dict__.items() if k not in _STANDARD})
        if record.exc_info:
            data["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(data, default=str).decode()


_CONTROL = {c: f"\\x{c:02x}" for c in (*range(0x20), 0x7F)}
"""Control characters as escapes: `\\n` in a path must not start a forged log line."""


class TextFormatter(logging.Formatter):
    """`time level logger: message`, one line per record: control characters in the message are escaped (a
    traceback, which is ours, keeps its lines)."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 - logging's name
        """The line, with the message's control characters escaped."""
        return super().formatMessage(record).translate(_CONTROL)


class _AiserveHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The handler aiserve installs; marked so that configuring again replaces it instead of adding another."""


def configure_logging(settings: ObservabilitySettings) -> None:
    """Send aiserve's and uvicorn's logs to stderr in the configured format."""
    handler = _AiserveHandler(sys.stderr)
    fmt = settings.log_format
    if fmt == "auto":
        fmt = "text" if sys.stderr.isatty() else "json"
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(TextFormatter())
    root = logging.getLogger()
    # replace only our own handler, so handlers an embedding program (or a test runner) installed survive
    root.handlers[:] = [h for h in root.handlers if not isinstance(h, _AiserveHandler)] + [handler]
    root.setLevel(settings.log_level.upper())
    logging.getLogger("httpx").setLevel(logging.WARNING)
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.access").disabled = True  # aiserve writes its own access log
