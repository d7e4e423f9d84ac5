"""Benchmarks: the load generator and offline throughput measurement."""

from __future__ import annotations
