"""Where the client finds its server and key when not told: `AISERVE_BASE_URL`, `AISERVE_API_KEY`, and the same
names in a `.env` file in the working directory."""

from __future__ import annotations

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_BASE_URL = "http://127.0.0.1:8000"


class ClientSettings(BaseSettings):
    """The client's defaults from the environment."""

    model_config = SettingsConfigDict(env_prefix="AISERVE_", env_file=".env", extra="ignore")

    base_url: str = DEFAULT_BASE_URL
    api_key: SecretStr | None = None
    timeout: float = 30.0
    max_retries: int = 2
