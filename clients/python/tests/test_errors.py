"""Problem documents become typed errors; 429 is retried as Retry-After asks."""

import email.utils
import time

import numpy as np
import pytest
import requests

import simbench

from conftest import activations


def test_a_bad_token_and_no_token_raise_auth_errors(service_url):
    for token in ("sbk_not_a_token", ""):
        with (
            simbench.Client(url=service_url, token=token) as client,
            pytest.raises(simbench.AuthError) as refused,
        ):
            next(client.datasets())
        assert refused.value.status == 401
        assert refused.value.code == "unauthorized"
        assert refused.value.detail


def test_refused_uploads_raise_invalid_input_with_the_problem(client, unique):
    model = client.model(f"{unique}-m")
    matrix = activations(10, 4, seed=1)
    matrix[3, 2] = np.nan
    with pytest.raises(simbench.InvalidInputError) as refused:
        client.upload(model, f"{unique}-d", 0, matrix)
    assert (refused.value.status, refused.value.code) == (422, "non_finite_value")
    assert (refused.value.problem["row"], refused.value.problem["column"]) == (3, 2)
    client.upload(model, f"{unique}-d", 0, activations(10, 4, seed=1))
    with pytest.raises(simbench.InvalidInputError) as refused:
        client.upload(model, f"{unique}-d", 1, activations(11, 4, seed=1))
    assert refused.value.code == "row_count_mismatch"
    with pytest.raises(simbench.InvalidInputError) as refused:
        client.upload(model, f"{unique}-d", 1, np.ones((10, 4, 2), dtype=np.float32))
    assert refused.value.status == 422


def test_missing_resources_raise_not_found(client):
    with pytest.raises(simbench.NotFoundError) as missing:
        client.representation(10**12)
    assert missing.value.status == 404
    assert isinstance(missing.value, simbench.SimbenchError)
    with pytest.raises(simbench.NotFoundError):
        client.upload(10**12, "nowhere", 0, np.ones((2, 2)))


def test_no_answer_is_a_server_error():
    client = simbench.Client(url="http://127.0.0.1:9", token="x", max_retries=1, backoff=0.01)
    with pytest.raises(simbench.ServerError) as failed:
        next(client.datasets())
    assert failed.value.status is None
    assert failed.value.code == "no_answer"


def test_rate_limited_requests_raise_once_retries_run_out(rate_limited_url, token):
    client = simbench.Client(url=rate_limited_url, max_retries=0)
    with pytest.raises(simbench.RateLimitedError) as limited:
        for _ in range(20):
            next(client.datasets(), None)
    assert (limited.value.status, limited.value.code) == (429, "rate_limited")
    assert limited.value.problem["retry_after_seconds"] >= 1


def test_rate_limited_requests_are_retried_after_retry_after(client, unique, rate_limited_url):
    dataset = client.dataset(f"{unique}-d", n_rows=3)
    waits = []

    class Recording(simbench.Client):
        def _wait(self, response, attempt):
            wait = super()._wait(response, attempt)
            waits.append((response.status_code, response.headers.get("Retry-After"), wait))
            return wait

    with Recording(url=rate_limited_url) as limited:
        for _ in range(6):
            assert limited.dataset(dataset.name) == dataset
    assert waits, "the low rate limit answered 429 at least once"
    for status, retry_after, wait in waits:
        assert status == 429
        assert wait == float(retry_after) >= 1


def test_retry_after_is_read_as_seconds_or_an_http_date_and_bounded():
    client = simbench.Client(url="http://127.0.0.1:9", token="x", backoff=0.5, max_wait=30)
    response = requests.Response()
    response.status_code = 503
    response.headers["Retry-After"] = "7"
    assert client._wait(response, 0) == 7
    response.headers["Retry-After"] = email.utils.formatdate(time.time() + 20, usegmt=True)
    assert 15 < client._wait(response, 0) <= 20
    response.headers["Retry-After"] = "3600"
    assert client._wait(response, 0) == 30
    del response.headers["Retry-After"]
    assert 0.5 <= client._wait(response, 0) <= 0.75
    assert 2.0 <= client._wait(response, 2) <= 3.0
