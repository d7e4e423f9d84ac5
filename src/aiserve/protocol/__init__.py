"""Wire models shared by the server and the SDK. A leaf: imports pydantic only."""

from __future__ import annotations
