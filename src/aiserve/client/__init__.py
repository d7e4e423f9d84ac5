"""The aiserve SDK: `Client` and `AsyncClient`, typed answers from `aiserve.protocol`, one exception per failure.

from aiserve.client import Client
client = Client()  # AISERVE_BASE_URL, AISERVE_API_KEY
vector = client.embeddings.create("hello", model="all-minilm-l6-v2").data[0].embedding
"""

from aiserve.client.aio import AsyncClient, AsyncStream
from aiserve.client.errors import (
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    InternalServerError,
    LengthFinishReasonError,
    NotFoundError,
    OverloadedError,
    PermissionDeniedError,
    RateLimitError,
)
from aiserve.client.sync import Client, Stream

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "APITimeoutError",
    "AsyncClient",
    "AsyncStream",
    "AuthenticationError",
    "BadRequestError",
    "Client",
    "ConflictError",
    "InternalServerError",
    "LengthFinishReasonError",
    "NotFoundError",
    "OverloadedError",
    "PermissionDeniedError",
    "RateLimitError",
    "Stream",
]
