"""Model outputs: the logits functional differences compare, stored per model and dataset."""

import hashlib
import io

import numpy as np
import pytest

import simbench

from conftest import activations


def test_logits_round_trip_conflict_unless_replaced_and_are_deleted(client, unique):
    dataset = client.dataset(f"{unique}-d", n_rows=15)
    model = client.model(f"{unique}-m")
    logits = activations(15, 4, seed=1)
    stored = client.upload_outputs(model, dataset, logits)
    buffer = io.BytesIO()
    np.save(buffer, logits)
    assert (stored["n_rows"], stored["n_classes"], stored["dtype"]) == (15, 4, "float32")
    assert stored["sha256"] == hashlib.sha256(buffer.getvalue()).hexdigest()
    downloaded = client.outputs(model, dataset)
    assert downloaded.dtype == np.float32
    np.testing.assert_array_equal(downloaded, logits)

    assert client.upload_outputs(model, dataset, logits.copy()) == stored
    with pytest.raises(simbench.ConflictError) as refused:
        client.upload_outputs(model, dataset, activations(15, 4, seed=2))
    assert refused.value.code == "outputs_exist"
    replacement = activations(15, 4, seed=2, dtype=np.float64)
    client.upload_outputs(model.id, dataset.name, replacement, replace=True)
    np.testing.assert_array_equal(client.outputs(model, dataset), replacement)

    client.delete_outputs(model, dataset)
    with pytest.raises(simbench.NotFoundError):
        client.outputs(model, dataset)


@pytest.mark.parametrize(
    ("logits", "code"),
    [
        (activations(16, 4, seed=3), "row_count_mismatch"),
        (activations(15, 1, seed=3), "too_few_classes"),
        (np.full((15, 3), np.nan, dtype=np.float32), "non_finite_value"),
        (np.zeros((15, 3), dtype=np.int64), "unsupported_dtype"),
    ],
)
def test_logits_the_service_refuses_raise_with_its_code(client, unique, logits, code):
    dataset = client.dataset(f"{unique}-d", n_rows=15)
    model = client.model(f"{unique}-m")
    with pytest.raises(simbench.InvalidInputError) as refused:
        client.upload_outputs(model, dataset, logits)
    assert refused.value.code == code
    with pytest.raises(simbench.NotFoundError):
        client.outputs(model, dataset)


def test_outputs_need_an_existing_dataset(client, unique):
    with pytest.raises(simbench.NotFoundError):
        client.upload_outputs(f"{unique}-m", f"{unique}-nowhere", activations(5, 2, seed=0))
