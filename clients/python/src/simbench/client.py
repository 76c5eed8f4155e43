"""The client: one keep-alive session to a simbench service."""

from __future__ import annotations

import email.utils
import io
import os
import random
import time
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Callable, Union

import numpy as np
import requests

from . import bodies
from .errors import ConflictError, InvalidInputError, ServerError, SimbenchError, error_for
from .progress import progress_bar
from .records import Dataset, Model, Representation, Score
from .results import DistanceMatrix, Leaderboard
from .runs import Benchmark, Comparison

#: Where the client looks when neither ``url`` nor ``SIMBENCH_URL`` says otherwise.
DEFAULT_URL = "http://127.0.0.1:8080"
#: Statuses after which a request is sent again: rate limited, and the gateway or the service
#: momentarily unable to answer.
RETRY_STATUSES = frozenset({429, 502, 503, 504})
#: The service takes up to 10 000 scores per request; half of that keeps bodies small.
SCORE_BATCH = 5_000
#: The service takes up to 10 000 distances per ``PUT /v1/distances``.
DISTANCE_BATCH = 10_000
#: Items asked for per page when a list is followed to its end.
PAGE_LIMIT = 500

ModelRef = Union[Model, int, str]
DatasetRef = Union[Dataset, str]
RepresentationRef = Union[Representation, int]
ScoreTarget = Union[Representation, Model]


