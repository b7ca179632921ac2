from __future__ import annotations

import uuid
from typing import Any

from flask import Response, jsonify, request

from ..errors import ValidationFailed
from ..services import photos
from . import bp
from .common import caller


@bp.post("/reports/<int:report_id>/photos")
def add_photo(report_id: int) -> Any:
    user = caller()
    upload = request.files.get("photo")
    if upload is None:
        raise ValidationFailed("send the photo as multipart field 'photo'", field="photo")
    raw_id = request.form.get("client_id", "")
    try:
        client_id = str(uuid.UUID(raw_id))
    except ValueError:
        raise ValidationFailed("client_id must be a UUID", field="client_id") from None
    try:
        data = upload.read(photos.MAX_BYTES + 1)
    finally:
        upload.close()
    result = photos.add_photo(user, report_id, client_id, data)
    return jsonify(ok=True, **result), 200 if result["duplicate"] else 201


@bp.get("/reports/<int:report_id>/photos")
def list_photos(report_id: int) -> Any:
    return jsonify(photos.report_photos(caller(), report_id))


@bp.get("/photos/<int:photo_id>")
def get_photo(photo_id: int) -> Any:
    data, content_type = photos.photo_content(caller(), photo_id)
    response = Response(data, mimetype=content_type)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'"
    response.cache_control.private = True
    response.cache_control.max_age = 3600
    return response
