"""The one exception ``grid/`` raises for bad input."""

from __future__ import annotations

from collections.abc import Iterable


class GridError(ValueError):
    """Input that cannot become a valid area hierarchy.

    Every problem found is listed, one clear line each, so a caller can print them all
    at once instead of fixing one error per run.

    Parameters
    ----------
    problems : iterable of str
        One line per problem (feature index, code, what is wrong).
    warnings : iterable of str, optional
        Non-fatal findings gathered before the failure (e.g. repaired polygons).

    Examples
    --------
    >>> err = GridError(["feature 0: no geometry", "feature 2: duplicate code 620102"])
    >>> err.problems
    ['feature 0: no geometry', 'feature 2: duplicate code 620102']
    >>> print(err)
    2 problems:
    feature 0: no geometry
    feature 2: duplicate code 620102
    >>> isinstance(err, ValueError)
    True
    """

    def __init__(self, problems: Iterable[str] | str, warnings: Iterable[str] = ()) -> None:
        self.problems: list[str] = [problems] if isinstance(problems, str) else list(problems)
        self.warnings: list[str] = list(warnings)
        super().__init__(self._message())

    def _message(self) -> str:
        if len(self.problems) == 1:
            return self.problems[0]
        return "\n".join([f"{len(self.problems)} problems:", *self.problems])
