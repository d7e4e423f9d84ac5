"""Storage of users, API keys and the usage ledger."""
