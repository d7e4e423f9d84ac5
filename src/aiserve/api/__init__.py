"""The HTTP transport: thin routes, one error table, middleware."""

from __future__ import annotations
