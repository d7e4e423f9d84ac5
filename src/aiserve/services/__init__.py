"""Use cases behind the routes: validate a request, run it on the engine, shape the answer."""

from __future__ import annotations
