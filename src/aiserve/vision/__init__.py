"""Images in: decoding untrusted bytes safely, and turning them into model input. PIL and numpy only."""

from __future__ import annotations
