"""Per-key rate limits."""
