"""What the database holds, read directly: the source of truth the faults must not corrupt."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

CHUNK = 500


def _utc(value: datetime | str | None) -> datetime | None:
    """A stored UTC time, aware (SQLite hands raw queries a naive string)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value is not None and value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value


@dataclass
class Row:
    id: int
    client_id: str
    status: str
    triaged_at: datetime | None


class Store:
    """Read-only queries on the server's database (SQLite file or PostgreSQL)."""

    def __init__(self, url: str) -> None:
        self.engine = sa.create_engine(url, poolclass=sa.NullPool)

    def close(self) -> None:
        self.engine.dispose()

    def _chunks(self, values: Iterable[Any]) -> Iterator[list[Any]]:
        items = list(values)
        for start in range(0, len(items), CHUNK):
            yield items[start : start + CHUNK]

    def reports(self, client_ids: Iterable[str]) -> dict[str, list[Row]]:
        """Every stored row for each client_id (more than one would be a duplicate)."""
        found: dict[str, list[Row]] = {}
        query = sa.text(
            "SELECT id, client_id, status, triaged_at FROM reports WHERE client_id IN :ids"
        ).bindparams(sa.bindparam("ids", expanding=True))
        with self.engine.connect() as conn:
            for chunk in self._chunks(client_ids):
                for row in conn.execute(query, {"ids": chunk}):
                    found.setdefault(row.client_id, []).append(
                        Row(row.id, row.client_id, row.status, _utc(row.triaged_at))
                    )
        return found

    def by_id(self, report_ids: Iterable[int]) -> dict[int, Row]:
        query = sa.text(
            "SELECT id, client_id, status, triaged_at FROM reports WHERE id IN :ids"
        ).bindparams(sa.bindparam("ids", expanding=True))
        with self.engine.connect() as conn:
            return {
                row.id: Row(row.id, row.client_id, row.status, _utc(row.triaged_at))
                for chunk in self._chunks(report_ids)
                for row in conn.execute(query, {"ids": chunk})
            }

    def audit_count(self, action: str, report_ids: Iterable[int]) -> Counter[int]:
        """How many `action` audit events each report has (triage must write exactly one)."""
        counts: Counter[int] = Counter()
        query = sa.text(
            "SELECT entity_id, COUNT(*) AS n FROM audit_events "
            "WHERE entity_type = 'report' AND action = :action AND entity_id IN :ids "
            "GROUP BY entity_id"
        ).bindparams(sa.bindparam("ids", expanding=True))
        with self.engine.connect() as conn:
            for chunk in self._chunks(str(i) for i in report_ids):
                for row in conn.execute(query, {"action": action, "ids": chunk}):
                    counts[int(row.entity_id)] = int(row.n)
        return counts

    def informants(self, count: int) -> list[str]:
        query = sa.text(
            "SELECT username FROM users WHERE role = 'informant' AND username LIKE 'informant-%' "
            "ORDER BY username LIMIT :n"
        )
        with self.engine.connect() as conn:
            return [row.username for row in conn.execute(query, {"n": count})]

    def followups(self, report_ids: Iterable[int]) -> Counter[int]:
        """Must-talk follow-ups opened per report (triage opens at most one)."""
        counts: Counter[int] = Counter()
        query = sa.text(
            "SELECT report_id, COUNT(*) AS n FROM followups WHERE report_id IN :ids "
            "GROUP BY report_id"
        ).bindparams(sa.bindparam("ids", expanding=True))
        with self.engine.connect() as conn:
            for chunk in self._chunks(report_ids):
                for row in conn.execute(query, {"ids": chunk}):
                    counts[int(row.report_id)] = int(row.n)
        return counts
