"""Deployment recipes rendered from the settings: an nginx site in front of aiserve."""
