"""Exports of reports and incidents (GeoJSON, CSV): contents, periods and areas, jurisdiction,
sensitive reports, bounds. On SQLite and PostgreSQL (the `app` fixture)."""

from __future__ import annotations

import csv
import doctest
import io
import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from flask import Flask
from flask.testing import FlaskClient
from shapely.geometry import Point, box, shape

from dispatch.extensions import db
from dispatch.models import User
from dispatch.schemas import IncidentCreate, ReportSubmit
from dispatch.services import areas, auth, exports, incidents, reports
from tests.dispatch.test_jurisdiction import E_CELLS, EAST, W_CELLS, WEST, two_counties

BEIJING = ZoneInfo("Asia/Shanghai")
PETITION = "上访-秘密-5521"
FORMULA = '=HYPERLINK("http://x.example/","点我")'
NOVEMBER = "since=2026-11-01&until=2026-11-30"


def at(day: int, hour: int, minute: int = 0, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=BEIJING)


@dataclass
class Seeded:
    client: FlaskClient
    tokens: dict[str, str]
    ids: dict[str, int]

    def get(self, who: str, path: str) -> Any:
        return self.client.get(path, headers={"Authorization": f"Bearer {self.tokens[who]}"})

    def geojson(self, who: str, path: str) -> dict[str, Any]:
        response = self.get(who, path)
        assert response.status_code == 200, response.get_data(as_text=True)
        assert response.mimetype == "application/geo+json"
        return json.loads(response.get_data(as_text=True))  # type: ignore[no-any-return]

    def csv(self, who: str, path: str) -> list[dict[str, str]]:
        response = self.get(who, path)
        assert response.status_code == 200, response.get_data(as_text=True)
        assert response.mimetype == "text/csv"
        text = response.get_data().decode("utf-8")
        assert text.startswith("\ufeff")
        return list(csv.DictReader(io.StringIO(text[1:], newline="")))


@pytest.fixture
def seeded(app: Flask) -> Seeded:
    """East: a fire (made an incident), a petition, a formula, a dispute on the last evening
    of November, a fire just after midnight on 1 December. West: a flood and its incident."""
    with app.app_context():
        areas.save_areas(two_counties())
        for name, role, area in (
            ("admin", "admin", "620100"),
            ("op-e", "operator", EAST),
            ("op-t", "operator", f"{EAST}001"),  # township level: not cleared for petitions
            ("sup-e", "supervisor", EAST),
            ("op-w", "operator", WEST),
            ("lead-e", "team_leader", EAST),
        ):
            auth.create_user(
                username=name, password="x", role=role, area_code=area, password_hash="x"
            )
        for name, cell in (("inf-e", E_CELLS[0]), ("inf-w", W_CELLS[0])):
            auth.create_user(
                username=name, password="x", role="informant", cell_code=cell, password_hash="x"
            )
        users = {u.username: u for u in db.session.scalars(db.select(User))}
        ids: dict[str, int] = {}
        for key, who, category, text, lon, when in (
            ("fire", "inf-e", "fire", "仓库起火", 0.5, at(3, 10)),
            ("petition", "inf-e", "petition", PETITION, 1.5, at(10, 9)),
            ("formula", "inf-e", "other", FORMULA, 2.5, at(15, 12)),
            ("dispute", "inf-e", "dispute", "邻里纠纷", 3.5, at(30, 23, 30)),
            ("december", "inf-e", "fire", "又起火", 4.5, at(1, 0, 10, month=12)),
            ("flood", "inf-w", "flood", "西-秘密-洪水", 6.5, at(5, 8)),
        ):
            with time_machine.travel(when, tick=False):
                ids[key] = reports.submit_report(
                    users[who],
                    ReportSubmit(
                        client_id=uuid.uuid4(), category=category, text=text, lat=0.5, lon=lon
                    ),
                )["report"]["id"]
        for key, who, report in (("incident_e", "op-e", "fire"), ("incident_w", "op-w", "flood")):
            with time_machine.travel(at(5, 11), tick=False):
                ids[key] = incidents.create_incident(
                    users[who], IncidentCreate(report_ids=[ids[report]], title=f"{key}-标题")
                )["incident"]["id"]
        db.session.commit()
        # Long-lived: some tests move the clock past the end of November.
        tokens = {
            u.username: auth.issue_token(u, seconds=400 * 86400)
            for u in db.session.scalars(db.select(User))
        }
    return Seeded(app.test_client(), tokens, ids)


