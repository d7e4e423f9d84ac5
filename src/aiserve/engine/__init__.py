"""The model runtime: backends, dynamic batching and the engine facade. Knows nothing of HTTP."""

from __future__ import annotations
