"""Reading an image request that comes either as JSON (base64 / data URL) or as multipart form data."""

from __future__ import annotations

from typing import Any, TypeVar

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from starlette.datastructures import UploadFile

from aiserve.errors import InvalidInput
from aiserve.vision.decode import decode_base64

M = TypeVar("M", bound=BaseModel)


def _body_errors(exc: ValidationError) -> RequestValidationError:
    errors = exc.errors(include_url=False)
    for error in errors:
        error["loc"] = ("body", *error["loc"])
    return RequestValidationError(errors)


async def read_image_request(request: Request, schema: type[M]) -> tuple[M, bytes]:
    """The request's fields and its image bytes. Multipart sends the image in the field `file`, with the other
    fields beside it; JSON sends it base64-encoded in `image`."""
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        return await _multipart(request, schema)
    body = await request.body()
    try:
        parsed = schema.model_validate_json(body)
    except ValidationError as exc:
        raise _body_errors(exc) from None
    return parsed, decode_base64(str(getattr(parsed, "image", "")))


async def _multipart(request: Request, schema: type[M]) -> tuple[M, bytes]:
    try:
        form = await request.form(max_files=1, max_fields=16)
    except Exception as exc:  # python-multipart and Starlette raise several kinds for a malformed body
        raise InvalidInput(f"The multipart body cannot be read: {exc}", param="file") from None
    try:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise InvalidInput("Send the image in the multipart field 'file' (curl -F file=@photo.jpg).", param="file")
        data = await upload.read()
        fields: dict[str, Any] = {k: v for k, v in form.items() if isinstance(v, str)}
        fields["image"] = "multipart"
        fields.setdefault("filename", upload.filename)
        try:
            parsed = schema.model_validate(fields)
        except ValidationError as exc:
            raise _body_errors(exc) from None
    finally:
        await form.close()
    if not data:
        raise InvalidInput("Invalid image: the image is empty.", param="file")
    return parsed, data
