"""The `aiserve` command line."""

from __future__ import annotations
