"""The Lanzhou demo: real division codes, a generated grid, teams and users to try it with."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import shapely
from rich.console import Console
from rich.progress import Progress
from werkzeug.security import check_password_hash, generate_password_hash

import grid

from ..extensions import db
from ..models import Area, InformantAssignment, Team, User
from .areas import save_areas
from .uow import audit, use_case

DEMO_PASSWORD = "gridwatch-demo"
# The logins the demo prints: (username, role, what it is).
LOGINS = (
    ("admin", "admin", "系统管理员 · whole city"),
    ("supervisor", "supervisor", "市级督导 · whole city"),
    ("operator", "operator", "市指挥中心 · whole city"),
    ("operator-620102", "operator", "城关区指挥中心 · one county"),
    ("informant", "informant", "演示信息员 · cell {cell}"),
    ("leader", "team_leader", "方舟救援队队长"),
)

# Ten professional squads: name, capabilities, home county (for the base position).
PROFESSIONAL_SQUADS: list[tuple[str, list[str], str]] = [
    (
        "方舟救援队",
        ["rescue", "search", "water", "mountain", "collapse", "medical", "fire"],
        "620102",
    ),
    ("金城应急救援队", ["rescue", "search", "collapse", "medical"], "620102"),
    ("黄河水上救援队", ["rescue", "water", "search"], "620105"),
    ("皋兰山地救援队", ["rescue", "mountain", "search"], "620122"),
    ("七里河综合救援队", ["rescue", "collapse", "fire", "medical"], "620103"),
    ("西固危化救援队", ["rescue", "hazmat", "fire"], "620104"),
    ("红古应急救援队", ["rescue", "search", "mountain", "water"], "620111"),
    ("永登山地救援队", ["rescue", "mountain", "search", "medical"], "620121"),
    ("榆中应急救援队", ["rescue", "collapse", "mountain", "search"], "620123"),
    ("安宁医疗救护队", ["rescue", "medical", "search"], "620105"),
]
VOLUNTEER_CAPABILITIES = ["rescue", "search", "fire", "first_aid"]


@dataclass
class DemoSummary:
    areas: int = 0
    cells: int = 0
    teams: dict[str, int] = field(default_factory=dict)
    users: dict[str, int] = field(default_factory=dict)
    logins: list[tuple[str, str, str]] = field(default_factory=list)


def database_is_empty() -> bool:
    return db.session.scalar(db.select(User.id).limit(1)) is None and (
        db.session.scalar(db.select(Area.code).limit(1)) is None
    )


def seed(*, cells: int = 2000, seed_value: int = 0, progress: Console | None = None) -> DemoSummary:
    """Generate and store the demo; one transaction, so a failure leaves nothing behind."""
    console = progress or Console(stderr=True, quiet=True)
    with Progress(console=console, transient=True) as bar:
        step = bar.add_task("generating the Lanzhou grid", total=None)
        areas = grid.generate_lanzhou(cells=cells, seed=seed_value)
        bar.update(step, description="writing areas, teams and users")
        summary = _store(areas)
        bar.update(step, completed=1, total=1)
    return summary


@use_case
def _store(areas: list[grid.Area]) -> DemoSummary:
    summary = DemoSummary()
    save_areas(areas)
    summary.areas = len(areas)
    by_level: dict[str, list[grid.Area]] = {}
    for area in areas:
        by_level.setdefault(area.level, []).append(area)
    summary.cells = len(by_level.get("cell", []))
    counties = {a.code: a for a in by_level["county"]}
    password_hash = generate_password_hash(DEMO_PASSWORD)

    teams: list[dict[str, Any]] = []
    # Squads are based at their county seat (the real DataV centre); 方舟救援队 downtown.
    seats = {c.code: shapely.Point(c.lon, c.lat) for c in grid.county_info()}
    downtown = shapely.Point(grid.LANZHOU_CENTER_LON + 0.004, grid.LANZHOU_CENTER_LAT - 0.003)
    for name, caps, home in PROFESSIONAL_SQUADS:
        base = downtown if name == "方舟救援队" else seats[home]
        if not counties[home].geometry.contains(base):
            base = counties[home].geometry.representative_point()
        teams.append(_team(name, "professional_rescue", caps, grid.CITY_CODE, base, 24))
    for village in by_level["village"]:
        teams.append(
            _team(
                f"{village.name}退役军人志愿服务队",
                "volunteer",
                VOLUNTEER_CAPABILITIES,
                village.code,
                village.geometry.representative_point(),
                15,
            )
        )
    for township in by_level["township"]:
        teams.append(
            _team(
                f"{township.name}老兵工作室",
                "mediation",
                ["mediation"],
                township.code,
                township.geometry.representative_point(),
                4,
            )
        )
    for county in by_level["county"]:
        centre = county.geometry.representative_point()
        teams.append(
            _team(
                f"{county.name}老兵调解工作室", "mediation", ["mediation"], county.code, centre, 6
            )
        )
        teams.append(
            _team(f"{county.name}扶贫济困服务队", "relief", ["relief"], county.code, centre, 10)
        )
    db.session.execute(db.insert(Team), teams)
    for kind in ("professional_rescue", "volunteer", "mediation", "relief"):
        summary.teams[kind] = sum(1 for t in teams if t["kind"] == kind)

    users: list[dict[str, Any]] = [
        _user("admin", "admin", grid.CITY_CODE, password_hash, "系统管理员"),
        _user("supervisor", "supervisor", grid.CITY_CODE, password_hash, "市级督导"),
        _user("operator", "operator", grid.CITY_CODE, password_hash, "市指挥中心值班员"),
    ]
    for county in by_level["county"]:
        users.append(
            _user(
                f"operator-{county.code}",
                "operator",
                county.code,
                password_hash,
                f"{county.name}指挥中心值班员",
            )
        )
        users.append(
            _user(
                f"supervisor-{county.code}",
                "supervisor",
                county.code,
                password_hash,
                f"{county.name}督导",
            )
        )
    centre_cell = grid.CellIndex(by_level["cell"]).locate(
        grid.LANZHOU_CENTER_LON, grid.LANZHOU_CENTER_LAT
    )
    for cell in by_level["cell"]:
        users.append(
            _user(
                f"informant-{cell.code}",
                "informant",
                cell.code,
                password_hash,
                f"{cell.name}信息员",
            )
        )
    if centre_cell is not None:
        users.append(_user("informant", "informant", centre_cell, password_hash, "演示信息员"))
    db.session.execute(db.insert(User), users)

    ids = dict(db.session.execute(db.select(User.username, User.id)).all())
    assignments = [
        {"user_id": ids[u["username"]], "cell_code": u["area_code"]}
        for u in users
        if u["role"] == "informant"
    ]
    db.session.execute(db.insert(InformantAssignment), assignments)
    for row in assignments:  # the bulletins read coverage from the audit log
        audit(
            "informant.assigned",
            "user",
            row["user_id"],
            area_code=row["cell_code"],
            after={"cell_code": row["cell_code"]},
        )

    leaders = []
    team_rows = db.session.execute(db.select(Team.id, Team.name, Team.area_code)).all()
    for team_id, name, area_code in team_rows:
        username = "leader" if name == "方舟救援队" else f"leader-{team_id}"
        leaders.append(_user(username, "team_leader", area_code, password_hash, f"{name}队长"))
    db.session.execute(db.insert(User), leaders)
    ids = dict(db.session.execute(db.select(User.username, User.id)).all())
    for (team_id, _, _), leader in zip(team_rows, leaders, strict=True):
        db.session.execute(
            db.update(Team).where(Team.id == team_id).values(leader_id=ids[leader["username"]])
        )
    for role in ("admin", "supervisor", "operator", "informant", "team_leader"):
        summary.users[role] = sum(1 for u in users + leaders if u["role"] == role)
    summary.logins = [(name, role, about.format(cell=centre_cell)) for name, role, about in LOGINS]
    audit(
        "demo.seeded",
        "grid",
        "-",
        after={"areas": summary.areas, "teams": len(teams), "users": len(users) + len(leaders)},
    )
    return summary


def _team(
    name: str, kind: str, caps: list[str], area_code: str, point: Any, members: int
) -> dict[str, Any]:
    return {
        "name": name,
        "kind": kind,
        "capabilities": caps,
        "area_code": area_code,
        "base_lat": point.y,
        "base_lon": point.x,
        "members": members,
        "status": "available",
    }


def _user(
    username: str, role: str, area_code: str, password_hash: str, display_name: str
) -> dict[str, Any]:
    return {
        "username": username,
        "role": role,
        "area_code": area_code,
        "password_hash": password_hash,
        "display_name": display_name,
        "active": True,
        "token_version": 0,
    }


def logins_text(summary: DemoSummary | None) -> str:
    lines = []
    if summary is not None:
        lines.append(
            f"Seeded {summary.areas} areas ({summary.cells} cells), teams {summary.teams}, "
            f"users {summary.users}."
        )
    lines.append(f"Demo logins (password for all: {DEMO_PASSWORD}):")
    lines += [
        "  admin            admin, whole city",
        "  supervisor       supervisor, whole city",
        "  operator         operator, whole city  (operator-620102 … one per county)",
        "  informant        informant, a cell in 城关区  (informant-<cell code> for every cell)",
        "  leader           team leader of 方舟救援队  (leader-<team id> for every team)",
    ]
    return "\n".join(lines)


def refuse_demo_accounts() -> None:
    """In production no account may still open with the demo password: not the logins the
    demo prints, nor any of the thousands of accounts it seeds with one shared hash."""
    shared = (
        db.select(User.password_hash)
        .where(User.active.is_(True))
        .group_by(User.password_hash)
        .having(db.func.count() > 1)
    )
    named = db.select(User.password_hash).where(
        User.active.is_(True), User.username.in_([name for name, _, _ in LOGINS])
    )
    for password_hash in set(db.session.scalars(shared)) | set(db.session.scalars(named)):
        if check_password_hash(password_hash, DEMO_PASSWORD):
            user = db.session.scalar(
                db.select(User)
                .where(User.password_hash == password_hash, User.active.is_(True))
                .order_by(User.id)
                .limit(1)
            )
            assert user is not None
            raise RuntimeError(
                f"the account {user.username!r} (and any other with the same hash) still has "
                f"the demo password; disable or re-password such accounts (`gridwatch users "
                f"disable {user.username}`) or start from an empty database in production"
            )
