"""Text logs stay one line per record: what a client sends cannot forge a line or move the terminal's cursor."""

from __future__ import annotations

import logging
import sys

import pytest

from aiserve.observability.logging import TextFormatter

pytestmark = pytest.mark.unit


def line(message: str, *args: object, exc: bool = False) -> str:
    record = logging.LogRecord("aiserve.access", logging.INFO, __file__, 1, message, args, None)
    if exc:
        try:
            raise ValueError("boom")
        except ValueError:
            record.exc_info = sys.exc_info()
    return TextFormatter().format(record)


def test_control_characters_in_a_message_are_escaped() -> None:
    text = line("GET %s 404", "/v1/x\r\n2026-01-01 INFO aiserve.admin: key created\x1b[2J\x00")
    assert "\n" not in text
    assert "\r" not in text
    assert "\x1b" not in text
    assert "/v1/x\\x0d\\x0a2026-01-01 INFO" in text
    assert text.endswith("\\x1b[2J\\x00 404")


def test_a_traceback_keeps_its_lines() -> None:
    text = line("failed on %s", "a\nb", exc=True)
    first, *rest = text.split("\n")
    assert first.endswith("failed on a\\x0ab")
    assert rest[0] == "Traceback (most recent call last):"
    assert rest[-1] == "ValueError: boom"
