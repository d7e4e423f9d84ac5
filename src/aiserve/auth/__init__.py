"""API keys and who holds them."""