class Client:
    """A simbench service at ``url`` (else ``SIMBENCH_URL``, else http://127.0.0.1:8080), called
    with the bearer ``token`` (else ``SIMBENCH_TOKEN``).

    Requests answered 429, 502, 503 or 504 are sent again, up to ``max_retries`` times, after
    the wait the answer's ``Retry-After`` asks for or else an exponential backoff from
    ``backoff`` seconds; no other 4xx is retried. A refused request raises a
    :class:`~simbench.SimbenchError` subclass carrying the problem's ``status``, ``code`` and
    ``detail``.
    """

    def __init__(
        self,
        url: str | None = None,
        token: str | None = None,
        *,
        timeout: float = 300.0,
        max_retries: int = 8,
        backoff: float = 0.5,
        max_wait: float = 60.0,
    ) -> None:
        self.url = (url or os.environ.get("SIMBENCH_URL") or DEFAULT_URL).rstrip("/")
        token = token if token is not None else os.environ.get("SIMBENCH_TOKEN")
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_wait = max_wait
        self.session = requests.Session()
        self.session.headers["User-Agent"] = "simbench-client-python"
        if token and token.strip():
            self.session.headers["Authorization"] = f"Bearer {token.strip()}"

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        """Closes the session's connections."""
        self.session.close()

    # Datasets and models

    def dataset(self, name: str, n_rows: int | None = None) -> Dataset:
        """The dataset called ``name``, created (with ``n_rows`` when given) if missing.

        Raises :class:`~simbench.ConflictError` when it exists with another row count.
        """
        existing = self._find_dataset(name)
        if existing is None:
            body: dict[str, Any] = {"name": name}
            if n_rows is not None:
                body["n_rows"] = n_rows
            try:
                return Dataset.from_json(self._call("POST", "/v1/datasets", json=body))
            except ConflictError as error:
                existing = self._find_dataset(name)
                if existing is None:
                    raise error from None
        if n_rows is not None and existing.n_rows is not None and existing.n_rows != n_rows:
            raise ConflictError(
                409,
                "dataset_conflict",
                f"dataset {name!r} has {existing.n_rows} rows, not {n_rows}",
            )
        return existing

    def datasets(self, name: str | None = None) -> Iterator[Dataset]:
        """Every dataset (or the one called ``name``), following the pages to the end."""
        for item in self._pages("/v1/datasets", {"name": name}):
            yield Dataset.from_json(item)

    def model(
        self,
        name: str,
        metadata: Mapping[str, Any] | None = None,
        tags: Iterable[str] | None = None,
    ) -> Model:
        """The model called ``name``, registered with ``metadata`` and ``tags`` if missing.

        An existing model is returned as it is when it agrees with the ``metadata`` and ``tags``
        given; otherwise :class:`~simbench.ConflictError` says what differs, and nothing is
        overwritten (``PATCH /v1/models/{id}`` is the way to change a model).
        """
        tag_list = list(tags) if tags is not None else None
        existing = self._find_model(name)
        if existing is None:
            body: dict[str, Any] = {"name": name}
            if metadata is not None:
                body["metadata"] = dict(metadata)
            if tag_list is not None:
                body["tags"] = tag_list
            try:
                return Model.from_json(self._call("POST", "/v1/models", json=body))
            except ConflictError as error:
                existing = self._find_model(name)
                if existing is None:
                    raise error from None
        differences = []
        if metadata is not None and existing.metadata != dict(metadata):
            differences.append(f"metadata {existing.metadata} (asked: {dict(metadata)})")
        if tag_list is not None and sorted(existing.tags) != sorted(tag_list):
            differences.append(f"tags {existing.tags} (asked: {tag_list})")
        if differences:
            raise ConflictError(
                409,
                "model_conflict",
                f"model {name!r} exists with {' and '.join(differences)}; "
                "nothing was changed (use another name, or PATCH the model)",
                {"model": existing.json},
            )
        return existing

    def models(
        self,
        name: str | None = None,
        tags: Iterable[str] | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> Iterator[Model]:
        """Models carrying every tag in ``tags`` whose metadata has each ``key: value`` of
        ``metadata`` (compared as text), following the pages to the end."""
        params: dict[str, Any] = {"name": name}
        params["tag"] = list(tags or [])
        params["metadata"] = [f"{key}={value}" for key, value in (metadata or {}).items()]
        for item in self._pages("/v1/models", params):
            yield Model.from_json(item)

    def delete_model(self, model: ModelRef, cascade: bool = False) -> None:
        """Deletes a model; ``cascade=True`` also deletes its representations."""
        model_id = self._model_id(model)
        self._call("DELETE", f"/v1/models/{model_id}", params={"cascade": _flag(cascade)})

    # Representations

    def upload(
        self,
        model: ModelRef,
        dataset: DatasetRef,
        layer: int,
        data: Any,
        layer_name: str | None = None,
        replace: bool = False,
        tensor: str | None = None,
    ) -> Representation:
        """Uploads one layer's activations (rows = examples, columns = features).

        ``data`` is a numpy array, anything with ``__array__``, a torch tensor (bfloat16 ones
        are sent as safetensors BF16, which the service keeps exactly as float32), or the path
        of a ``.npy`` or ``.safetensors`` file, streamed from disk without being read whole
        (``tensor`` picks one tensor of a file holding several). A model given by name is
        created when missing. The same matrix again returns the stored representation
        (``created`` is False); another matrix for the same model, dataset and layer raises
        :class:`~simbench.ConflictError` unless ``replace=True``.
        """
        model_id = self._model_id(model)
        make_body = bodies.body_factory(data, tensor)
        params: dict[str, Any] = {
            "dataset": _dataset_name(dataset),
            "layer": int(layer),
            "layer_name": layer_name,
            "replace": _flag(replace) if replace else None,
        }
        response = self._send(
            "POST",
            f"/v1/models/{model_id}/representations",
            params=params,
            make_body=make_body,
            idempotent=True,
        )
        return Representation.from_json(_json(response), created=response.status_code == 201)

    def upload_many(
        self,
        model: ModelRef,
        dataset: DatasetRef,
        layers: Mapping[int, Any],
        replace: bool = False,
        progress: bool = False,
    ) -> dict[int, Representation]:
        """Uploads every layer of a model: ``layers[layer]`` is what :meth:`upload` takes as
        ``data``. Returns the representations by layer."""
        model_id = self._model_id(model)
        uploaded: dict[int, Representation] = {}
        with progress_bar(len(layers), "layers", progress) as bar:
            for layer, data in layers.items():
                uploaded[layer] = self.upload(model_id, dataset, layer, data, replace=replace)
                bar.update(1)
        return uploaded

    def representation(self, representation: RepresentationRef) -> Representation:
        """A representation's metadata."""
        body = self._call("GET", f"/v1/representations/{_representation_id(representation)}")
        return Representation.from_json(body)

    def representations(
        self,
        dataset: DatasetRef | None = None,
        model: ModelRef | None = None,
        layer: int | None = None,
        derived: bool | None = None,
    ) -> Iterator[Representation]:
        """Representations matching every filter given, following the pages to the end."""
        params = {
            "dataset": _dataset_name(dataset) if dataset is not None else None,
            "model": self._model_id(model) if model is not None else None,
            "layer": layer,
            "derived": _flag(derived) if derived is not None else None,
        }
        for item in self._pages("/v1/representations", params):
            yield Representation.from_json(item)

    def download(self, representation: RepresentationRef) -> np.ndarray:
        """The stored matrix, with exactly the stored values and dtype."""
        path = f"/v1/representations/{_representation_id(representation)}/data"
        response = self._send("GET", path)
        return np.load(io.BytesIO(response.content), allow_pickle=False)

    def derive(
        self, representation: RepresentationRef, pca_keep: Iterable[int]
    ) -> list[Representation]:
        """Principal-component deletion copies keeping the top-k components, for each k."""
        path = f"/v1/representations/{_representation_id(representation)}/derived"
        body = self._call("POST", path, json={"pca_keep": [int(k) for k in pca_keep]})
        return [Representation.from_json(item) for item in body["items"]]

    # Model outputs

    def upload_outputs(
        self, model: ModelRef, dataset: DatasetRef, logits: Any, replace: bool = False
    ) -> dict[str, Any]:
        """Stores a model's outputs on a dataset: ``logits`` (what :meth:`upload` takes as
        ``data``) is n x C, one row per input of the dataset in its order and a column per class
        (C >= 2), all finite. The dataset must exist. Returns what the service stored (shape,
        dtype, ``sha256``); the same logits again change nothing, others raise
        :class:`~simbench.ConflictError` unless ``replace=True``.
        """
        response = self._send(
            "PUT",
            f"/v1/models/{self._model_id(model)}/outputs",
            params={
                "dataset": _dataset_name(dataset),
                "replace": _flag(replace) if replace else None,
            },
            make_body=bodies.body_factory(logits, None),
            idempotent=True,
        )
        return _json(response)

    def outputs(self, model: ModelRef, dataset: DatasetRef) -> np.ndarray:
        """A model's logits on a dataset, with exactly the stored values and dtype."""
        response = self._send(
            "GET",
            f"/v1/models/{self._model_id(model)}/outputs",
            params={"dataset": _dataset_name(dataset)},
        )
        return np.load(io.BytesIO(response.content), allow_pickle=False)

    def delete_outputs(self, model: ModelRef, dataset: DatasetRef) -> None:
        """Deletes a model's logits on a dataset."""
        self._call(
            "DELETE",
            f"/v1/models/{self._model_id(model)}/outputs",
            params={"dataset": _dataset_name(dataset)},
        )

    # Scores

    def score(self, target: ScoreTarget, name: str, value: float) -> Score:
        """Sets a functionality score on a representation or, for all its layers, a model."""
        kind = "models" if isinstance(target, Model) else "representations"
        path = f"/v1/{kind}/{target.id}/scores/{name}"
        return Score.from_json(self._call("PUT", path, json={"value": float(value)}))

    def scores(self, items: Iterable[tuple[ScoreTarget, str, float]]) -> list[Score]:
        """Sets many scores, ``(target, name, value)`` each, in batches (each batch all or
        none); returns the stored scores in order."""
        stored: list[Score] = []
        batch: list[dict[str, Any]] = []
        for target, name, value in items:
            kind = "model" if isinstance(target, Model) else "representation"
            batch.append({kind: target.id, "name": name, "value": float(value)})
            if len(batch) == SCORE_BATCH:
                stored.extend(self._score_batch(batch))
                batch = []
        if batch:
            stored.extend(self._score_batch(batch))
        return stored

    def scores_of(self, target: ScoreTarget) -> list[Score]:
        """The scores attached to a representation or a model."""
        kind = "models" if isinstance(target, Model) else "representations"
        body = self._call("GET", f"/v1/{kind}/{target.id}/scores")
        return [Score.from_json(item) for item in body["items"]]

    # Comparisons, distances, benchmarks

    def compare(
        self,
        representations: Iterable[RepresentationRef],
        metrics: Iterable[str],
        all_pairs: bool = True,
    ) -> Comparison:
        """Asks for the distances of every pair of ``representations`` (``all_pairs=True``) or
        of consecutive pairs ``(r0, r1), (r2, r3), ...`` (``all_pairs=False``), and returns a
        handle to follow them."""
        ids = [_representation_id(item) for item in representations]
        body: dict[str, Any] = {"metrics": list(metrics)}
        if all_pairs:
            body.update(representations=ids, all_pairs=True)
        else:
            if len(ids) % 2:
                raise InvalidInputError(
                    None, "invalid_pairs", "all_pairs=False takes an even number of ids"
                )
            body["pairs"] = [[ids[i], ids[i + 1]] for i in range(0, len(ids), 2)]
        return Comparison(self, self._call("POST", "/v1/comparisons", json=body), ids)

    def comparison(self, comparison_id: int) -> Comparison:
        """A handle on an existing comparison."""
        return Comparison(self, self._call("GET", f"/v1/comparisons/{comparison_id}"), [])

    def distances(
        self, metric: str | None = None, rep: RepresentationRef | None = None
    ) -> Iterator[dict[str, Any]]:
        """Computed distances as the API's rows, following the pages to the end."""
        params = {
            "metric": metric,
            "rep": _representation_id(rep) if rep is not None else None,
        }
        yield from self._pages("/v1/distances", params)

    def distance_matrix(
        self, metric: str, representations: Iterable[RepresentationRef]
    ) -> DistanceMatrix:
        """``d(representations[i], representations[j])`` as a numpy array (NaN where not
        computed or refused), with ``.representations`` and ``.to_frame()``."""
        ids = [_representation_id(item) for item in representations]
        body = self._call(
            "GET",
            "/v1/distances/matrix",
            params={"metric": metric, "representations": ",".join(map(str, ids))},
        )
        return DistanceMatrix.from_json(body)

    def benchmark(
        self,
        name: str,
        dataset: DatasetRef,
        score: str | None,
        protocol: Mapping[str, Any],
        metrics: Iterable[str],
        select: Mapping[str, Any] | None = None,
        bootstrap: Mapping[str, Any] | None = None,
        description: str | None = None,
        functional: Mapping[str, Any] | None = None,
        permutation: Mapping[str, Any] | None = None,
    ) -> Benchmark:
        """Defines and runs a benchmark (README, "Comparing and benchmarking").

        It asks whether each metric's distance rank-correlates with the difference in
        ``score`` between the representations its ``protocol`` pairs, or, with ``score=None``
        and ``functional={"kind": "disagreement"}`` (or ``"jsd"``), with the difference between
        their models' outputs (README, "Grounding tests"); ``permutation={"resamples": R,
        "seed": s}`` adds permutation p-values. With ``score=None`` and the protocol
        ``{"kind": "separation", "by": KEY, "group_by": "layer"}`` or ``{"kind":
        "monotonicity"}``, it asks whether the metric separates design classes or grows with
        depth instead, from the distances alone. A benchmark of that name with the same
        definition is returned instead (run again when it turned ``stale``); one with another
        definition raises :class:`~simbench.ConflictError`.
        """
        body: dict[str, Any] = {
            "name": name,
            "dataset": _dataset_name(dataset),
            "protocol": dict(protocol),
            "metrics": list(metrics),
        }
        for key, value in (
            ("score", score),
            ("functional", functional),
            ("select", select),
            ("bootstrap", bootstrap),
            ("permutation", permutation),
            ("description", description),
        ):
            if value is not None:
                body[key] = dict(value) if isinstance(value, Mapping) else value
        try:
            return Benchmark(self, self._call("POST", "/v1/benchmarks", json=body))
        except ConflictError as error:
            existing = next((item for item in self.benchmarks() if item.name == name), None)
            if existing is None:
                raise error from None
        if not _agrees(existing.json, body):
            raise ConflictError(
                409,
                "benchmark_conflict",
                f"a benchmark named {name!r} exists with another definition; choose another name",
                {"benchmark": existing.json},
            )
        return existing.run() if existing.status == "stale" else existing

    def get_benchmark(self, benchmark_id: int) -> Benchmark:
        """A handle on an existing benchmark."""
        return Benchmark(self, self._call("GET", f"/v1/benchmarks/{benchmark_id}"))

    def benchmarks(self, published: bool | None = None) -> Iterator[Benchmark]:
        """Benchmarks (only published ones, or only unpublished ones), following the pages."""
        params = {"published": _flag(published) if published is not None else None}
        for item in self._pages("/v1/benchmarks", params):
            yield Benchmark(self, item)

    def leaderboard(self) -> Leaderboard:
        """Metrics across published benchmarks, best first; ``.to_frame()`` for pandas."""
        return Leaderboard.from_json(self._call("GET", "/v1/leaderboard"))

    def jobs(self, status: str | None = None) -> Iterator[dict[str, Any]]:
        """Comparison jobs (e.g. ``status="failed"`` with their errors), following the pages."""
        yield from self._pages("/v1/jobs", {"status": status})

    # Metrics computed by the client

    def metrics(self) -> list[dict[str, Any]]:
        """Every metric: the built-in ones, then those clients registered (``built_in: False``)."""
        return list(self._call("GET", "/v1/metrics")["items"])

    def register_metric(
        self,
        name: str,
        description: str,
        symmetric: bool,
        parameters: Iterable[Mapping[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """Registers a metric this client computes (README, "Metrics computed by the client"),
        named ``ext:NAME`` from then on; returns its description. A metric of that name with
        the same description and symmetry is returned instead; one that differs raises
        :class:`~simbench.ConflictError`."""
        body: dict[str, Any] = {
            "name": name,
            "description": description,
            "symmetric": bool(symmetric),
        }
        if parameters is not None:
            body["parameters"] = [dict(parameter) for parameter in parameters]
        try:
            return dict(self._call("POST", "/v1/metrics", json=body))
        except ConflictError as error:
            full_name = name if name.startswith("ext:") else f"ext:{name}"
            existing = next((item for item in self.metrics() if item["name"] == full_name), None)
            if existing is None:
                raise error from None
        if (existing["definition"], existing["symmetric"]) != (
            description.strip(),
            bool(symmetric),
        ):
            raise ConflictError(
                409,
                "metric_exists",
                f"{existing['name']} is registered with another description or symmetry",
                {"metric": existing},
            )
        return existing

    def delete_metric(self, name: str) -> None:
        """Deletes a metric clients compute, with its distances (refused while a benchmark
        names it)."""
        self._call("DELETE", f"/v1/metrics/{name}")

    def missing(self, benchmark: Benchmark | int, metric: str) -> list[tuple[int, int]]:
        """Every pair ``(a, b)`` whose distance under ``metric`` the benchmark's current run
        still lacks, following the pages: what :meth:`put_distances` should send."""
        benchmark_id = benchmark.id if isinstance(benchmark, Benchmark) else int(benchmark)
        path = f"/v1/benchmarks/{benchmark_id}/missing"
        return [(int(item["a"]), int(item["b"])) for item in self._pages(path, {"metric": metric})]

    def put_distances(
        self, rows: Iterable[tuple[str, int, int, float] | Mapping[str, Any]]
    ) -> dict[str, int]:
        """Sends distances of external metrics, rows of ``(metric, a, b, value)`` or dicts with
        those keys, in batches of 10 000 (each batch stored all or none); returns the counts
        of ``inserted``, ``updated`` and ``unchanged`` rows over all batches."""
        totals = {"inserted": 0, "updated": 0, "unchanged": 0}
        batch: list[dict[str, Any]] = []
        for index, row in enumerate(rows):
            if isinstance(row, Mapping):
                metric, a, b, value = row["metric"], row["a"], row["b"], row["value"]
            else:
                metric, a, b, value = row
            value = float(value)
            if not np.isfinite(value):
                raise InvalidInputError(
                    None, "invalid_distance", f"row {index}: the distance must be finite"
                )
            batch.append({"metric": metric, "a": int(a), "b": int(b), "value": value})
            if len(batch) == DISTANCE_BATCH:
                self._distance_batch(batch, totals)
                batch = []
        if batch:
            self._distance_batch(batch, totals)
        return totals

    # Plumbing

    def _call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
    ) -> Any:
        """Sends a JSON request and returns the JSON answer (None for an empty one)."""
        response = self._send(method, path, params=params, json=json)
        return _json(response) if response.content else None

    def _send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        make_body: Callable[[], bodies.Body] | None = None,
        idempotent: bool = False,
    ) -> requests.Response:
        """Sends a request, again after a retryable answer, and raises on a refusal."""
        url = f"{self.url}{path}"
        query = {key: value for key, value in (params or {}).items() if value is not None}
        may_resend_after_failure = idempotent or method in ("GET", "PUT", "DELETE")
        attempt = 0
        while True:
            body = make_body() if make_body is not None else None
            headers = {"Content-Type": body.content_type} if body is not None else None
            try:
                response = self.session.request(
                    method,
                    url,
                    params=query,
                    json=json,
                    data=body,
                    headers=headers,
                    timeout=self.timeout,
                )
            except requests.RequestException as error:
                if not may_resend_after_failure or attempt >= self.max_retries:
                    raise ServerError(
                        None,
                        "no_answer",
                        f"{method} {path}: no answer from the service at {self.url}: {error}",
                    ) from error
                time.sleep(self._backoff(attempt))
                attempt += 1
                continue
            finally:
                if body is not None:
                    body.close()
            if response.status_code in RETRY_STATUSES and attempt < self.max_retries:
                time.sleep(self._wait(response, attempt))
                attempt += 1
                continue
            if response.status_code >= 400:
                raise _refusal(method, path, response)
            return response

    def _wait(self, response: requests.Response, attempt: int) -> float:
        """The wait a retryable answer asks for in ``Retry-After`` (seconds or an HTTP date),
        else the backoff; never more than ``max_wait``."""
        header = response.headers.get("Retry-After")
        if header:
            try:
                return min(max(float(header), 0.0), self.max_wait)
            except ValueError:
                try:
                    moment = email.utils.parsedate_to_datetime(header)
                except (TypeError, ValueError):
                    moment = None
                if moment is not None:
                    return min(max(moment.timestamp() - time.time(), 0.0), self.max_wait)
        return self._backoff(attempt)

    def _backoff(self, attempt: int) -> float:
        return min(self.backoff * 2**attempt * (1 + random.random() / 2), self.max_wait)

    def _pages(self, path: str, params: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
        query = dict(params)
        query["limit"] = PAGE_LIMIT
        while True:
            page = self._call("GET", path, params=query)
            yield from page["items"]
            if not page.get("next_cursor"):
                return
            query["cursor"] = page["next_cursor"]

    def _find_dataset(self, name: str) -> Dataset | None:
        return next((item for item in self.datasets(name=name) if item.name == name), None)

    def _find_model(self, name: str) -> Model | None:
        return next((item for item in self.models(name=name) if item.name == name), None)

    def _model_id(self, model: ModelRef) -> int:
        if isinstance(model, Model):
            return model.id
        if isinstance(model, str):
            return self.model(model).id
        return int(model)

    def _distance_batch(self, batch: list[dict[str, Any]], totals: dict[str, int]) -> None:
        counts = self._call("PUT", "/v1/distances", json={"rows": batch})
        for key in totals:
            totals[key] += int(counts[key])

    def _score_batch(self, batch: list[dict[str, Any]]) -> list[Score]:
        body = self._call("POST", "/v1/scores", json={"scores": batch})
        return [Score.from_json(item) for item in body["items"]]


def _json(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError as error:
        raise SimbenchError(
            response.status_code,
            "unreadable_answer",
            f"the service answered with a body that is not JSON: {response.text[:300]!r}",
        ) from error


def _refusal(method: str, path: str, response: requests.Response) -> SimbenchError:
    try:
        problem = response.json()
    except ValueError:
        problem = None
    if not isinstance(problem, dict):
        problem = {}
    fallback = f"{method} {path} answered {response.status_code}: {response.text[:300]}"
    return error_for(response.status_code, problem, fallback)


def _agrees(stored: Any, asked: Any) -> bool:
    """Whether what the service stored says what was asked (members it added aside)."""
    if isinstance(asked, Mapping):
        return isinstance(stored, Mapping) and all(
            key in stored and _agrees(stored[key], value) for key, value in asked.items()
        )
    if isinstance(asked, list):
        return isinstance(stored, list) and sorted(map(repr, stored)) == sorted(map(repr, asked))
    return bool(stored == asked)


def _flag(value: bool) -> str:
    return "true" if value else "false"


def _dataset_name(dataset: DatasetRef) -> str:
    return dataset.name if isinstance(dataset, Dataset) else str(dataset)


def _representation_id(representation: RepresentationRef) -> int:
    if isinstance(representation, Representation):
        return representation.id
    return int(representation)
