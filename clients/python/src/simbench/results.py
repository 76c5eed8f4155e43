"""Tables the service computes, each with ``.to_frame()`` for a pandas DataFrame whose columns
carry the API's names."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

#: The statistics of a benchmark's metric and of each of its groups, in the API's names.
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
        """One row per metric (best first, indexed by ``metric``): each benchmark's mean
        Spearman ρ under the benchmark's name, then ``mean_spearman``, ``mean_rank`` and
        ``n_benchmarks``."""
        pandas = _pandas()
        names = _column_names(self.json["benchmarks"])
        records = []
        for row in self.json["rows"]:
            cells = {cell["benchmark"]: cell.get("spearman") for cell in row["cells"]}
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
    statistics."""

    json: dict[str, Any] = field(repr=False)

    @property
    def partial(self) -> bool:
        """Whether some distances are still missing."""
        return bool(self.json.get("partial"))

    def metric(self, name: str) -> dict[str, Any]:
        """One metric's results as the API gives them."""
        return dict(self.json["metrics"][name])

    def to_frame(self, groups: bool = False) -> pd.DataFrame:
        """One row per metric (``groups=False``: its mean over groups, with ``n_groups``), or
        one row per metric and group (``groups=True``, with ``group`` and ``reference``)."""
        pandas = _pandas()
        records = []
        for metric, result in self.json["metrics"].items():
            if groups:
                for group in result.get("groups", []):
                    record = {"metric": metric, "group": group.get("group")}
                    record["reference"] = group.get("reference")
                    record.update({key: _number(group.get(key)) for key in STATISTICS})
                    records.append(record)
            else:
                record = {"metric": metric}
                record.update({key: _number(result.get(key)) for key in STATISTICS})
                record["n_groups"] = result.get("n_groups")
                records.append(record)
        key_columns = ["metric", "group", "reference"] if groups else ["metric"]
        tail = [] if groups else ["n_groups"]
        return pandas.DataFrame.from_records(records, columns=[*key_columns, *STATISTICS, *tail])


@dataclass(frozen=True)
class Pairs:
    """``GET /v1/benchmarks/{id}/pairs``: the (x, y) points behind one group's statistics,
    x = d(first, second) and y = |f(first) − f(second)|."""

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
