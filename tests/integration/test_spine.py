"""The whole path over real sockets: informant → operator → team leader, and its edges."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from typing import Any

import numpy as np
import shapely

import grid
from tests.conftest import Server
from tests.integration.clients import Recorder

CENTRE = {"lat": 36.0611, "lon": 103.8343}  # Lanzhou's centre, in the demo informant's cell


def _places_in_chengguan() -> Iterator[dict[str, float]]:
    """Places in 城关区 of the demo grid, 2.5 km apart: reports of different tests never
    form one cluster, and the county's operator sees them all."""
    county = next(a.geometry for a in grid.generate_lanzhou(cells=200) if a.code == "620102")
    west, south, east, north = county.bounds
    for lat in np.arange(south, north, 0.025):
        for lon in np.arange(west, east, 0.03):
            if county.contains(shapely.Point(lon, lat).buffer(0.005)):
                yield {"lat": float(lat), "lon": float(lon)}


_places = _places_in_chengguan()


def somewhere() -> dict[str, float]:
    return next(_places)


def report(**overrides: Any) -> dict[str, Any]:
    data = {
        "client_id": str(uuid.uuid4()),
        "category": "fire",
        "text": "仓库起火，有人被困",
        "severity": 4,
        **somewhere(),
    }
    data.update(overrides)
    return data


def ark_team_id(server: Server) -> int:
    teams = server.api("GET", "/api/teams?kind=professional_rescue", "operator").json()
    return next(t["id"] for t in teams if t["name"] == "方舟救援队")


def new_incident(server: Server, informant: Recorder, operator: Recorder, **kw: Any) -> dict:
    ack = informant.call("report:submit", report(**kw))
    assert ack["ok"], ack
    rid = ack["report"]["id"]
    operator.wait_for("report:triaged", lambda d: d["id"] == rid)
    created = operator.call("incident:create", {"report_ids": [rid]})
    assert created["ok"], created
    return created["incident"]


def test_whole_path(
    server: Server, informant: Recorder, operator: Recorder, leader: Recorder
) -> None:
    ack = informant.call("report:submit", report())
    assert ack["ok"] is True and ack["duplicate"] is False
    rep = ack["report"]
    assert rep["cell_code"] and rep["cell_code"].startswith("620102")
    assert rep["status"] == "new"

    new = operator.wait_for("report:new", lambda d: d["report"]["id"] == rep["id"])
    assert new["report"]["category"] == "fire"
    triaged = operator.wait_for("report:triaged", lambda d: d["id"] == rep["id"])
    assert triaged["risk_level"] == "red" and triaged["reasons"]
    updated = informant.wait_for("report:updated", lambda d: d["id"] == rep["id"])
    assert updated["status"] == "triaged"

    queue = server.api("GET", "/api/triage", "operator").json()
    assert any(r["id"] == rep["id"] for r in queue)

    created = operator.call("incident:create", {"report_ids": [rep["id"]]})
    assert created["ok"], created
    incident = created["incident"]
    assert incident["status"] == "open" and incident["report_ids"] == [rep["id"]]

    recs = server.api(
        "GET", f"/api/incidents/{incident['id']}/recommendations?limit=50", "operator"
    ).json()
    assert recs and all("fire" in r["capabilities"] for r in recs)
    # Soonest first; fairness may put a team up to 60 s later ahead of a busier one.
    assert recs[0]["eta_s"] <= min(r["eta_s"] for r in recs) + 60
    ark = ark_team_id(server)
    assert ark in [r["team_id"] for r in recs]

    dispatched = operator.call("incident:dispatch", {"incident_id": incident["id"], "team_id": ark})
    assert dispatched["ok"], dispatched
    task = dispatched["task"]
    offered = leader.wait_for("task:offered", lambda d: d["task"]["id"] == task["id"])
    assert offered["task"]["incident"]["id"] == incident["id"]
    assert offered["task"]["ack_deadline"]

    ack2 = leader.call("task:ack", {"task_id": task["id"]})
    assert ack2["ok"] and ack2["task"]["status"] == "acknowledged"
    for status in ("en_route", "on_scene", "completed"):
        step = leader.call("task:status", {"task_id": task["id"], "status": status})
        assert step["ok"] and step["task"]["status"] == status, step
        operator.wait_for(
            "task:updated",
            lambda d, s=status: d["task"]["id"] == task["id"] and d["task"]["status"] == s,
        )

    operator.wait_for(
        "incident:updated",
        lambda d: d["incident"]["id"] == incident["id"] and d["incident"]["status"] == "resolved",
    )
    statuses = [
        d["incident"]["status"]
        for d in operator.received("incident:updated")
        if d["incident"]["id"] == incident["id"]
    ]
    for expected in ("open", "dispatched", "acknowledged", "on_scene", "resolved"):
        assert expected in statuses
    detail = server.api("GET", f"/api/incidents/{incident['id']}", "operator").json()
    actions = [e["action"] for e in detail["timeline"]]
    assert actions[:2] == ["report.promoted", "incident.created"]
    for expected in (
        "task.offered",
        "task.acknowledged",
        "task.en_route",
        "task.on_scene",
        "task.completed",
    ):
        assert expected in actions
    team = next(t for t in server.api("GET", "/api/teams", "operator").json() if t["id"] == ark)
    assert team["status"] == "returning"
    back = leader.call("team:status", {"status": "available"})
    assert back["ok"] and back["team"]["status"] == "available"
    operator.wait_for(
        "team:updated", lambda d: d["team"]["id"] == ark and d["team"]["status"] == "available"
    )


