"""The tests talk to a real simbench service: scripts/test-python-client.sh starts one on a fresh
database and passes its address and admin token in SIMBENCH_URL and SIMBENCH_TOKEN, and a second
one with a low rate limit in SIMBENCH_RATE_LIMITED_URL."""

import os
import uuid

import numpy as np
import pytest

import simbench


def _required(name):
    value = os.environ.get(name)
    if not value:
        pytest.exit(f"{name} is not set: run scripts/test-python-client.sh", returncode=2)
    return value


@pytest.fixture(scope="session")
def service_url():
    return _required("SIMBENCH_URL")


@pytest.fixture(scope="session")
def rate_limited_url():
    return _required("SIMBENCH_RATE_LIMITED_URL")


@pytest.fixture(scope="session")
def token():
    return _required("SIMBENCH_TOKEN")


@pytest.fixture()
def client(service_url, token):
    with simbench.Client() as client:
        yield client


@pytest.fixture()
def unique():
    """A prefix no other test's names share."""
    return f"t{uuid.uuid4().hex[:10]}"


def activations(rows, cols, seed, dtype=np.float32):
    return np.random.default_rng(seed).standard_normal((rows, cols)).astype(dtype)