def test_reports_as_geojson(seeded: Seeded) -> None:
    i = seeded.ids
    doc = seeded.geojson("op-e", f"/api/exports/reports.geojson?{NOVEMBER}")
    assert doc["type"] == "FeatureCollection"
    features = doc["features"]
    # Oldest first; the dispute of 30 November 23:30 is in, 1 December is not; west is not.
    assert [f["id"] for f in features] == [i["fire"], i["petition"], i["formula"], i["dispute"]]
    assert doc["gridwatch"]["count"] == 4 and doc["gridwatch"]["area"] == EAST
    east = box(0, 0, 6, 1)
    for feature in features:
        geometry = shape(feature["geometry"])
        assert geometry.geom_type == "Point" and geometry.is_valid and east.contains(geometry)
        props = feature["properties"]
        assert props["id"] == feature["id"] and isinstance(props["id"], int)
        assert props["received_at"].endswith("+08:00")
        assert "lat" not in props and "lon" not in props
    first = features[0]
    assert first["geometry"]["coordinates"] == [0.5, 0.5]  # [lon, lat]
    assert shape(features[1]["geometry"]).equals(Point(1.5, 0.5))
    assert first["properties"]["received_at"] == "2026-11-03T10:00:00+08:00"
    assert first["properties"]["status"] == "promoted"
    assert first["properties"]["incident_id"] == i["incident_e"]
    # A cleared reader (a county operator) reads the petition and who sent it.
    petition = features[1]["properties"]
    assert petition["text"] == PETITION and isinstance(petition["informant_id"], int)


def test_reports_as_csv_parse_back(seeded: Seeded) -> None:
    i = seeded.ids
    response = seeded.get("op-e", f"/api/exports/reports.csv?{NOVEMBER}")
    assert response.headers["Content-Disposition"] == (
        f'attachment; filename="gridwatch-reports-{EAST}-20261101-20261130.csv"'
    )
    assert response.headers["X-Gridwatch-Count"] == "4"
    assert response.get_data().startswith("\ufeffid,received_at,".encode())
    rows = seeded.csv("op-e", f"/api/exports/reports.csv?{NOVEMBER}")
    assert list(rows[0]) == list(exports.REPORT_COLUMNS)
    assert [int(r["id"]) for r in rows] == [i["fire"], i["petition"], i["formula"], i["dispute"]]
    fire, petition, formula, dispute = rows
    assert fire["category"] == "fire" and fire["text"] == "仓库起火"
    assert (float(fire["lon"]), float(fire["lat"])) == (0.5, 0.5)
    assert fire["received_at"] == "2026-11-03T10:00:00+08:00"
    assert fire["incident_id"] == str(i["incident_e"]) and fire["redacted"] == ""
    assert petition["text"] == PETITION and petition["informant_id"]
    assert dispute["received_at"] == "2026-11-30T23:30:00+08:00"
    # A spreadsheet would run the formula: it is kept as text.
    assert formula["text"] == "'" + FORMULA


def test_period_and_area(seeded: Seeded) -> None:
    i = seeded.ids

    def ids(who: str, query: str) -> list[int]:
        doc = seeded.geojson(who, f"/api/exports/reports.geojson?{query}")
        return [f["id"] for f in doc["features"]]

    # A date and time without an offset is Beijing time; since is inclusive, until exclusive.
    assert ids("op-e", "since=2026-11-10T09:00&until=2026-11-30T23:30") == [
        i["petition"],
        i["formula"],
    ]
    assert ids("op-e", "since=2026-11-10T01:00:01Z&until=2026-12-01") == [
        i["formula"],
        i["dispute"],
        i["december"],
    ]
    # An area within the jurisdiction: one cell.
    assert ids("op-e", f"{NOVEMBER}&area={E_CELLS[1]}") == [
        i["petition"],
        i["formula"],
        i["dispute"],
    ]
    assert ids("op-e", f"{NOVEMBER}&category=petition") == [i["petition"]]
    assert ids("op-e", f"{NOVEMBER}&status=promoted") == [i["fire"]]
    # No period: the last 30 days.
    with time_machine.travel(at(1, 12, month=12), tick=False):
        assert ids("op-e", "") == [i["fire"], i["petition"], i["formula"], i["dispute"]] + [
            i["december"]
        ]
        assert ids("op-e", "since=2026-11-20") == [i["dispute"], i["december"]]


def test_jurisdiction(seeded: Seeded) -> None:
    i = seeded.ids
    west = seeded.geojson("op-w", f"/api/exports/reports.geojson?{NOVEMBER}")
    assert [f["id"] for f in west["features"]] == [i["flood"]]
    assert seeded.get("op-w", f"/api/exports/reports.csv?{NOVEMBER}&area={EAST}").status_code == 403
    rows = seeded.csv("op-w", f"/api/exports/incidents.csv?{NOVEMBER}")
    assert [int(r["id"]) for r in rows] == [i["incident_w"]]
    city = seeded.geojson("admin", f"/api/exports/reports.geojson?{NOVEMBER}")
    assert {f["id"] for f in city["features"]} == {
        i[k] for k in ("fire", "petition", "formula", "dispute", "flood")
    }
    assert seeded.csv("sup-e", f"/api/exports/incidents.csv?{NOVEMBER}")[0]["id"] == str(
        i["incident_e"]
    )
    for who in ("inf-e", "lead-e"):
        for name in ("reports.geojson", "reports.csv", "incidents.geojson", "incidents.csv"):
            assert seeded.get(who, f"/api/exports/{name}?{NOVEMBER}").status_code == 403
    assert seeded.client.get("/api/exports/reports.csv").status_code == 401