def test_resubmission_is_idempotent(server: Server, informant: Recorder) -> None:
    data = report(category="flood", text="路面积水")
    first = informant.call("report:submit", data)
    again = informant.call("report:submit", data)
    assert first["ok"] and again["ok"]
    assert again["duplicate"] is True
    assert again["report"]["id"] == first["report"]["id"]
    rest = server.api("POST", "/api/reports", "informant", json=data)
    assert rest.status_code == 200 and rest.json()["report"]["id"] == first["report"]["id"]
    mine = server.api("GET", "/api/reports?limit=5000", "informant").json()
    assert sum(1 for r in mine if r["client_id"] == data["client_id"]) == 1


def test_two_operators_race_for_one_team(
    server: Server, informant: Recorder, operator: Recorder
) -> None:
    other = Recorder(server.url, "/operator", server.token("operator-620102"))
    try:
        incident = new_incident(
            server, informant, operator, category="building_collapse", text="房屋倒塌"
        )
        team_id = server.api(
            "GET", f"/api/incidents/{incident['id']}/recommendations", "operator"
        ).json()[0]["team_id"]
        results: list[dict] = []
        barrier = threading.Barrier(2)

        def go(client: Recorder) -> None:
            barrier.wait()
            results.append(
                client.call(
                    "incident:dispatch", {"incident_id": incident["id"], "team_id": team_id}
                )
            )

        threads = [threading.Thread(target=go, args=(c,)) for c in (operator, other)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert sorted(r["ok"] for r in results) == [False, True], results
        loser = next(r for r in results if not r["ok"])
        assert loser["error"]["code"] == "team_unavailable"
        detail = server.api("GET", f"/api/incidents/{incident['id']}", "operator").json()
        assert len(detail["tasks"]) == 1
    finally:
        other.close()


def test_unacknowledged_task_times_out_and_cascades(
    server: Server, informant: Recorder, operator: Recorder
) -> None:
    incident = new_incident(server, informant, operator, category="missing_person", text="老人走失")
    first_team = server.api(
        "GET", f"/api/incidents/{incident['id']}/recommendations", "operator"
    ).json()[0]["team_id"]
    task = operator.call(
        "incident:dispatch", {"incident_id": incident["id"], "team_id": first_team}
    )["task"]
    # GRIDWATCH_ACK_TIMEOUT_S=3 for this server: the scheduler fires it, nobody sleeps in code.
    timed_out = operator.wait_for(
        "task:updated",
        lambda d: d["task"]["id"] == task["id"] and d["task"]["status"] == "timed_out",
        timeout=20,
    )
    assert timed_out["task"]["team_id"] == first_team
    nxt = operator.wait_for(
        "task:updated",
        lambda d: (
            d["task"]["incident_id"] == incident["id"]
            and d["task"]["id"] != task["id"]
            and d["task"]["status"] == "offered"
        ),
        timeout=20,
    )
    assert nxt["task"]["team_id"] != first_team
    assert nxt["task"]["attempt"] == 2
    detail = server.api("GET", f"/api/incidents/{incident['id']}", "operator").json()
    actions = [e["action"] for e in detail["timeline"]]
    assert "task.timed_out" in actions and actions.count("task.offered") >= 2


def test_worker_broadcast_reaches_operator(
    server: Server, informant: Recorder, operator: Recorder
) -> None:
    """report:triaged is emitted by the RQ worker process, through Redis."""
    ack = informant.call("report:submit", report(category="dispute", text="邻里纠纷"))
    got = operator.wait_for("report:triaged", lambda d: d["id"] == ack["report"]["id"])
    assert got["risk_level"] in {"red", "orange", "yellow", "blue"}


def test_county_operator_sees_only_their_county(server: Server, informant: Recorder) -> None:
    xigu = Recorder(server.url, "/operator", server.token("operator-620104"))
    chengguan = Recorder(server.url, "/operator", server.token("operator-620102"))
    try:
        ack = informant.call("report:submit", report(category="medical", text="有人昏迷"))
        rid = ack["report"]["id"]
        chengguan.wait_for("report:new", lambda d: d["report"]["id"] == rid)
        chengguan.wait_for("report:triaged", lambda d: d["id"] == rid)
        assert not [d for d in xigu.received("report:new") if d["report"]["id"] == rid]
        assert server.api("GET", f"/api/reports/{rid}", "operator-620104").status_code == 404
        queue = server.api("GET", "/api/triage", "operator-620104").json()
        assert all(r["area_code"].startswith("620104") for r in queue)
    finally:
        xigu.close()
        chengguan.close()
