"""Reading an image request that comes either as JSON (base64 or a data URL in `image`) or as multipart form data
(the file in `file`, the other fields beside it). The image is handed on as it came; the service decodes it."""

from __future__ import annotations

from typing import Any, TypeVar

from fastapi import Request
from fastapi.encoders import jsonable_encoder
from pydantic import ValidationError
from starlette.datastructures import UploadFile

from aiserve.api.errors import from_validation
from aiserve.errors import InvalidInput
from aiserve.protocol.classify import ImageOptions, ImagePayload

OptionsT = TypeVar("OptionsT", bound=ImageOptions)


def _body_errors(exc: ValidationError) -> InvalidInput:
    errors: list[dict[str, Any]] = jsonable_encoder(exc.errors(include_url=False, include_input=False))
    for error in errors:
        error["loc"] = ["body", *error["loc"]]
    return from_validation(errors)


async def read_image_request(
    request: Request, options: type[OptionsT], payload: type[ImagePayload]
) -> tuple[OptionsT, bytes | str]:
    """The request's options and its image: raw bytes from multipart, the base64 text from JSON. `payload` is the
    JSON body's schema, `options` with `image` added."""
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        return await _multipart(request, options)
    try:
        parsed = payload.model_validate_json(await request.body())
    except ValidationError as exc:
        raise _body_errors(exc) from None
    assert isinstance(parsed, options)
    return parsed, parsed.image


async def _multipart(request: Request, options: type[OptionsT]) -> tuple[OptionsT, bytes]:
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
        fields.setdefault("filename", upload.filename)
        try:
            parsed = options.model_validate(fields)
        except ValidationError as exc:
            raise _body_errors(exc) from None
    finally:
        await form.close()
    if not data:
        raise InvalidInput("Invalid image: the image is empty.", param="file")
    return parsed, data
