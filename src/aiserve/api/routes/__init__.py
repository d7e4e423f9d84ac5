"""One thin router per resource."""

from __future__ import annotations
