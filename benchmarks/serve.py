"""Load on ``pix2pix serve``: concurrent clients against a small model on 127.0.0.1.

The server runs in its own process, started with the ``serve`` subcommand's own ``run``
(exactly what ``pix2pix serve`` does), on a free port. ``--clients`` threads each send
``--requests`` PNGs, every one different, over a keep-alive connection, and check each answer
against the library's own translation of that input (the same model, loaded here): right size,
right pixels (batched runs match one-by-one up to float rounding: at most 2 levels of 255,
while a mixed-up answer is off by far more), none lost. The server must still answer
``/healthz`` afterwards. This is done once per ``--max-batch`` setting: 1 (every request
alone, serialised) and 8 (deterministic requests waiting together run as one batch).

Run: ``python benchmarks/serve.py [--clients 8] [--requests 50] [--max-batch 1 8]``
Writes ``benchmarks/results/serve.json``: p50/p95 latency and throughput per setting.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))

from pix2pix import Translator
from pix2pix.models import UNetGenerator

from common import machine, write_results

# the serve subcommand on a fresh parser: works before (and after) it joins `pix2pix`
_SERVER = """
import argparse, sys
from pix2pix.cli import serve
parser = argparse.ArgumentParser()
serve.register(parser.add_subparsers())
args = parser.parse_args(sys.argv[1:])
sys.exit(args.func(args))
"""


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def _wait_ready(url: str, process: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}")
        try:
            if httpx.get(url + "healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError("the server did not become ready")


def run_load(
    model: Path,
    inputs: list[list[bytes]],
    expected: list[list[np.ndarray]],
    max_batch: int,
    threads: int,
) -> dict[str, object]:
    """Start a server, send every client's requests concurrently, check and time them."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}/"
    command = [sys.executable, "-c", _SERVER, "serve", "--model", str(model), "--port", str(port)]
    command += ["--device", "cpu", "--max-batch", str(max_batch), "--log-level", "warning"]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    process = subprocess.Popen(command, env=env)
    try:
        _wait_ready(url, process)
        # one warm-up request: the first forward pays for allocations
        httpx.post(url + "api/translate", content=inputs[0][0], timeout=60)
        latencies: list[list[float]] = [[] for _ in inputs]
        failures: list[str] = []
        batches: list[int] = []
        lock = threading.Lock()

        def client(c: int) -> None:
            with httpx.Client(base_url=url, timeout=120) as session:
                for i, body in enumerate(inputs[c]):
                    start = time.perf_counter()
                    try:
                        response = session.post(
                            "api/translate", content=body, headers={"content-type": "image/png"}
                        )
                    except httpx.HTTPError as e:
                        with lock:
                            failures.append(f"client {c} request {i}: {e!r}")
                        continue
                    latencies[c].append(time.perf_counter() - start)
                    problem = None
                    if response.status_code != 200:
                        problem = f"status {response.status_code}: {response.text[:200]}"
                    else:
                        out = np.asarray(Image.open(io.BytesIO(response.content))).astype(int)
                        want = expected[c][i]
                        if out.shape != want.shape:
                            problem = f"shape {out.shape} != {want.shape}"
                        elif np.abs(out - want).max() > 2:
                            problem = f"wrong pixels (max diff {np.abs(out - want).max()})"
                    with lock:
                        batches.append(int(response.headers.get("x-batch-size", 0)))
                        if problem:
                            failures.append(f"client {c} request {i}: {problem}")

        workers = [threading.Thread(target=client, args=(c,)) for c in range(len(inputs))]
        start = time.perf_counter()
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        wall = time.perf_counter() - start
        alive = httpx.get(url + "healthz", timeout=10).status_code == 200
    finally:
        process.terminate()
        process.wait(30)
    flat = sorted(t for client_times in latencies for t in client_times)
    total = sum(len(c) for c in inputs)
    quantiles = statistics.quantiles(flat, n=100) if len(flat) > 1 else flat * 99
    return {
        "max_batch": max_batch,
        "requests": total,
        "answered": len(flat),
        "lost": total - len(flat),
        "failures": len(failures),
        "failure_examples": failures[:5],
        "all_correct": not failures and len(flat) == total,
        "server_alive_after": alive,
        "p50_ms": round(quantiles[49] * 1000, 1),
        "p95_ms": round(quantiles[94] * 1000, 1),
        "mean_ms": round(statistics.fmean(flat) * 1000, 1),
        "throughput_rps": round(len(flat) / wall, 1),
        "wall_s": round(wall, 2),
        "mean_batch": round(statistics.fmean(batches), 2) if batches else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=50, help="per client")
    parser.add_argument("--size", type=int, default=64, help="image side (64)")
    parser.add_argument("--width", type=int, default=8, help="generator base channels (8)")
    parser.add_argument("--max-batch", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--threads", type=int, default=2, help="torch threads of the server")
    parser.add_argument("--output", default=None)
    args = parser.parse_args()

    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        model = Path(tmp) / "model"
        num_downs = int(np.log2(args.size))
        UNetGenerator(base_channels=args.width, num_downs=num_downs).save_pretrained(
            model, inference={"crop_size": args.size}
        )
        translator = Translator.from_pretrained(model, device="cpu")
        rng = np.random.default_rng(0)
        shape = (args.size, args.size, 3)
        arrays = [
            [rng.integers(0, 256, shape, dtype=np.uint8) for _ in range(args.requests)]
            for _ in range(args.clients)
        ]
        inputs = [[_png(a) for a in client] for client in arrays]
        expected = [
            [np.asarray(translator.translate(Image.fromarray(a))).astype(int) for a in client]
            for client in arrays
        ]
        rows = [
            run_load(model, inputs, expected, max_batch, args.threads)
            for max_batch in args.max_batch
        ]
    payload = {
        "benchmark": "serve",
        "setup": {
            "clients": args.clients,
            "requests_per_client": args.requests,
            "image": f"{args.size}x{args.size} RGB PNG, every one different",
            "model": f"UNetGenerator(base_channels={args.width}, num_downs={num_downs})",
            "server": "pix2pix serve on 127.0.0.1, CPU, own process",
            "server_torch_threads": args.threads,
            "correct": "same size and within 2/255 of Translator.translate of the same input",
        },
        "rows": rows,
        "machine": machine(),
    }
    write_results("serve", payload, args.output)
    if not all(r["all_correct"] and r["server_alive_after"] for r in rows):
        sys.exit(1)


if __name__ == "__main__":
    main()
