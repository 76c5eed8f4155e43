"""Writes a pair of related float32 activation matrices (low-rank signal + noise) as .npy files.

Usage: python3 bench/make_pair.py OUT_DIR [--n 4000] [--d 768] [--seed 0]
Produces OUT_DIR/a.npy and OUT_DIR/b.npy, inputs for `simbench compare` and
bench/reference_pipeline.py.
"""

import argparse
import pathlib

import numpy as np


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir")
    parser.add_argument("--n", type=int, default=4000)
    parser.add_argument("--d", type=int, default=768)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    rank = min(args.d, 64)
    scales = 1 / np.sqrt(np.arange(1, rank + 1))
    shared = rng.standard_normal((args.n, rank)) * scales
    related = 0.8 * shared + 0.6 * rng.standard_normal((args.n, rank)) * scales
    out = pathlib.Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for name, factors in (("a", shared), ("b", related)):
        readout = rng.standard_normal((rank, args.d)) / np.sqrt(rank)
        noise = 0.1 * rng.standard_normal((args.n, args.d))
        np.save(out / f"{name}.npy", (factors @ readout + noise).astype(np.float32))


if __name__ == "__main__":
    main()
