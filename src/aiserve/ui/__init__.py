"""The web console's files, served at `/ui`: HTML, CSS and ES modules written by hand, with uPlot vendored; no build
step, no inline script or style."""

from __future__ import annotations

from pathlib import Path

STATIC = Path(__file__).parent / "static"
"""The folder the console is served from; `index.html` is `/ui/`."""
