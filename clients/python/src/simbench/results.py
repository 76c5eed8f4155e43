"""Tables the service computes, each with ``.to_frame()`` for a pandas DataFrame whose columns
carry the API's names."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

#: The statistics of a correlation benchmark's metric and of each of its groups, in the API's
#: names.
STATISTICS = (
    "spearman",
    "spearman_p",
    "kendall",
    "kendall_p",
    "bad_frac",
    "n_pairs",
    "n_refused",
    "n_missing",
)

#: The figures of each kind of benchmark (the results' ``kind``), per metric and per group.
FIGURES = {
    "correlation": STATISTICS,
    "separation": ("auprc", "violation_rate", "n_refused", "n_missing"),
    "monotonicity": ("correlation", "violation_rate", "n_refused", "n_missing"),
}

#: The figures of each design class of a separation benchmark's group.
CLASS_FIGURES = ("n_in", "n_cross", "auprc", "violation_rate", "chance")


def _pandas() -> Any:
    try:
        import pandas
    except ImportError as error:
        raise ImportError(
            "to_frame() needs pandas: pip install 'simbench-client[pandas]'"
        ) from error
    return pandas


class DistanceMatrix(np.ndarray):
    """A square float64 array: ``[i, j]`` = d(representations[i], representations[j]), NaN
    where not computed or refused. ``metric`` and ``representations`` say what it holds."""

    metric: str
    representations: list[int]

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> DistanceMatrix:
        """Reads ``GET /v1/distances/matrix``."""
        values = [
            [np.nan if value is None else float(value) for value in row] for row in body["values"]
        ]
        size = len(body["representations"])
        matrix = np.asarray(values, dtype=np.float64).reshape(size, size).view(cls)
        matrix.metric = body["metric"]
        matrix.representations = [int(item) for item in body["representations"]]
        return matrix

    def __array_finalize__(self, source: Any) -> None:
        self.metric = getattr(source, "metric", "")
        self.representations = getattr(source, "representations", [])

    def to_frame(self) -> pd.DataFrame:
        """The matrix with representation ids on both axes."""
        pandas = _pandas()
        ids = pandas.Index(self.representations, name="representation")
        return pandas.DataFrame(np.asarray(self), index=ids, columns=ids.copy())


@dataclass(frozen=True)
class Leaderboard:
    """``GET /v1/leaderboard``: metrics across published benchmarks, best first."""

    json: dict[str, Any] = field(repr=False)

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> Leaderboard:
        """Reads ``GET /v1/leaderboard``."""
        return cls(json=body)

    @property
    def benchmarks(self) -> list[dict[str, Any]]:
        """The published benchmarks, one per column."""
        return list(self.json["benchmarks"])

    @property
    def metrics(self) -> list[str]:
        """The metrics, best first."""
        return [row["metric"] for row in self.json["rows"]]

    def to_frame(self) -> pd.DataFrame:
        """One row per metric (best first, indexed by ``metric``): each benchmark's value in
        the statistic it ranks by (its column's ``statistic``: mean Spearman ρ, AUPRC or
        monotonicity correlation) under the benchmark's name, then ``mean_spearman``,
        ``mean_rank`` and ``n_benchmarks``."""
        pandas = _pandas()
        names = _column_names(self.json["benchmarks"])
        records = []
        for row in self.json["rows"]:
            cells = {cell["benchmark"]: cell.get("value") for cell in row["cells"]}
            record: dict[str, Any] = {"metric": row["metric"]}
            for benchmark in self.json["benchmarks"]:
                record[names[benchmark["id"]]] = _number(cells.get(benchmark["id"]))
            for key in ("mean_spearman", "mean_rank", "n_benchmarks"):
                record[key] = _number(row.get(key))
            records.append(record)
        columns = ["metric", *names.values(), "mean_spearman", "mean_rank", "n_benchmarks"]
        return pandas.DataFrame.from_records(records, columns=columns).set_index("metric")


@dataclass(frozen=True)
class BenchmarkResults:
    """``GET /v1/benchmarks/{id}/results``: per metric, the mean over groups and each group's
    figures, in the form of the benchmark's ``kind`` (README, "Grounding tests")."""

    json: dict[str, Any] = field(repr=False)

    @property
    def partial(self) -> bool:
        """Whether some distances are still missing."""
        return bool(self.json.get("partial"))

    @property
    def kind(self) -> str:
        """``correlation``, ``separation`` or ``monotonicity``."""
        return str(self.json.get("kind", "correlation"))

    @property
    def statistic(self) -> str:
        """The benchmark value's statistic: ``spearman``, ``auprc`` or ``correlation``."""
        return str(self.json.get("statistic", "spearman"))

    def metric(self, name: str) -> dict[str, Any]:
        """One metric's results as the API gives them."""
        return dict(self.json["metrics"][name])

    def to_frame(self, groups: bool = False) -> pd.DataFrame:
        """One row per metric (``groups=False``: its mean over groups, with ``n_groups``), or
        one row per metric and group (``groups=True``, with ``group``, and ``reference`` for
        the correlation kind or ``model`` and ``n_layers`` for monotonicity); the figures are
        the kind's (:data:`FIGURES`)."""
        pandas = _pandas()
        figures = FIGURES.get(self.kind, STATISTICS)
        extra = {"correlation": ("reference",), "monotonicity": ("model", "n_layers")}
        group_keys = ("group", *extra.get(self.kind, ())) if groups else ()
        records = []
        for metric, result in self.json["metrics"].items():
            if groups:
                for group in result.get("groups", []):
                    record = {"metric": metric}
                    record.update({key: group.get(key) for key in group_keys})
                    record.update({key: _number(group.get(key)) for key in figures})
                    records.append(record)
            else:
                record = {"metric": metric}
                record.update({key: _number(result.get(key)) for key in figures})
                record["n_groups"] = result.get("n_groups")
                records.append(record)
        tail = [] if groups else ["n_groups"]
        columns = ["metric", *group_keys, *figures, *tail]
        return pandas.DataFrame.from_records(records, columns=columns)

    def classes_frame(self) -> pd.DataFrame:
        """A separation benchmark's design classes: one row per metric, group and class, with
        :data:`CLASS_FIGURES`; empty for the other kinds."""
        records = []
        for metric, result in self.json["metrics"].items():
            for group in result.get("groups", []):
                for design_class in group.get("classes", []):
                    record = {"metric": metric, "group": group.get("group")}
                    record["class"] = design_class.get("class")
                    record.update({key: _number(design_class.get(key)) for key in CLASS_FIGURES})
                    records.append(record)
        columns = ["metric", "group", "class", *CLASS_FIGURES]
        return _pandas().DataFrame.from_records(records, columns=columns)