def test_sensitive_reports_are_redacted_for_readers_not_cleared(seeded: Seeded) -> None:
    i = seeded.ids
    doc = seeded.geojson("op-t", f"/api/exports/reports.geojson?{NOVEMBER}")
    by_id = {f["id"]: f for f in doc["features"]}
    petition = by_id[i["petition"]]
    assert petition["geometry"] is None  # no exact place
    props = petition["properties"]
    assert props["redacted"] is True and props["area_code"] == f"{EAST}001001"
    assert "text" not in props and "cell_code" not in props
    # Who sent a report: never, to a reader not cleared.
    assert not any("informant_id" in f["properties"] for f in doc["features"])
    assert by_id[i["fire"]]["properties"]["text"] == "仓库起火"
    rows = {int(r["id"]): r for r in seeded.csv("op-t", f"/api/exports/reports.csv?{NOVEMBER}")}
    assert rows[i["petition"]]["redacted"] == "true"
    assert rows[i["petition"]]["text"] == rows[i["petition"]]["lat"] == ""
    assert all(r["informant_id"] == "" for r in rows.values())
    for name in ("reports.geojson", "reports.csv"):
        text = seeded.get("op-t", f"/api/exports/{name}?{NOVEMBER}").get_data(as_text=True)
        assert PETITION not in text


def test_incidents(seeded: Seeded) -> None:
    i = seeded.ids
    doc = seeded.geojson("op-e", f"/api/exports/incidents.geojson?{NOVEMBER}")
    [feature] = doc["features"]
    assert feature["id"] == i["incident_e"] and shape(feature["geometry"]).equals(Point(0.5, 0.5))
    props = feature["properties"]
    assert props["report_ids"] == [i["fire"]] and props["status"] == "open"
    assert props["created_at"] == "2026-11-05T11:00:00+08:00"
    rows = seeded.csv("op-e", f"/api/exports/incidents.csv?{NOVEMBER}")
    assert list(rows[0]) == list(exports.INCIDENT_COLUMNS)
    assert rows[0]["title"] == "incident_e-标题" and rows[0]["report_ids"] == str(i["fire"])
    assert seeded.csv("op-e", f"/api/exports/incidents.csv?{NOVEMBER}&status=closed") == []
    assert seeded.get("op-e", "/api/exports/incidents.csv?status=promoted").status_code == 422


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("since=2026-11-30&until=2026-11-01", "since"),
        ("since=2025-01-01&until=2026-11-30", "since"),  # more than 366 days
        ("since=2026-02-30", "since"),
        ("since=yesterday", "since"),
        ("until=2026-11-01T25:00", "until"),
        ("area=6201", "area"),
        ("status=nonsense", "status"),
        ("category=weather", "category"),
        ("limit=5", "limit"),
    ],
)
def test_bad_or_unbounded_queries_are_refused(seeded: Seeded, query: str, field: str) -> None:
    response = seeded.get("op-e", f"/api/exports/reports.csv?{query}")
    assert response.status_code == 422, response.get_data(as_text=True)
    assert response.get_json()["error"]["field"] == field


def test_too_many_rows_are_refused(app: Flask, seeded: Seeded) -> None:
    app.config["GRIDWATCH_EXPORT_MAX_ROWS"] = 3
    response = seeded.get("op-e", f"/api/exports/reports.geojson?{NOVEMBER}")
    assert response.status_code == 422
    assert "narrow" in response.get_json()["error"]["message"]
    assert (
        seeded.get("op-e", f"/api/exports/reports.csv?{NOVEMBER}&category=fire").status_code == 200
    )


def test_many_rows_stream_in_batches(
    app: Flask, seeded: Seeded, monkeypatch: pytest.MonkeyPatch
) -> None:
    """More rows than a batch (and a CSV chunk): every row once, in order."""
    monkeypatch.setattr(exports, "BATCH", 40)
    app.config["RATELIMIT_ENABLED"] = False
    many = 130
    with app.app_context():
        informant = db.session.scalar(db.select(User).where(User.username == "inf-e"))
        assert informant is not None
        start = at(1, 0, month=1)
        for n in range(many):
            with time_machine.travel(start + timedelta(minutes=n), tick=False):
                reports.submit_report(
                    informant,
                    ReportSubmit(
                        client_id=uuid.uuid4(), category="other", text=f"#{n}", lat=0.5, lon=0.5
                    ),
                )
        db.session.commit()
    rows = seeded.csv("op-e", "/api/exports/reports.csv?since=2026-01-01&until=2026-01-31")
    assert [r["text"] for r in rows] == [f"#{n}" for n in range(many)]


def test_the_period_rules_doctests() -> None:
    assert doctest.testmod(exports).failed == 0
