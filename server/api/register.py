"""Register import.

POST /api/v1/register/imports?filename=NAME (administrator)
  body: the register file itself, CSV (text/csv) or XLSX
  -> 200 {import_id, filename, rows, inserted, updated, unchanged, rejected_rows,
          errors: [{line, column, value, code, message_id, message_en}],
          entitlements: {added, changed, removed, total} or null}
  Rejected rows are listed and the rest imported in one transaction. A file
  that cannot be read at all, or whose header is invalid, returns 422 with
  the same body and import_id null.
GET /api/v1/register/imports (administrator or auditor) -> 200 {count, imports: [...]}, newest first

NOTE: the server's request body limit (server.app.MAX_BODY_BYTES, 2 MB, about
12,000 CSV rows) applies here too. Import a whole city register with
`kartu server import-register FILE --db URL` on the server machine.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import select

from server.auth import read_body
from server.db import SessionDep
from server.models_register import RegisterImport
from server.periods import utc_datetime
from server.register_import import ImportReport, import_register
from server.api.responses import errors
from server.sessions import AdminCaller, OverseerCaller
from server.settings import SettingsDep

__all__ = ["router", "report_json"]

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/register", tags=["register"])

_FILE_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            media_type: {"schema": {"type": "string", "format": "binary"}}
            for media_type in ("text/csv", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
        },
    }
}


class RowErrorOut(BaseModel):
    line: int
    column: str
    value: str
    code: str
    message_id: str
    message_en: str


class RecomputeOut(BaseModel):
    added: int
    changed: int
    removed: int
    total: int


class ImportOut(BaseModel):
    import_id: int | None
    filename: str
    rows: int
    inserted: int
    updated: int
    unchanged: int
    rejected_rows: int
    errors: list[RowErrorOut]
    entitlements: RecomputeOut | None
    complete: bool = False
    left: int = 0
    """Residents a complete import marked as left."""
    rejection: str | None = None
    """The reason a complete import changed nothing: rejected_rows, too_many_left or confirm_mismatch."""


class ImportSummaryOut(BaseModel):
    import_id: int
    filename: str
    sha256: str
    imported_at: datetime
    rows: int
    rejected_rows: int
    inserted: int
    updated: int
    unchanged: int


class ImportListOut(BaseModel):
    count: int
    imports: list[ImportSummaryOut]


def report_json(report: ImportReport) -> ImportOut:
    """Build the response (and the CLI's JSON output) for an import report."""
    recompute = report.entitlements
    return ImportOut(
        import_id=report.import_id,
        filename=report.filename,
        rows=report.rows,
        inserted=report.inserted,
        updated=report.updated,
        unchanged=report.unchanged,
        rejected_rows=report.rejected_lines,
        errors=[RowErrorOut(**error.__dict__) for error in report.errors],
        entitlements=RecomputeOut(**recompute.__dict__) if recompute else None,
        complete=report.complete,
        left=report.left,
        rejection=report.rejection.reason if report.rejection else None,
    )


@router.post("/imports", response_model=ImportOut, openapi_extra=_FILE_BODY,
             responses={**errors(401, 403), 422: {"model": ImportOut, "description": "the file cannot be read at all"}})
def upload_register(
    request: Request,
    body: Annotated[bytes, Depends(read_body)],
    admin: AdminCaller,
    session: SessionDep,
    settings: SettingsDep,
    filename: Annotated[str, Query(max_length=255, description="file name, kept in the import log")] = "upload",
):
    now = utc_datetime(settings.clock())
    report = import_register(session, body, filename, now, getattr(request.app.state, "household_key", None))
    if report.import_id is None:
        session.rollback()
        return JSONResponse(status_code=422, content=report_json(report).model_dump(mode="json"))
    session.commit()
    return report_json(report)


@router.get("/imports", response_model=ImportListOut, responses=errors(401, 403))
def list_imports(
    caller: OverseerCaller,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=1000, description="most recent imports to list")] = 100,
) -> ImportListOut:
    rows = session.scalars(select(RegisterImport).order_by(RegisterImport.id.desc()).limit(limit)).all()
    return ImportListOut(
        count=len(rows),
        imports=[
            ImportSummaryOut(import_id=row.id, filename=row.filename, sha256=row.sha256, imported_at=row.imported_at,
                             rows=row.rows, rejected_rows=row.rejected, inserted=row.inserted, updated=row.updated,
                             unchanged=row.unchanged)
            for row in rows
        ],
    )
