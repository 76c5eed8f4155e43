"""Uploads from memory, from torch-like tensors and from files on disk."""

import hashlib
import json
import struct

import ml_dtypes
import numpy as np
import pytest
from safetensors.numpy import save_file

import simbench

from conftest import activations


class FakeTensor:
    """What the client uses of a torch tensor: ``.detach().cpu().numpy()`` and ``dtype``."""

    def __init__(self, values):
        self.values = values
        self.dtype = f"torch.{values.dtype.name}"

    def detach(self):
        return self

    def cpu(self):
        return self

    def numpy(self):
        return self.values


def test_upload_stores_the_exact_matrix_and_is_idempotent(client, unique):
    model = client.model(f"{unique}-m")
    matrix = activations(20, 6, seed=1)
    first = client.upload(model, f"{unique}-d", 3, matrix, layer_name="block3")
    assert first.created
    assert (first.n_rows, first.n_cols, first.dtype) == (20, 6, "float32")
    assert (first.layer, first.layer_name, first.model_id) == (3, "block3", model.id)
    np.testing.assert_array_equal(client.download(first), matrix)

    again = client.upload(model, f"{unique}-d", 3, matrix.copy())
    assert not again.created
    assert again.id == first.id

    with pytest.raises(simbench.ConflictError) as refused:
        client.upload(model, f"{unique}-d", 3, activations(20, 6, seed=2))
    assert refused.value.code == "representation_exists"
    replacement = client.upload(model, f"{unique}-d", 3, activations(20, 6, seed=2), replace=True)
    assert replacement.created
    assert replacement.replaced == first.id
    assert client.representation(replacement.id) == replacement


def test_the_sha256_is_that_of_the_npy_file_numpy_writes(client, unique, tmp_path):
    matrix = activations(9, 5, seed=4, dtype=np.float64)
    np.save(tmp_path / "x.npy", matrix)
    stored = client.upload(f"{unique}-m", f"{unique}-d", 0, matrix)
    assert stored.sha256 == hashlib.sha256((tmp_path / "x.npy").read_bytes()).hexdigest()


def test_uploads_take_float16_fortran_order_and_torch_like_tensors(client, unique):
    model = client.model(f"{unique}-m")
    half = activations(8, 3, seed=5, dtype=np.float16)
    stored = client.upload(model, f"{unique}-d", 0, half)
    assert stored.dtype == "float16"
    np.testing.assert_array_equal(client.download(stored), half)
    fortran = np.asfortranarray(activations(8, 3, seed=6))
    np.testing.assert_array_equal(
        client.download(client.upload(model, f"{unique}-d", 1, fortran)), fortran
    )
    tensor = FakeTensor(activations(8, 3, seed=7))
    np.testing.assert_array_equal(
        client.download(client.upload(model, f"{unique}-d", 2, tensor)), tensor.values
    )
    listed = [item.layer for item in client.representations(model=model, dataset=f"{unique}-d")]
    assert sorted(listed) == [0, 1, 2]


def test_a_bfloat16_array_round_trips_exactly(client, unique):
    values = activations(16, 4, seed=8).astype(ml_dtypes.bfloat16)
    stored = client.upload(f"{unique}-m", f"{unique}-d", 0, values)
    assert stored.dtype == "float32"
    downloaded = client.download(stored)
    np.testing.assert_array_equal(downloaded, values.astype(np.float32))
    np.testing.assert_array_equal(
        downloaded.astype(ml_dtypes.bfloat16).view(np.uint16), values.view(np.uint16)
    )


def test_npy_and_safetensors_files_upload_from_disk(client, unique, tmp_path):
    model = client.model(f"{unique}-m")
    layers = {f"hidden_states.{layer}": activations(12, 4, seed=layer) for layer in range(3)}
    layers["hidden_states.3"] = activations(12, 4, seed=3, dtype=np.float64)
    save_file(layers, str(tmp_path / "run.safetensors"))
    np.save(tmp_path / "layer9.npy", activations(12, 4, seed=9))

    for layer in range(4):
        stored = client.upload(
            model,
            f"{unique}-d",
            layer,
            tmp_path / "run.safetensors",
            tensor=f"hidden_states.{layer}",
        )
        np.testing.assert_array_equal(client.download(stored), layers[f"hidden_states.{layer}"])
    from_npy = client.upload(model, f"{unique}-d", 9, str(tmp_path / "layer9.npy"))
    np.testing.assert_array_equal(client.download(from_npy), np.load(tmp_path / "layer9.npy"))

    with pytest.raises(simbench.InvalidInputError) as refused:
        client.upload(model, f"{unique}-d", 5, tmp_path / "run.safetensors")
    assert refused.value.code == "ambiguous_tensor"
    with pytest.raises(simbench.InvalidInputError) as refused:
        client.upload(model, f"{unique}-d", 5, tmp_path / "run.safetensors", tensor="nope")
    assert refused.value.code == "tensor_not_found"
    with pytest.raises(simbench.InvalidInputError):
        client.upload(model, f"{unique}-d", 5, tmp_path / "missing.npy")


def test_the_single_tensor_body_of_a_safetensors_file_is_a_valid_safetensors_file(tmp_path):
    from safetensors.numpy import load

    from simbench import bodies

    layers = {"a": activations(3, 2, seed=1), "b": activations(5, 2, seed=2, dtype=np.float64)}
    save_file(layers, str(tmp_path / "two.safetensors"), metadata={"format": "np"})
    body = bodies.body_factory(tmp_path / "two.safetensors", tensor="b")()
    data = body.read(7) + body.read()
    assert len(data) == len(body)
    (header_len,) = struct.unpack("<Q", data[:8])
    assert header_len % 8 == 0
    assert list(json.loads(data[8 : 8 + header_len])) == ["b"]
    np.testing.assert_array_equal(load(data)["b"], layers["b"])


def test_upload_many_sends_every_layer(client, unique):
    model = client.model(f"{unique}-m", tags=[unique])
    hidden = {layer: activations(10, 3, seed=layer) for layer in range(4)}
    uploaded = client.upload_many(model, f"{unique}-d", hidden)
    assert sorted(uploaded) == [0, 1, 2, 3]
    for layer, representation in uploaded.items():
        assert representation.layer == layer
        np.testing.assert_array_equal(client.download(representation), hidden[layer])
    again = client.upload_many(f"{unique}-m", f"{unique}-d", hidden, progress=True)
    assert {layer: item.id for layer, item in again.items()} == {
        layer: item.id for layer, item in uploaded.items()
    }
    assert not any(item.created for item in again.values())
