"""A 300 MB file streams from disk: the uploading process never holds it."""

import json
import subprocess
import sys
import textwrap

import numpy as np

ROWS, COLS = 75_000, 1_000  # float32: 300 MB

UPLOADER = textwrap.dedent(
    """
    import json, sys, tracemalloc
    import simbench

    def peak_resident_bytes():
        # VmHWM belongs to this process's own address space, unlike ru_maxrss, which can carry
        # the parent's resident size across fork and exec.
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
        raise RuntimeError("no VmHWM in /proc/self/status")

    path, model, dataset = sys.argv[1:4]
    tracemalloc.start()
    with simbench.Client() as client:
        stored = client.upload(model, dataset, 0, path)
    _, peak_traced = tracemalloc.get_traced_memory()
    print(json.dumps({"rows": stored.n_rows, "cols": stored.n_cols,
                      "byte_len": stored.json["byte_len"], "peak_resident": peak_resident_bytes(),
                      "peak_traced": peak_traced}))
    """
)


def test_a_300_mb_upload_streams_in_less_than_100_mb_of_client_memory(client, unique, tmp_path):
    path = tmp_path / "large.npy"
    block = 5_000
    with open(path, "wb") as file:
        header = np.lib.format.header_data_from_array_1_0(np.zeros((1, COLS), dtype=np.float32))
        header["shape"] = (ROWS, COLS)
        np.lib.format.write_array_header_1_0(file, header)
        for start in range(0, ROWS, block):
            np.full((block, COLS), start / ROWS, dtype=np.float32).tofile(file)
    assert path.stat().st_size > 300_000_000

    finished = subprocess.run(
        [sys.executable, "-c", UPLOADER, str(path), f"{unique}-m", f"{unique}-d"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert finished.returncode == 0, finished.stderr
    report = json.loads(finished.stdout)
    assert (report["rows"], report["cols"], report["byte_len"]) == (ROWS, COLS, ROWS * COLS * 4)
    assert report["peak_resident"] < 100 * 2**20, report
    assert report["peak_traced"] < 10 * 2**20, report
    print(
        f"300 MB upload: client peak resident {report['peak_resident'] / 2**20:.1f} MiB, "
        f"peak Python allocations {report['peak_traced'] / 2**20:.2f} MiB"
    )
