"""Handles on work the service's workers do: comparisons and benchmarks."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, TypeVar

from .errors import SimbenchError
from .progress import progress_bar
from .results import BenchmarkResults, Distances, Pairs

if TYPE_CHECKING:
    from .client import Client

#: Statuses of work still being done.
PENDING = frozenset({"queued", "running"})

RunT = TypeVar("RunT", bound="_Run")


class _Run:
    """What comparisons and benchmarks share: a state refreshed from the service, and a wait."""

    _path: str

    def __init__(self, client: Client, state: dict[str, Any]) -> None:
        self.client = client
        self.json = state

    @property
    def id(self) -> int:
        """Its id."""
        return int(self.json["id"])

    @property
    def status(self) -> str:
        """``queued``, ``running``, ``done``, ``failed`` (benchmarks also ``stale``,
        comparisons also ``cancelled``), as of the last refresh."""
        return str(self.json["status"])

    def refresh(self: RunT) -> RunT:
        """Fetches the current state."""
        self.json = self.client._call("GET", f"{self._path}/{self.id}")
        return self

    def _counts(self) -> tuple[int, int]:
        raise NotImplementedError

    def _pending(self) -> bool:
        return self.status in PENDING

    def wait(
        self: RunT, progress: bool = True, timeout: float | None = None, poll: float = 0.5
    ) -> RunT:
        """Waits until nothing of it is queued or running, showing a tqdm bar of the work done
        when ``progress`` is set and tqdm is installed. Raises :class:`~simbench.SimbenchError`
        (code ``timeout``) after ``timeout`` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        done, total = self._counts()
        with progress_bar(total, "pairs", progress) as bar:
            shown = 0
            while True:
                done, total = self._counts()
                if hasattr(bar, "total") and bar.total != total:
                    bar.total = total
                bar.update(done - shown)
                shown = done
                if not self._pending():
                    return self
                if deadline is not None and time.monotonic() > deadline:
                    raise SimbenchError(
                        None,
                        "timeout",
                        f"{self._path}/{self.id} is still {self.status} ({done}/{total}) "
                        f"after {timeout} s; are workers running?",
                    )
                time.sleep(poll)
                self.refresh()


class Comparison(_Run):
    """A request for distances (``POST /v1/comparisons``)."""

    _path = "/v1/comparisons"

    def __init__(self, client: Client, state: dict[str, Any], representations: list[int]) -> None:
        super().__init__(client, state)
        self.representations = representations

    def _counts(self) -> tuple[int, int]:
        return int(self.json.get("done", 0)) + int(self.json.get("failed", 0)), int(
            self.json.get("total", 0)
        )

    def _pending(self) -> bool:
        return int(self.json.get("queued", 0)) + int(self.json.get("running", 0)) > 0

    def cancel(self) -> Comparison:
        """Cancels what is still queued (jobs no other comparison needs)."""
        self.json = self.client._call("DELETE", f"{self._path}/{self.id}")
        return self

    def results(self) -> Distances:
        """The distances computed between its representations, for its metrics."""
        wanted = set(self.representations)
        metrics = set(self.json.get("metrics", []))
        rows: dict[tuple[str, int, int], dict[str, Any]] = {}
        for representation in self.representations:
            for row in self.client.distances(rep=representation):
                key = (row["metric"], row["rep_a"], row["rep_b"])
                if row["metric"] in metrics and {row["rep_a"], row["rep_b"]} <= wanted:
                    rows[key] = row
        return Distances(rows=[rows[key] for key in sorted(rows)])


class Benchmark(_Run):
    """A benchmark (``POST /v1/benchmarks``): its definition, status and progress."""

    _path = "/v1/benchmarks"

    @property
    def name(self) -> str:
        """Its name."""
        return str(self.json["name"])

    @property
    def left_out(self) -> list[dict[str, Any]]:
        """Representations of the selection left out, with the reason."""
        return list(self.json.get("left_out", []))

    def _counts(self) -> tuple[int, int]:
        progress = self.json.get("progress", {})
        done = int(progress.get("done", 0)) + int(progress.get("failed", 0))
        return done, int(progress.get("total", 0))

    def results(self) -> BenchmarkResults:
        """The correlation table, per metric and per group."""
        return BenchmarkResults(self.client._call("GET", f"{self._path}/{self.id}/results"))

    def pairs(self, metric: str, group: Any = None) -> Pairs:
        """The (x, y) points behind one group's statistics (``group`` may be left out when
        there is a single group)."""
        params = {"metric": metric, "group": None if group is None else str(group)}
        return Pairs(self.client._call("GET", f"{self._path}/{self.id}/pairs", params=params))

    def run(self) -> Benchmark:
        """Runs it again on the data as they are now (after it turned ``stale``)."""
        self.json = self.client._call("POST", f"{self._path}/{self.id}/run")
        return self

    def publish(self) -> Benchmark:
        """Puts it on the leaderboard."""
        self.json = self.client._call("POST", f"{self._path}/{self.id}/publish")
        return self

    def unpublish(self) -> Benchmark:
        """Takes it off the leaderboard."""
        self.json = self.client._call("POST", f"{self._path}/{self.id}/unpublish")
        return self

    def delete(self) -> None:
        """Deletes it (the distances it computed stay, for reuse)."""
        self.client._call("DELETE", f"{self._path}/{self.id}")
