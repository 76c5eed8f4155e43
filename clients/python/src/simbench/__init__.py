"""simbench: the Python client of the simbench service.

Upload a model's activations and functionality scores at the end of a training run, ask for
distances and benchmarks, and read the results into numpy and pandas::

    import simbench

    client = simbench.Client()  # SIMBENCH_URL and SIMBENCH_TOKEN
    model = client.model("bert-seed0", metadata={"seed": 0}, tags=["bert"])
    client.upload_many(model, "sst2-dev", {layer: h for layer, h in enumerate(hidden_states)})
"""

from .client import DEFAULT_URL, Client
from .errors import (
    AuthError,
    ConflictError,
    InvalidInputError,
    NotFoundError,
    RateLimitedError,
    ServerError,
    SimbenchError,
)
from .records import Dataset, Model, Representation, Score
from .results import BenchmarkResults, DistanceMatrix, Distances, Leaderboard, Pairs
from .runs import Benchmark, Comparison

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_URL",
    "AuthError",
    "Benchmark",
    "BenchmarkResults",
    "Client",
    "Comparison",
    "ConflictError",
    "Dataset",
    "DistanceMatrix",
    "Distances",
    "InvalidInputError",
    "Leaderboard",
    "Model",
    "NotFoundError",
    "Pairs",
    "RateLimitedError",
    "Representation",
    "Score",
    "ServerError",
    "SimbenchError",
    "__version__",
]
