"""Scores, comparisons, distance matrices, benchmarks and the leaderboard, and their frames."""

import numpy as np
import pandas as pd
import pytest

import simbench
import simbench.client

from conftest import activations

METRICS = ["cka", "procrustes"]


def study(client, unique, models=4, layers=2):
    """Models whose layers drift with depth; probe accuracy falls with the drift."""
    inputs = activations(60, 8, seed=0, dtype=np.float64)
    representations = []
    for index in range(models):
        model = client.model(f"{unique}-m{index}", metadata={"seed": index}, tags=[unique])
        for layer in range(layers):
            noise = activations(60, 8, seed=100 * index + layer, dtype=np.float64)
            values = inputs + (0.3 * index + 0.5 * layer) * noise
            stored = client.upload(model, f"{unique}-d", layer, values)
            representations.append((model, stored, 0.9 - 0.05 * index - 0.1 * layer))
    return representations


def test_scores_one_at_a_time_and_in_batches(client, unique, monkeypatch):
    model = client.model(f"{unique}-m")
    representation = client.upload(model, f"{unique}-d", 0, activations(5, 2, seed=1))
    score = client.score(representation, "probe_acc", 0.75)
    assert (score.name, score.value, score.representation_id) == (
        "probe_acc",
        0.75,
        representation.id,
    )
    model_score = client.score(model, "hans_acc", 0.5)
    assert model_score.model_id == model.id

    monkeypatch.setattr(simbench.client, "SCORE_BATCH", 2)
    stored = client.scores(
        [(representation, f"s{i}", i / 10) for i in range(5)] + [(model, "ood", 0.25)]
    )
    assert [(item.name, item.value) for item in stored] == [
        *[(f"s{i}", i / 10) for i in range(5)],
        ("ood", 0.25),
    ]
    names = {item.name: item.value for item in client.scores_of(representation)}
    assert names == {"probe_acc": 0.75, **{f"s{i}": i / 10 for i in range(5)}}
    assert {item.name for item in client.scores_of(model)} == {"hans_acc", "ood"}
    with pytest.raises(simbench.InvalidInputError):
        client.score(representation, "bad name!", 1.0)


def test_compare_waits_for_distances_and_serves_them_as_rows_and_matrix(client, unique):
    ids = [stored.id for _, stored, _ in study(client, unique, models=2, layers=2)]
    comparison = client.compare(ids, METRICS)
    assert comparison.wait(progress=True, timeout=120) is comparison
    assert comparison.status == "done"
    assert comparison.json["done"] == comparison.json["total"] > 0

    done_jobs = list(client.jobs(status="done"))
    assert done_jobs
    assert all(job["status"] == "done" for job in done_jobs)

    distances = comparison.results()
    assert len(distances.rows) == len(METRICS) * 6
    frame = distances.to_frame()
    assert list(frame.columns) == ["metric", "rep_a", "rep_b", "value", "refusal"]
    assert frame.to_dict("records") == [
        {key: row[key] for key in frame.columns} for row in distances.rows
    ]

    matrix = client.distance_matrix("cka", ids)
    assert isinstance(matrix, np.ndarray)
    assert matrix.shape == (4, 4)
    assert matrix.representations == ids
    np.testing.assert_array_equal(np.diag(matrix), np.zeros(4))
    np.testing.assert_allclose(matrix, matrix.T)
    raw = client._call(
        "GET",
        "/v1/distances/matrix",
        params={"metric": "cka", "representations": ",".join(map(str, ids))},
    )
    np.testing.assert_array_equal(np.asarray(matrix), np.asarray(raw["values"], dtype=float))
    matrix_frame = matrix.to_frame()
    assert list(matrix_frame.index) == ids == list(matrix_frame.columns)
    np.testing.assert_array_equal(matrix_frame.to_numpy(), np.asarray(raw["values"], dtype=float))
    for row in distances.rows:
        if row["metric"] == "cka":
            assert matrix[ids.index(row["rep_a"]), ids.index(row["rep_b"])] == pytest.approx(
                row["value"]
            )


def test_pairs_without_all_pairs(client, unique):
    ids = [stored.id for _, stored, _ in study(client, unique, models=2, layers=1)]
    comparison = client.compare(ids, ["pwcca"], all_pairs=False).wait(progress=False, timeout=120)
    (row,) = comparison.results().rows
    assert (row["rep_a"], row["rep_b"]) == (ids[0], ids[1])
    assert client.comparison(comparison.id).status == "done"
    with pytest.raises(simbench.InvalidInputError):
        client.compare(ids[:1], ["cka"], all_pairs=False)


