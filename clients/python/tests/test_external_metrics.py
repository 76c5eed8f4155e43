"""Metrics computed by the client: registering one, reading the pairs a benchmark still needs,
sending their distances in batches, and the benchmark completing on them."""

import math

import numpy as np
import pytest

import simbench
import simbench.client

from conftest import activations


def scored_layers(client, unique, scores):
    model = client.model(f"{unique}-m")
    layers = [
        client.upload(model, f"{unique}-d", layer, activations(30, 4, seed=layer))
        for layer in range(len(scores))
    ]
    client.scores([(layer, "probe", score) for layer, score in zip(layers, scores)])
    return layers


def test_register_metric_is_idempotent_and_listed_beside_the_built_ins(client, unique):
    name = f"{unique}_metric"
    registered = client.register_metric(name, "a test metric", symmetric=True)
    assert (registered["name"], registered["built_in"]) == (f"ext:{name}", False)
    assert client.register_metric(f"ext:{name}", "a test metric", True) == registered
    with pytest.raises(simbench.ConflictError):
        client.register_metric(name, "another description", symmetric=True)
    listed = {item["name"]: item for item in client.metrics()}
    assert listed["cka"]["built_in"] is True
    assert listed[f"ext:{name}"]["created_by"] == registered["created_by"]
    with pytest.raises(simbench.InvalidInputError):
        client.register_metric("cka", "not mine", symmetric=True)


def test_missing_pairs_sent_in_batches_complete_the_benchmark(client, unique, monkeypatch):
    metric = client.register_metric(f"{unique}_mine", "a test metric", symmetric=True)["name"]
    scores = [0.1, 0.3, 0.6, 1.0]
    layers = scored_layers(client, unique, scores)
    benchmark = client.benchmark(
        name=f"{unique}-mixed",
        dataset=f"{unique}-d",
        score="probe",
        protocol={"kind": "all_pairs", "group_by": "none"},
        metrics=["cka", metric],
    )
    benchmark.wait(timeout=120)
    assert benchmark.results().json["partial"] is True
    missing = client.missing(benchmark, metric)
    assert len(missing) == 6 and all(a < b for a, b in missing)

    score_of = {layer.id: score for layer, score in zip(layers, scores)}
    values = {pair: 0.1 * index + 0.05 for index, pair in enumerate(missing)}
    monkeypatch.setattr(simbench.client, "DISTANCE_BATCH", 4)
    sent = client.put_distances([(metric, b, a, value) for (a, b), value in values.items()])
    assert sent == {"inserted": 6, "updated": 0, "unchanged": 0}
    again = client.put_distances(
        [{"metric": metric, "a": a, "b": b, "value": value} for (a, b), value in values.items()]
    )
    assert again == {"inserted": 0, "updated": 0, "unchanged": 6}
    assert client.missing(benchmark.id, metric) == []

    results = benchmark.results().json
    assert results["partial"] is False
    xs = list(values.values())
    ys = [abs(score_of[a] - score_of[b]) for a, b in values]
    rx, ry = (np.argsort(np.argsort(v)).astype(float) for v in (xs, ys))
    want = float(np.corrcoef(rx, ry)[0, 1])
    assert math.isclose(results["metrics"][metric]["spearman"], want, abs_tol=1e-12)


def test_put_distances_refuses_bad_rows(client, unique):
    metric = client.register_metric(f"{unique}_bad", "a test metric", symmetric=False)["name"]
    a, b = scored_layers(client, unique, [0.1, 0.2])
    with pytest.raises(simbench.InvalidInputError):
        client.put_distances([(metric, a.id, b.id, float("nan"))])
    with pytest.raises(simbench.InvalidInputError) as refused:
        client.put_distances([(metric, a.id, b.id, 0.5), (metric, a.id, b.id, -1.0)])
    assert refused.value.code == "invalid_distance" and "row 1" in refused.value.detail
    with pytest.raises(simbench.InvalidInputError) as built_in:
        client.put_distances([("cka", a.id, b.id, 0.5)])
    assert built_in.value.code == "built_in_metric"
    assert list(client.distances(metric=metric)) == []
