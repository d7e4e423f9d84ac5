"""Builders that turn packaged weights into servable files. Each needs its own heavy tools (torch, onnx),
imported only while a model is prepared, never by the server at run time."""

from __future__ import annotations
