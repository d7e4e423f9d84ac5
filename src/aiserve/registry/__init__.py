"""Which models exist, where their artefacts come from, and their load state."""

from __future__ import annotations
