"""Times the paper's reference pipeline on one pair of representations.

A benchmark script, not part of the service or its tests. It re-implements, call for call, what
github.com/js-d/sim_metric does for one pair (`dists/score_pair.py::score_local_pair` with the
metrics PWCCA, CKA and Procrustes, using `dists/scoring.py`): the matrices are laid out features x
examples, each feature is centred, each matrix divided by its Frobenius norm; then the CCA
decomposition (two eigh, whitening by explicit matrix products, a full SVD, the transformed
matrices), PWCCA, linear CKA and Procrustes, all in numpy, recomputed from scratch for every pair.

Usage: python3 bench/reference_pipeline.py A.npy B.npy [--repeats 5] [--json]
Input files are n x d (rows = examples), as simbench takes them.
"""

import argparse
import json
import statistics
import time

import numpy as np


def whitening(features):
    """(F Fᵀ)^(-1/2) by eigendecomposition; non-positive eigenvalues get inverse 0."""
    eigenvalues, eigenvectors = np.linalg.eigh(features @ features.T)
    eigenvalues = (eigenvalues + np.abs(eigenvalues)) / 2
    inverse_roots = np.array([1 / np.sqrt(value) if value > 0 else 0 for value in eigenvalues])
    return eigenvectors @ np.diag(inverse_roots) @ eigenvectors.T


def cca_decomposition(a, b):
    """Canonical correlations and A's canonical variates, as the reference computes them."""
    assert a.shape[0] < a.shape[1] and b.shape[0] < b.shape[1], "CCA needs n > d"
    whiten_a = whitening(a)
    whiten_b = whitening(b)
    inner = whiten_a @ (a @ b.T) @ whiten_b
    u, rho, vh = np.linalg.svd(inner)
    variates_a = (u.T @ whiten_a @ a).T
    variates_b = (vh @ whiten_b @ b).T
    return rho, variates_a, variates_b


def pwcca(a, rho, variates_a):
    weights = np.sum(np.abs(variates_a.T @ a.T), axis=1)
    weights = weights / np.sum(weights)
    count = min(len(weights), len(rho))
    return 1 - np.dot(weights[:count], rho[:count])


def linear_cka(a, b):
    similarity = np.linalg.norm(b @ a.T, ord="fro") ** 2
    normalisation = np.linalg.norm(a @ a.T, ord="fro") * np.linalg.norm(b @ b.T, ord="fro")
    return 1 - similarity / normalisation


def procrustes(a, b):
    return np.sum(a**2) + np.sum(b**2) - 2 * np.linalg.norm(a @ b.T, ord="nuc")


def score_pair(x, y):
    """x, y: n x d (examples x features). Returns the paper's trio."""
    a = x.T.astype(np.float64)
    b = y.T.astype(np.float64)
    a = a - a.mean(axis=1, keepdims=True)
    b = b - b.mean(axis=1, keepdims=True)
    a = a / np.linalg.norm(a)
    b = b / np.linalg.norm(b)
    rho, variates_a, _ = cca_decomposition(a, b)
    return {
        "pwcca": float(pwcca(a, rho, variates_a)),
        "cka": float(linear_cka(a, b)),
        "procrustes": float(procrustes(a, b)),
    }


def blas_description():
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "threadpoolctl not installed"
    return "; ".join(
        f"{info.get('internal_api')} {info.get('version')} {info.get('architecture')} "
        f"x{info.get('num_threads')}"
        for info in threadpool_info()
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("a")
    parser.add_argument("b")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    start = time.perf_counter()
    x = np.load(args.a)
    y = np.load(args.b)
    load_seconds = time.perf_counter() - start

    seconds = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        values = score_pair(x, y)
        seconds.append(time.perf_counter() - start)

    product_seconds = []
    a = x.T.astype(np.float64)
    b = y.T.astype(np.float64)
    for _ in range(args.repeats):
        start = time.perf_counter()
        a @ b.T
        product_seconds.append(time.perf_counter() - start)

    report = {
        "n": x.shape[0],
        "d_a": x.shape[1],
        "d_b": y.shape[1],
        "repeats": args.repeats,
        "load_seconds": load_seconds,
        "trio_seconds_median": statistics.median(seconds),
        "gemm_seconds_median": statistics.median(product_seconds),
        "values": values,
        "blas": blas_description(),
    }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(f"reference pipeline (numpy {np.__version__}; {report['blas']})")
        print(f"n = {report['n']}, d = {report['d_a']} / {report['d_b']}, median of {args.repeats}")
        print(f"  load both files            {load_seconds:8.3f} s")
        print(f"  pwcca + cka + procrustes   {report['trio_seconds_median']:8.3f} s per pair")
        print(f"  one d x n x d GEMM (A Bᵀ)  {report['gemm_seconds_median']:8.3f} s")
        print(f"  values {json.dumps(values)}")


if __name__ == "__main__":
    main()
