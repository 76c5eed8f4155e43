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


def test_derived_copies_and_jobs(client, unique):
    (_, stored, _), *_ = study(client, unique, models=1, layers=1)
    copies = client.derive(stored, [4, 2])
    assert [copy.n_cols for copy in copies] == [4, 2]
    assert all(copy.json["parent_id"] == stored.id for copy in copies)
    assert {copy.id for copy in client.representations(dataset=f"{unique}-d", derived=True)} == {
        copy.id for copy in copies
    }
