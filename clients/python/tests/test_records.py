"""Datasets, models and their listings."""

import pytest

import simbench
import simbench.client


def test_the_client_reads_its_address_and_token_from_the_environment(service_url, token):
    client = simbench.Client()
    assert client.url == service_url.rstrip("/")
    assert client.session.headers["Authorization"] == f"Bearer {token}"
    explicit = simbench.Client(url="http://example.invalid:1/", token="sbk_x")
    assert explicit.url == "http://example.invalid:1"
    assert explicit.session.headers["Authorization"] == "Bearer sbk_x"


def test_dataset_is_get_or_create_and_reports_another_row_count(client, unique):
    created = client.dataset(f"{unique}-d", n_rows=12)
    assert (created.name, created.n_rows) == (f"{unique}-d", 12)
    again = client.dataset(f"{unique}-d", n_rows=12)
    assert again.id == created.id
    assert client.dataset(f"{unique}-d").id == created.id
    with pytest.raises(simbench.ConflictError) as refused:
        client.dataset(f"{unique}-d", n_rows=13)
    assert refused.value.status == 409
    assert refused.value.code == "dataset_conflict"
    assert [item.id for item in client.datasets(name=f"{unique}-d")] == [created.id]


def test_model_is_get_or_create_and_never_overwrites_metadata(client, unique):
    model = client.model(f"{unique}-m", metadata={"seed": 3, "arch": "mlp"}, tags=["x", "y"])
    assert model.metadata == {"seed": 3, "arch": "mlp"}
    assert sorted(model.tags) == ["x", "y"]
    assert client.model(f"{unique}-m", metadata={"arch": "mlp", "seed": 3}).id == model.id
    assert client.model(f"{unique}-m").id == model.id
    with pytest.raises(simbench.ConflictError) as refused:
        client.model(f"{unique}-m", metadata={"seed": 4, "arch": "mlp"})
    assert refused.value.code == "model_conflict"
    assert "seed" in refused.value.detail
    with pytest.raises(simbench.ConflictError):
        client.model(f"{unique}-m", tags=["x"])
    (stored,) = client.models(name=f"{unique}-m")
    assert stored.metadata == {"seed": 3, "arch": "mlp"}


def test_listings_follow_next_cursor_to_the_end(client, unique, monkeypatch):
    monkeypatch.setattr(simbench.client, "PAGE_LIMIT", 2)
    ids = [
        client.model(f"{unique}-{i}", metadata={"seed": i % 2}, tags=[unique]).id for i in range(5)
    ]
    assert [model.id for model in client.models(tags=[unique])] == ids
    assert [model.id for model in client.models(tags=[unique], metadata={"seed": 1})] == ids[1::2]
    assert list(client.models(tags=[unique, "absent"])) == []


def test_deleting_a_model(client, unique):
    model = client.model(f"{unique}-gone")
    client.delete_model(model)
    assert list(client.models(name=f"{unique}-gone")) == []
    with pytest.raises(simbench.NotFoundError) as missing:
        client.delete_model(model.id)
    assert (missing.value.status, missing.value.code) == (404, "not_found")