@dataclass(frozen=True)
class Pairs:
    """``GET /v1/benchmarks/{id}/pairs``: the (x, y) points behind one group's statistics,
    x = d(first, second) and y the pair's functional difference (correlation kinds), 1 across
    design classes and 0 within one (separation), or the layers between them
    (monotonicity)."""

    json: dict[str, Any] = field(repr=False)

    @property
    def rows(self) -> list[dict[str, Any]]:
        """The points as the API gives them."""
        return list(self.json["rows"])

    def to_frame(self) -> pd.DataFrame:
        """Columns ``first``, ``second``, ``x``, ``y``."""
        return _pandas().DataFrame.from_records(
            self.json["rows"], columns=["first", "second", "x", "y"]
        )


@dataclass(frozen=True)
class Distances:
    """Distance rows (``GET /v1/distances``) of one comparison's representations."""

    rows: list[dict[str, Any]]

    def to_frame(self) -> pd.DataFrame:
        """Columns ``metric``, ``rep_a``, ``rep_b``, ``value``, ``refusal``."""
        return _pandas().DataFrame.from_records(
            self.rows, columns=["metric", "rep_a", "rep_b", "value", "refusal"]
        )


def _column_names(benchmarks: list[dict[str, Any]]) -> dict[int, str]:
    """A column name per benchmark: its name, or ``name#id`` when two share a name."""
    counts: dict[str, int] = {}
    for benchmark in benchmarks:
        counts[benchmark["name"]] = counts.get(benchmark["name"], 0) + 1
    return {
        benchmark["id"]: benchmark["name"]
        if counts[benchmark["name"]] == 1
        else f"{benchmark['name']}#{benchmark['id']}"
        for benchmark in benchmarks
    }


def _number(value: Any) -> Any:
    return np.nan if value is None else value
