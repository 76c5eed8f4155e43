"""What the service stores, as the client hands it back: each record keeps the API's whole JSON
object in ``json`` and its most used members as typed attributes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Dataset:
    """An ordered set of ``n_rows`` inputs shared by every representation uploaded under it."""

    id: int
    name: str
    n_rows: int | None
    json: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> Dataset:
        """Reads a dataset object of the API."""
        return cls(id=body["id"], name=body["name"], n_rows=body.get("n_rows"), json=body)


@dataclass(frozen=True)
class Model:
    """A trained network, with free-form JSON metadata and tags."""

    id: int
    name: str
    metadata: dict[str, Any]
    tags: list[str]
    json: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> Model:
        """Reads a model object of the API."""
        return cls(
            id=body["id"],
            name=body["name"],
            metadata=body.get("metadata") or {},
            tags=list(body.get("tags") or []),
            json=body,
        )


@dataclass(frozen=True)
class Representation:
    """One model's activations at one layer on one dataset (``n_rows`` x ``n_cols``).

    ``created`` says whether the upload that returned it stored something new (HTTP 201) or
    found the very same matrix already stored (HTTP 200); ``replaced`` names the representation
    a ``replace=True`` upload took the place of.
    """

    id: int
    model_id: int
    dataset: str
    layer: int
    layer_name: str | None
    n_rows: int
    n_cols: int
    dtype: str
    sha256: str
    json: dict[str, Any] = field(repr=False, compare=False)
    created: bool = field(default=False, compare=False)
    replaced: int | None = field(default=None, compare=False)

    @classmethod
    def from_json(cls, body: dict[str, Any], created: bool = False) -> Representation:
        """Reads a representation object of the API."""
        return cls(
            id=body["id"],
            model_id=body["model_id"],
            dataset=body["dataset"],
            layer=body["layer"],
            layer_name=body.get("layer_name"),
            n_rows=body["n_rows"],
            n_cols=body["n_cols"],
            dtype=body["dtype"],
            sha256=body["sha256"],
            json=body,
            created=created,
            replaced=body.get("replaced"),
        )


@dataclass(frozen=True)
class Score:
    """A functionality value attached to a representation or, for all its layers, a model."""

    name: str
    value: float
    representation_id: int | None
    model_id: int | None
    json: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> Score:
        """Reads a score object of the API."""
        return cls(
            name=body["name"],
            value=body["value"],
            representation_id=body.get("representation_id"),
            model_id=body.get("model_id"),
            json=body,
        )
