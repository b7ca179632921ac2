"""grid.check_hierarchy: parents, containment, sibling overlaps and gaps, with tolerance."""

from __future__ import annotations

from shapely import box

from grid import Area, check_hierarchy, generate_lanzhou

COUNTY = Area("620102", "城关区", "county", "620100", box(103.8, 36.0, 103.9, 36.1))


def township(code: str, *bounds: float) -> Area:
    return Area(code, code, "township", "620102", box(*bounds))


def test_a_clean_partition_has_no_problem_and_no_gap() -> None:
    a = township("620102001", 103.8, 36.0, 103.85, 36.1)
    b = township("620102002", 103.85, 36.0, 103.9, 36.1)
    report = check_hierarchy([COUNTY, a, b])
    assert report.problems == [] and report.warnings == []


def test_overlap_thicker_than_tolerance_is_a_problem() -> None:
    a = township("620102001", 103.8, 36.0, 103.86, 36.1)
    b = township("620102002", 103.85, 36.0, 103.9, 36.1)
    [problem] = check_hierarchy([COUNTY, a, b]).problems
    assert problem.startswith("feature 2 (code 620102002): overlaps sibling 620102001")


def test_sliver_thinner_than_tolerance_is_not() -> None:
    # 0.0001° of longitude is about 9 m here: a digitising difference, not an overlap.
    a = township("620102001", 103.8, 36.0, 103.8501, 36.1)
    b = township("620102002", 103.85, 36.0, 103.9, 36.1)
    assert check_hierarchy([COUNTY, a, b], tolerance_m=50).problems == []
    assert check_hierarchy([COUNTY, a, b], tolerance_m=1).problems != []


def test_child_outside_parent_and_missing_parent() -> None:
    outside = township("620102001", 103.85, 36.0, 104.0, 36.1)
    orphan = Area("620103001", "x", "township", "620103", box(0, 0, 1, 1))
    problems = check_hierarchy([COUNTY, outside, orphan]).problems
    assert any("620102001" in p and "outside its parent 620102" in p for p in problems)
    assert any("parent 620103 is neither in the file nor stored" in p for p in problems)


def test_stored_parent_and_stored_siblings_count() -> None:
    stored = {"620102": COUNTY, "620102001": township("620102001", 103.8, 36.0, 103.86, 36.1)}
    new = township("620102002", 103.85, 36.0, 103.9, 36.1)
    [problem] = check_hierarchy([new], stored).problems
    assert "feature 0 (code 620102002): overlaps sibling 620102001" in problem
    # Re-importing a stored area replaces it: it is not its own sibling.
    again = township("620102001", 103.8, 36.0, 103.85, 36.1)
    assert check_hierarchy([again], stored).problems == []


def test_gap_is_a_warning() -> None:
    a = township("620102001", 103.8, 36.0, 103.84, 36.1)
    b = township("620102002", 103.86, 36.0, 103.9, 36.1)
    report = check_hierarchy([COUNTY, a, b])
    assert report.problems == []
    [warning] = report.warnings
    assert warning.startswith("area 620102:") and "not covered" in warning


def test_the_demo_grid_is_a_proper_hierarchy() -> None:
    report = check_hierarchy(generate_lanzhou(cells=2000))
    assert report.problems == [] and report.warnings == []