def test_a_benchmark_runs_to_results_pairs_and_the_leaderboard(client, unique):
    representations = study(client, unique)
    client.scores([(stored, "probe_acc", value) for _, stored, value in representations])
    definition = {
        "dataset": f"{unique}-d",
        "score": "probe_acc",
        "select": {"tags": [unique]},
        "protocol": {"kind": "reference", "group_by": "layer"},
        "metrics": METRICS,
    }
    benchmark = client.benchmark(f"{unique}-bench", **definition)
    assert benchmark.wait(progress=True, timeout=120).status == "done"
    assert benchmark.left_out == []

    results = benchmark.results()
    assert not results.partial
    frame = results.to_frame()
    assert list(frame["metric"]) == list(results.json["metrics"])
    for record in frame.to_dict("records"):
        expected = results.json["metrics"][record["metric"]]
        for column in simbench.results.STATISTICS:
            assert record[column] == pytest.approx(expected.get(column, np.nan), nan_ok=True)
        assert record["n_groups"] == expected["n_groups"] == 2
    by_group = results.to_frame(groups=True)
    assert len(by_group) == len(METRICS) * 2
    assert set(by_group["group"]) == {0, 1}

    pairs = benchmark.pairs("cka", group=0)
    pairs_frame = pairs.to_frame()
    assert list(pairs_frame.columns) == ["first", "second", "x", "y"]
    assert pairs_frame.to_dict("records") == [
        {key: row[key] for key in ("first", "second", "x", "y")} for row in pairs.json["rows"]
    ]
    assert len(pairs_frame) == 4

    again = client.benchmark(f"{unique}-bench", **definition)
    assert again.id == benchmark.id
    with pytest.raises(simbench.ConflictError) as refused:
        client.benchmark(f"{unique}-bench", **{**definition, "metrics": ["rsa"]})
    assert refused.value.code == "benchmark_conflict"

    assert benchmark.publish().json["published"] is True
    assert benchmark.id in {item.id for item in client.benchmarks(published=True)}
    leaderboard = client.leaderboard()
    board = leaderboard.to_frame()
    assert isinstance(board, pd.DataFrame)
    assert (
        list(board.index)
        == leaderboard.metrics
        == [row["metric"] for row in leaderboard.json["rows"]]
    )
    column = f"{unique}-bench"
    assert column in board.columns
    for row in leaderboard.json["rows"]:
        cell = {item["benchmark"]: item["spearman"] for item in row["cells"]}
        assert board.loc[row["metric"], column] == pytest.approx(
            cell.get(benchmark.id, np.nan), nan_ok=True
        )
        assert board.loc[row["metric"], "mean_rank"] == pytest.approx(row["mean_rank"], nan_ok=True)
        assert board.loc[row["metric"], "mean_spearman"] == pytest.approx(
            row["mean_spearman"], nan_ok=True
        )
    assert benchmark.unpublish().json["published"] is False
    assert client.get_benchmark(benchmark.id).name == column


def family_study(client, unique):
    """Two design families (metadata ``family``) of two models each: a family shares a large
    shift of the inputs, and each model's layers move further along its own direction."""
    inputs = activations(60, 8, seed=0, dtype=np.float64)
    shifts = [2.0 * activations(60, 8, seed=1000 + family, dtype=np.float64) for family in (0, 1)]
    for index in range(4):
        family = index % 2
        model = client.model(f"{unique}-m{index}", metadata={"family": family}, tags=[unique])
        direction = activations(60, 8, seed=2000 + index, dtype=np.float64)
        for layer in range(3):
            noise = activations(60, 8, seed=100 * index + layer, dtype=np.float64)
            values = inputs + shifts[family] + 0.4 * layer * direction + 0.05 * noise
            client.upload(model, f"{unique}-d", layer, values)


def test_separation_and_monotonicity_benchmarks_read_their_own_kind(client, unique):
    family_study(client, unique)
    separation = client.benchmark(
        f"{unique}-families",
        f"{unique}-d",
        None,
        {"kind": "separation", "by": "family", "group_by": "layer"},
        METRICS,
        select={"tags": [unique]},
    )
    assert separation.wait(timeout=120).status == "done"
    results = separation.results()
    assert (results.kind, results.statistic) == ("separation", "auprc")
    frame = results.to_frame()
    assert list(frame.columns) == ["metric", *simbench.results.FIGURES["separation"], "n_groups"]
    for record in frame.to_dict("records"):
        expected = results.json["metrics"][record["metric"]]
        assert record["auprc"] == pytest.approx(expected["auprc"])
        assert record["n_groups"] == 3
    # 2 metrics x 3 layers x 2 families; each family's one in-class pair is the closest.
    classes = results.classes_frame()
    assert len(classes) == len(METRICS) * 3 * 2
    assert set(classes["n_in"]) == {1} and set(classes["n_cross"]) == {4}
    assert np.allclose(classes["chance"], 0.2)
    assert (classes["auprc"] == 1.0).all()
    pairs = separation.pairs("cka", group=0).to_frame()
    assert sorted(pairs["y"]) == [0.0, 0.0, 1.0, 1.0, 1.0, 1.0]

    monotonicity = client.benchmark(
        f"{unique}-depth",
        f"{unique}-d",
        None,
        {"kind": "monotonicity"},
        METRICS,
        select={"tags": [unique]},
    )
    assert monotonicity.wait(timeout=120).status == "done"
    results = monotonicity.results()
    assert (results.kind, results.statistic) == ("monotonicity", "correlation")
    by_model = results.to_frame(groups=True)
    assert list(by_model.columns) == [
        "metric",
        "group",
        "model",
        "n_layers",
        *simbench.results.FIGURES["monotonicity"],
    ]
    assert len(by_model) == len(METRICS) * 4
    assert set(by_model["n_layers"]) == {3}
    assert set(by_model["group"]) == {f"{unique}-m{index}" for index in range(4)}
    # Each layer moves further along one direction: distance grows with the layers between.
    assert (by_model["correlation"] == 1.0).all()
    pairs = monotonicity.pairs("cka", group=f"{unique}-m0").to_frame()
    assert sorted(pairs["y"]) == [1.0, 1.0, 2.0]


def test_derived_copies_and_jobs(client, unique):
    (_, stored, _), *_ = study(client, unique, models=1, layers=1)
    copies = client.derive(stored, [4, 2])
    assert [copy.n_cols for copy in copies] == [4, 2]
    assert all(copy.json["parent_id"] == stored.id for copy in copies)
    assert {copy.id for copy in client.representations(dataset=f"{unique}-d", derived=True)} == {
        copy.id for copy in copies
    }
