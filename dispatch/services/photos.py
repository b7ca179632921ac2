"""Photos of what an informant reports: checked for what they really are, bounded, stored
once per client id."""

from __future__ import annotations

from typing import Any

from ..errors import Forbidden, NotFound, ValidationFailed
from ..extensions import db
from ..models import Photo, Report, User
from ..realtime import names
from . import privacy
from .access import check_read_report
from .uow import IntegrityError, audit, use_case
from .views import iso, report_view

MAX_BYTES = 2 * 1024 * 1024
MAX_PER_REPORT = 5


def sniff_image(data: bytes) -> str | None:
    """The image type by its first bytes, whatever the client claimed.

    >>> sniff_image(bytes.fromhex("ffd8ffe0") + b"rest"), sniff_image(b"<svg>")
    ('image/jpeg', None)
    """
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def photo_view(photo: Photo) -> dict[str, Any]:
    return {
        "id": photo.id,
        "client_id": photo.client_id,
        "report_id": photo.report_id,
        "content_type": photo.content_type,
        "size": photo.size,
        "created_at": iso(photo.created_at),
    }


def add_photo(user: User, report_id: int, client_id: str, data: bytes) -> dict[str, Any]:
    """Attach a photo to the informant's own report; a retry returns the first result."""
    first = db.session.scalar(db.select(Photo).where(Photo.client_id == client_id))
    if first is not None:
        if first.uploaded_by != user.id:
            raise ValidationFailed("client_id already used", field="client_id")
        return {"photo": photo_view(first), "duplicate": True}
    try:
        return {"photo": photo_view(_store(user, report_id, client_id, data)), "duplicate": False}
    except IntegrityError:
        first = db.session.scalar(db.select(Photo).where(Photo.client_id == client_id))
        if first is None:
            raise
        return {"photo": photo_view(first), "duplicate": True}


@use_case
def _store(user: User, report_id: int, client_id: str, data: bytes) -> Photo:
    report = db.session.get(Report, report_id)
    if report is None or report.informant_id != user.id:
        raise NotFound("no such report of yours", field="report_id")
    if not data:
        raise ValidationFailed("the photo is empty", field="photo")
    if len(data) > MAX_BYTES:
        raise ValidationFailed(
            f"the photo is larger than {MAX_BYTES // (1024 * 1024)} MB; send a smaller one",
            field="photo",
        )
    content_type = sniff_image(data)
    if content_type is None:
        raise ValidationFailed("only JPEG, PNG or WebP photos are accepted", field="photo")
    if report.photo_count >= MAX_PER_REPORT:
        raise ValidationFailed(f"a report has at most {MAX_PER_REPORT} photos", field="photo")
    photo = Photo(
        client_id=client_id,
        report_id=report.id,
        uploaded_by=user.id,
        content_type=content_type,
        size=len(data),
        data=data,
    )
    db.session.add(photo)
    report.photo_count += 1
    db.session.flush()
    audit(
        "photo.added",
        "report",
        report.id,
        actor=user,
        area_code=report.area_code,
        after={"photo_id": photo.id, "size": len(data), "content_type": content_type},
    )
    privacy.emit_report(names.REPORT_UPDATED, report, {"report": report_view(report)})
    return photo


def _readable_report(user: User, report_id: int | None) -> Report:
    report = check_read_report(user, db.session.get(Report, report_id))
    if not privacy.may_read_content(user, report):
        raise NotFound("no such report")
    return report


def report_photos(user: User, report_id: int) -> list[dict[str, Any]]:
    report = _readable_report(user, report_id)
    rows = db.session.scalars(
        db.select(Photo).where(Photo.report_id == report.id).order_by(Photo.id)
    )
    return [photo_view(p) for p in rows]


def photo_content(user: User, photo_id: int) -> tuple[bytes, str]:
    photo = db.session.get(Photo, photo_id)
    if photo is None:
        raise NotFound("no such photo")
    try:
        _readable_report(user, photo.report_id)
    except (NotFound, Forbidden):
        raise NotFound("no such photo") from None
    return photo.data, photo.content_type
