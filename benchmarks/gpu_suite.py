"""One GPU run of about seven minutes (``--budget 400``): every CUDA path, measured side by side.

Stages, most valuable first; each runs in its own process with its own time budget (bounded by
the suite's global clock), its own try/except, and writes ``OUTPUT/<stage>.json`` as soon as it
has something (rows are added as they finish), so a stage that fails or runs out of time leaves
the others' results and its own finished rows:

1. ``pytest_cuda``: ``pytest -m cuda tests/test_cuda.py`` (the CUDA paths for real): counts
   ``passed`` / ``failed`` / ``skipped`` and one row per test, from its JUnit XML, or from its
   verbose output if it ran out of time before writing it.
2. ``train_throughput``: training steps at 256 px, batch 1 and 64, side by side with the
   reference (``benchmarks/reference.py``): reference fp32; ours default fp32; ours fast (bf16,
   channels_last, compile, fused Adam); at batch 1 also the CUDA-graph step
   (``cuda_graphs=True``: fp32, bf16 + channels_last, and with compile). img/s, ratio to the
   reference, peak ``max_memory_allocated`` of each row, achieved TFLOP/s and MFU against
   ``--peak-tflops`` (86.94 GFLOP per 256 px image per step).
3. ``translate``: Translator throughput at 256 and 1024 px, batch 1 and 16, against the
   reference forward under the same grad mode (``torch.inference_mode``).
4. ``data_pipeline``: img/s of the training data pipeline from JPEG files with N DataLoader
   workers (pinned memory), against what stage 2's fast path consumes; GPU JPEG decode
   (``torchvision.io.decode_jpeg(device="cuda")``) for comparison.

A stage that finishes under its budget passes the time it saved on to the next ones. Training on
the clock (the paper's facades recipe, scored) is ``benchmarks/paper_recipe.py``'s job, run on
its own clock: it replaced this suite's former ``quality`` stage.

Every JSON holds the machine (GPU, driver, torch, CUDA and cuDNN versions) and the command of
each row. Only small files land in ``--output`` (the stage JSONs and ``suite.json``); logs go
to ``--work-dir``.

Usage::

    python benchmarks/copy_gpu_data.py                  # here: the pairs into gpu-data/
    # on the GPU machine, with gpu-data carried along (pix2pix need not be installed there):
    python3 benchmarks/gpu_suite.py --output $OUT --data gpu-data --budget 400
    # dry run of everything with tiny sizes, on the CPU
    python benchmarks/gpu_suite.py --device cpu --smoke --output /tmp/gpu-suite-smoke
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import traceback
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import flops_utilisation, interleaved, machine, median, sync

ROOT = Path(__file__).resolve().parents[1]

# (name, budget in seconds on the GPU); time a stage leaves unused goes to the later ones
STAGES: tuple[tuple[str, float], ...] = (
    ("pytest_cuda", 180),  # compiled and graphed tests (the verbose output keeps the counts if
    # it is killed before writing its JUnit file)
    ("train_throughput", 170),  # two cold compiles (batch 1 and 64) of about a minute each
    ("translate", 30),
    ("data_pipeline", 20),
)
SMOKE_BUDGETS = {  # the CPU is much slower to compile; a smoke run proves the code, not speed
    "pytest_cuda": 180,
    "train_throughput": 900,
    "translate": 300,
    "data_pipeline": 120,
}
GFLOP_256 = 86.94  # training GFLOP per 256 px image per step (train_step.py's count)
MARGIN_S = 8.0  # a stage's own deadline is this much before its process is killed


# ================================================================== environment
def environment() -> dict[str, Any]:
    """Machine, torch, CUDA, cuDNN and GPU description for every JSON."""
    info: dict[str, Any] = dict(machine())
    info["torch_cuda"] = torch.version.cuda
    info["cudnn"] = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
    try:
        import torchvision

        info["torchvision"] = torchvision.__version__
    except ImportError:  # pragma: no cover - a dependency of the package
        info["torchvision"] = None
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        info["gpu"] = props.name
        info["gpu_memory_gib"] = round(props.total_memory / 2**30, 1)
        info["gpu_capability"] = f"{props.major}.{props.minor}"
        info["gpu_multiprocessors"] = props.multi_processor_count
        try:
            smi = subprocess.run(
                ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                capture_output=True,
                text=True,
                timeout=20,
                check=False,
            )
            info["driver"] = smi.stdout.strip() or None
        except (OSError, subprocess.SubprocessError):
            info["driver"] = None
    info["tf32"] = {
        "cudnn.allow_tf32": torch.backends.cudnn.allow_tf32,
        "matmul.allow_tf32": torch.backends.cuda.matmul.allow_tf32,
    }
    return info


def suite_command() -> str:
    return "python benchmarks/gpu_suite.py " + " ".join(sys.argv[1:])


class StageRecord:
    """A stage's JSON, rewritten (atomically) whenever a row is added or the status changes."""

    def __init__(self, path: Path, stage: str, args: argparse.Namespace) -> None:
        self.path = path
        self.data: dict[str, Any] = {
            "stage": stage,
            "status": "running",
            "smoke": args.smoke,
            "device": args.device,
            "machine": environment(),
            "suite_command": suite_command(),
            "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "rows": [],
            "notes": [],
        }
        self.start = time.perf_counter()
        self.write()

    def add_row(self, row: dict[str, Any]) -> None:
        self.data["rows"].append(row)
        self.write()

    def note(self, text: str) -> None:
        self.data["notes"].append(text)
        self.write()

    def finish(self, status: str, **extra: Any) -> None:
        self.data.update(extra)
        self.data["status"] = status
        self.data["seconds"] = round(time.perf_counter() - self.start, 1)
        self.write()

    def write(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.data, indent=2, default=str) + "\n")
        os.replace(tmp, self.path)


def left(deadline: float) -> float:
    return deadline - time.time()


# ================================================================== stage 1: pytest -m cuda
def stage_pytest_cuda(args: argparse.Namespace, record: StageRecord, deadline: float) -> None:
    work = Path(args.work_dir)
    work.mkdir(parents=True, exist_ok=True)
    junit = work / "pytest-cuda.xml"
    junit.unlink(missing_ok=True)  # never count an earlier run's file
    command = [
        sys.executable,
        "-m",
        "pytest",
        "tests/test_cuda.py",
        "-m",
        "cuda",
        "-v",  # one line per finished test: the counts survive a kill
        "-rA",
        "-p",
        "no:cacheprovider",
        f"--junitxml={junit}",
    ]
    record.data["command"] = " ".join(command[1:]).replace(str(junit), "JUNIT.xml")
    timeout = max(5.0, left(deadline))
    try:
        proc = subprocess.run(
            command, cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False
        )
        returncode: int | None = proc.returncode
        output = proc.stdout + proc.stderr
    except subprocess.TimeoutExpired as error:
        returncode = None
        out = error.stdout or b""
        output = out.decode() if isinstance(out, bytes) else out
    (work / "pytest-cuda.log").write_text(output)
    summary = parse_junit(junit) if junit.is_file() else {}
    if not summary:
        summary = parse_verbose(output)
        summary["source"] = "verbose output (no JUnit file: pytest did not finish)"
    for case in summary.pop("cases", []):
        record.data["rows"].append(case)
    record.data["summary"] = summary
    record.data["returncode"] = returncode
    record.data["output_tail"] = output[-1500:]
    if returncode is None:
        raise TimeoutError(
            f"pytest ran past its {timeout:.0f} s budget ({summary.get('passed', 0)} passed, "
            f"{summary.get('failed', 0)} failed, {summary.get('skipped', 0)} skipped by then)"
        )
    if returncode not in (0, 5):  # 5: nothing collected/selected
        raise RuntimeError(f"pytest exited with {returncode}")


def parse_junit(path: Path) -> dict[str, Any]:
    """Counts (``passed``, ``failed`` = failures + errors, ``skipped``) and one row per test
    case (name, seconds, outcome, message) from JUnit XML."""
    root = ET.parse(path).getroot()
    suite = root if root.tag == "testsuite" else root.find("testsuite")
    if suite is None:
        return {}
    cases = []
    for case in suite.iter("testcase"):
        outcome, message = "passed", ""
        for tag in ("failure", "error", "skipped"):
            node = case.find(tag)
            if node is not None:
                outcome = {"failure": "failed", "error": "error", "skipped": "skipped"}[tag]
                message = (node.get("message") or node.text or "")[:400]
        cases.append(
            {
                "test": f"{case.get('classname')}::{case.get('name')}",
                "seconds": round(float(case.get("time") or 0), 2),
                "outcome": outcome,
                "message": message,
            }
        )
    return {**counts(cases), "seconds": round(float(suite.get("time") or 0), 1), "cases": cases}


_VERBOSE_LINE = re.compile(r"^(\S+::\S+) (PASSED|FAILED|ERROR|SKIPPED|XFAIL|XPASS)\b", re.M)


def parse_verbose(output: str) -> dict[str, Any]:
    """The same counts and rows from ``pytest -v`` lines, for a run killed before its XML."""
    outcome = {"ERROR": "error", "XFAIL": "skipped", "XPASS": "passed"}
    cases = [
        {"test": name, "seconds": None, "outcome": outcome.get(word, word.lower()), "message": ""}
        for name, word in _VERBOSE_LINE.findall(output)
    ]
    return {**counts(cases), "cases": cases}


def counts(cases: list[dict[str, Any]]) -> dict[str, int]:
    outcomes = [case["outcome"] for case in cases]
    return {
        "tests": len(outcomes),
        "passed": outcomes.count("passed"),
        "failed": outcomes.count("failed") + outcomes.count("error"),
        "skipped": outcomes.count("skipped"),
    }


# ================================================================== stage 2: training
FAST_SETTINGS = {"precision": "bf16", "channels_last": True, "compile": True}  # + fused Adam
#: Our rows' TrainerConfig settings. The CUDA-graph rows (``cuda_graphs=True``: the whole step
#: replayed as one graph, fused Adam) run at batch 1, where a step is launch-bound.
OUR_ROWS: dict[str, dict[str, Any]] = {
    "ours": {},
    "ours_graph": {"cuda_graphs": True},
    "ours_graph_bf16": {"cuda_graphs": True, "precision": "bf16", "channels_last": True},
    "ours_fast": FAST_SETTINGS,
    "ours_graph_fast": {**FAST_SETTINGS, "cuda_graphs": True},
}
BATCH_ONE_ROWS = (
    "reference",
    "ours",
    "ours_graph",
    "ours_graph_bf16",
    "ours_fast",  # the compiled rows last: they take a minute each to compile
    "ours_graph_fast",
)
BATCH_ROWS = ("reference", "ours", "ours_fast")
COMPILE_S = 90.0  # time a compiled row needs to be built on a GPU (skipped with less left)


def make_train_row(
    row: str, size: int, width: int, batch: int, device: torch.device
) -> tuple[Callable, Any, dict[str, Any]]:
    """One row's models (``width`` base channels; 64 is the paper's), its step function, its
    trainer (``None`` for the reference) and the settings it ran with.

    Without CUDA a CUDA-graph row runs its other settings eagerly, as a stand-in that proves the
    code of the row (a smoke run), and says so.
    """
    from pix2pix import PatchGANDiscriminator, UNetGenerator
    from pix2pix.trainer import Trainer, TrainerConfig

    from reference import RefPix2Pix, build_reference

    num_downs = size.bit_length() - 1  # unet_256 at 256 px: a 1x1 bottleneck
    torch.manual_seed(0)
    if row == "reference":
        net_g, net_d = build_reference(num_downs=num_downs, ngf=width, ndf=width)
        model = RefPix2Pix(net_g.to(device), net_d.to(device)).to(device)
        return (lambda a, b: model.optimize_parameters(a, b)), None, {"precision": "fp32"}
    settings = dict(OUR_ROWS[row])
    if settings.get("cuda_graphs") and device.type != "cuda":
        settings["cuda_graphs"] = False
        settings["stand_in"] = "eager: CUDA graphs need a GPU"
    config_settings = {k: v for k, v in settings.items() if k != "stand_in"}
    config = TrainerConfig(
        device=str(device), batch_size=batch, progress_bar=False, **config_settings
    )
    trainer = Trainer(
        UNetGenerator(num_downs=num_downs, base_channels=width),
        PatchGANDiscriminator(base_channels=width),
        config,
    )
    return (lambda a, b: trainer.training_step({"source": a, "target": b})), trainer, settings


def throughput(
    ips: float, gflop: float | None, peak_tflops: float, device: torch.device
) -> dict[str, float | None]:
    """Achieved TFLOP/s and MFU of a row (on a GPU, at the paper's size)."""
    if device.type != "cuda" or not gflop:
        return {"achieved_tflops": None, "mfu": None}
    return flops_utilisation(ips, gflop, peak_tflops)


def graph_counts(trainer: Any) -> dict[str, int] | None:
    """A CUDA-graph row's captures, replays and eager steps (``None`` for an eager row)."""
    step = getattr(trainer, "step_function", None)
    if not hasattr(step, "replays"):
        return None
    return {"captures": step.captures, "replays": step.replays, "eager_steps": step.eager_steps}


def stage_train_throughput(args: argparse.Namespace, record: StageRecord, deadline: float) -> None:
    device = torch.device(args.device)
    size, width = (64, 8) if args.smoke else (256, 64)
    batches = [1, 2] if args.smoke else [1, 64]
    # each timed call runs several steps, so that batch 1's short steps are timed reliably
    steps_per_call = {1: 1 if args.smoke else 10, 2: 1, 64: 2}
    repeats = 2 if args.smoke else 5
    torch.backends.cudnn.benchmark = args.cudnn_benchmark
    gflop = GFLOP_256 if (size, width) == (256, 64) else None
    record.data.update(
        size=size,
        base_channels=width,
        rows_settings={"reference": {"precision": "fp32"}, **OUR_ROWS},
        fused_adam="every row but reference and ours (the paper-exact per-parameter Adam)",
        cudnn_benchmark=args.cudnn_benchmark,
        peak_tflops=args.peak_tflops,
        training_gflop_per_image=gflop,
        mfu_basis=f"img/s x {gflop} GFLOP / {args.peak_tflops} TFLOP/s (--peak-tflops)"
        if gflop
        else None,
    )
    for batch in batches:
        if left(deadline) < 20:
            record.note(f"batch {batch}: skipped, out of time")
            continue
        torch._dynamo.reset()  # each batch size compiles its own fast graphs
        a = torch.rand(batch, 3, size, size, device=device) * 2 - 1
        b = torch.rand_like(a)
        k = steps_per_call.get(batch, 1)
        steps: dict[str, Callable[[], object]] = {}
        extra: dict[str, dict[str, Any]] = {}
        trainers: dict[str, Any] = {}
        for row in BATCH_ONE_ROWS if batch == 1 else BATCH_ROWS:
            compiled = OUR_ROWS.get(row, {}).get("compile", False)
            need = COMPILE_S if compiled and device.type == "cuda" else 15
            if left(deadline) < need:
                record.note(f"batch {batch} {row}: skipped, {left(deadline):.0f} s left")
                continue
            if device.type == "cuda":
                torch.cuda.synchronize()
                torch.cuda.reset_peak_memory_stats()
            before = torch.cuda.memory_allocated() if device.type == "cuda" else 0
            try:
                step, trainer, settings = make_train_row(row, size, width, batch, device)
                start = time.perf_counter()
                step(a, b)  # warm-up; compiles the compiled rows
                sync(device)
                first = time.perf_counter() - start
                # a CUDA-graph step warms up for a few steps, then captures: replays from here
                graph_step = getattr(trainer, "step_function", None)
                for _ in range(getattr(graph_step, "warmup_steps", 0) + 1):
                    step(a, b)
                sync(device)
            except Exception as error:  # one row's failure must not lose the others
                record.note(f"batch {batch} {row}: failed: {type(error).__name__}: {error}")
                record.data.setdefault("row_tracebacks", {})[f"{batch}/{row}"] = tb_tail()
                continue
            info: dict[str, Any] = {"settings": settings, "first_step_s": round(first, 2)}
            if device.type == "cuda":
                peak = torch.cuda.max_memory_allocated() - before
                info["peak_memory_mib"] = round(peak / 2**20, 1)
            extra[row], trainers[row] = info, trainer

            def run(step: Callable = step, k: int = k, a=a, b=b) -> None:
                for _ in range(k):
                    step(a, b)

            steps[row] = run
        if not steps:
            continue
        times = interleaved(steps, repeats=repeats, warmup=0, device=device)
        base = median(times["reference"]) if "reference" in times else None
        rows = {}
        for row, values in times.items():
            seconds = median(values) / k
            ips = batch / seconds
            rows[row] = {
                **extra[row],
                "median_step_s": round(seconds, 5),
                "img_per_s": round(ips, 2),
                "vs_reference": round(base / k / seconds, 3) if base else None,
                **throughput(ips, gflop, args.peak_tflops, device),
                "all_calls_s": [round(v, 4) for v in values],
            }
            graph = graph_counts(trainers[row])
            if graph is not None:
                rows[row]["graph"] = graph  # the timed steps were replays
        record.add_row(
            {
                "size": size,
                "batch": batch,
                "steps_per_timed_call": k,
                "repeats": repeats,
                "rows": rows,
                "command": suite_command() + " (stage train_throughput)",
                "equivalent": f"python benchmarks/train_step.py --device {device.type} "
                f"--size {size} --batch {batch} --memory (its rows: reference, ours, ours_fast)",
            }
        )
        del steps, trainers, a, b
        if device.type == "cuda":
            torch.cuda.empty_cache()


# ================================================================== stage 3: translate
def stage_translate(args: argparse.Namespace, record: StageRecord, deadline: float) -> None:
    import translate

    device = torch.device(args.device)
    torch.backends.cudnn.benchmark = args.cudnn_benchmark
    if args.smoke:
        shapes, num_downs, repeats = [(64, 1), (64, 2)], 6, 2
    else:
        shapes, num_downs, repeats = [(256, 1), (256, 16), (1024, 1), (1024, 16)], 8, 5
    variants = ["default", "compile", "compile_bf16"]
    if device.type == "cuda":
        variants += ["bf16", "fp16"]
    torch.manual_seed(0)
    ref_g, ours = translate.setup_models(device, num_downs=num_downs)
    translators = translate.build_translators(ours, device, variants)
    record.data.update(grad_mode=translate.GRAD_MODE, variants=variants, num_downs=num_downs)
    for size, batch in shapes:
        if left(deadline) < 15:
            record.note(f"{size} px batch {batch}: skipped, out of time")
            continue
        row = translate.measure_row(ref_g, translators, size, batch, repeats, device)
        row["command"] = suite_command() + " (stage translate)"
        row["equivalent"] = (
            f"python benchmarks/translate.py --device {device.type} --sizes {size} "
            f"--batch {batch} --variants {' '.join(variants)}"
        )
        record.add_row(row)


# ================================================================== stage 4: data pipeline
def stage_data_pipeline(args: argparse.Namespace, record: StageRecord, deadline: float) -> None:
    from torch.utils.data import DataLoader

    from pix2pix.data import PairedImageDataset

    device = torch.device(args.device)
    folder = Path(args.data) / "facades" / "train"
    size = 64 if args.smoke else 256
    load = round(size * 286 / 256)
    dataset = PairedImageDataset(folder, direction="BtoA", load_size=load, crop_size=size)
    cpus = os.cpu_count() or 1
    workers = [0, 2] if args.smoke else sorted({0, 4, 8, max(1, cpus - 2)})
    batches = [1, 4] if args.smoke else [1, 64]
    images = 16 if args.smoke else 320
    consumed = fast_path_consumption(Path(args.output))
    record.data.update(
        data=str(folder),
        size=size,
        fast_path_img_per_s=consumed,
        cpu_count=cpus,
        pin_memory=device.type == "cuda",
    )
    for batch in batches:
        for n in workers:
            if left(deadline) < 8:
                record.note(f"batch {batch} workers {n}: skipped, out of time")
                continue
            loader = DataLoader(
                dataset,
                batch_size=batch,
                shuffle=True,
                num_workers=n,
                pin_memory=device.type == "cuda",
                persistent_workers=n > 0,
                prefetch_factor=4 if n > 0 else None,
                drop_last=True,
                generator=torch.Generator().manual_seed(0),
            )
            seen, start, first = 0, time.perf_counter(), None
            while seen < images + batch:
                for item in loader:
                    item["source"].to(device, non_blocking=True)
                    item["target"].to(device, non_blocking=True)
                    if first is None:  # start the clock after the workers are up
                        first = time.perf_counter()
                    else:
                        seen += batch
                    if seen >= images or left(deadline) < 5:
                        break
                if seen >= images or left(deadline) < 5:
                    break
            sync(device)
            seconds = time.perf_counter() - (first or start)
            ips = seen / seconds if seconds > 0 else None
            record.add_row(
                {
                    "kind": "cpu_decode_dataloader",
                    "batch": batch,
                    "workers": n,
                    "images": seen,
                    "img_per_s": round(ips, 1) if ips else None,
                    "keeps_up_with": {
                        k: bool(ips and ips >= v) for k, v in consumed.items() if v is not None
                    },
                    "command": suite_command() + " (stage data_pipeline)",
                }
            )
            del loader
    if left(deadline) > 8:
        record.add_row(gpu_decode(folder, device, size, load, 8 if args.smoke else 256, deadline))


def fast_path_consumption(output: Path) -> dict[str, float | None]:
    """img/s of stage 2's fast row per batch size, read from its JSON (if it ran)."""
    path = output / "train_throughput.json"
    found: dict[str, float | None] = {}
    if path.is_file():
        for row in json.loads(path.read_text()).get("rows", []):
            fast = row.get("rows", {}).get("ours_fast")
            found[f"ours_fast_batch_{row['batch']}"] = fast["img_per_s"] if fast else None
    return found


def gpu_decode(
    folder: Path, device: torch.device, size: int, load: int, count: int, deadline: float
) -> dict[str, Any]:
    """Decode JPEGs with ``torchvision.io.decode_jpeg(device=...)`` and jitter on the device."""
    import torch.nn.functional as F
    import torchvision
    from torchvision.io import decode_jpeg, read_file

    files = sorted(folder.glob("*.jpg"))[:count]
    data = [read_file(str(p)) for p in files]  # bytes from disk, outside the clock
    gen = torch.Generator().manual_seed(0)

    def pipeline(chunk: list[torch.Tensor]) -> torch.Tensor:
        images = decode_jpeg(chunk, device=device.type)
        out = []
        for image in images:  # [3, H, W] uint8, A | B side by side
            half = image.shape[-1] // 2
            pair = torch.stack([image[..., half:], image[..., :half]]).float()  # BtoA
            pair = F.interpolate(pair, size=(load, load), mode="bicubic", align_corners=False)
            y, x = (int(v) for v in torch.randint(0, load - size + 1, (2,), generator=gen))
            pair = pair[..., y : y + size, x : x + size]
            if torch.rand((), generator=gen) < 0.5:
                pair = pair.flip(-1)
            out.append((pair.clamp(0, 255) / 127.5 - 1).contiguous())
        return torch.stack(out)

    chunk = 16 if len(data) >= 16 else len(data)
    pipeline(data[:chunk])  # warm-up (the decoder's first call initialises nvJPEG)
    sync(device)
    start, seen = time.perf_counter(), 0
    for i in range(0, len(data) - chunk + 1, chunk):
        pipeline(data[i : i + chunk])
        seen += chunk
        if left(deadline) < 4:
            break
    sync(device)
    seconds = time.perf_counter() - start
    return {
        "kind": f"decode_jpeg(device={device.type!r}) + resize/crop/flip on the device",
        "batch": chunk,
        "workers": 0,
        "images": seen,
        "img_per_s": round(seen / seconds, 1) if seconds > 0 else None,
        "torchvision": torchvision.__version__,
        "command": suite_command() + " (stage data_pipeline)",
    }


STAGE_FUNCTIONS: dict[str, Callable[[argparse.Namespace, StageRecord, float], None]] = {
    "pytest_cuda": stage_pytest_cuda,
    "train_throughput": stage_train_throughput,
    "translate": stage_translate,
    "data_pipeline": stage_data_pipeline,
}


# ================================================================== the driver
def run_child(args: argparse.Namespace) -> int:
    """Run one stage in this process; its JSON records a failure instead of raising it."""
    stage, deadline = args.child, args.deadline
    record = StageRecord(Path(args.output) / f"{stage}.json", stage, args)
    record.data["deadline_s"] = round(left(deadline), 1)
    try:
        STAGE_FUNCTIONS[stage](args, record, deadline)
    except Exception as error:  # one stage's failure must not lose the others
        record.finish("error", error=f"{type(error).__name__}: {error}", traceback=tb_tail())
        print(traceback.format_exc(), file=sys.stderr, flush=True)
        return 1
    record.finish("ok" if not record.data["notes"] else "partial")
    return 0


def tb_tail() -> str:
    return traceback.format_exc()[-3000:]


def forward_args(args: argparse.Namespace) -> list[str]:
    flags = [
        "--device",
        args.device,
        "--output",
        args.output,
        "--work-dir",
        args.work_dir,
        "--data",
        args.data,
        "--peak-tflops",
        str(args.peak_tflops),
    ]
    if args.smoke:
        flags.append("--smoke")
    if not args.cudnn_benchmark:
        flags.append("--no-cudnn-benchmark")
    return flags


def child_env() -> dict[str, str]:
    """This environment with the checkout first on PYTHONPATH (pix2pix need not be installed)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    return env


def run_suite(args: argparse.Namespace) -> int:
    clock = time.time()
    deadline = clock + args.budget
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    Path(args.work_dir).mkdir(parents=True, exist_ok=True)
    summary: dict[str, Any] = {
        "suite": "gpu_suite",
        "command": suite_command(),
        "smoke": args.smoke,
        "device": args.device,
        "budget_s": args.budget,
        "machine": environment(),
        "stages": {},
    }

    def write_summary() -> None:
        summary["elapsed_s"] = round(time.time() - clock, 1)
        (out / "suite.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")

    write_summary()
    budgets = SMOKE_BUDGETS if args.smoke else dict(STAGES)
    failures = 0
    for index, stage in enumerate(args.stages):
        remaining = deadline - time.time()
        # its own budget, plus what earlier stages left unused (the later ones keep theirs)
        later = sum(budgets[name] for name in args.stages[index + 1 :])
        limit = min(remaining, max(budgets[stage], remaining - later))
        if limit < 15:
            summary["stages"][stage] = {"status": "skipped", "reason": "global clock ran out"}
            write_summary()
            continue
        command = [sys.executable, __file__, "--child", stage, "--deadline"]
        command += [str(time.time() + limit - MARGIN_S), *forward_args(args)]
        print(f"== {stage}: budget {limit:.0f} s", flush=True)
        start = time.time()
        status, returncode = "ok", None
        try:
            proc = subprocess.run(command, cwd=ROOT, env=child_env(), timeout=limit, check=False)
            returncode = proc.returncode
        except subprocess.TimeoutExpired:
            status = "timeout"
        seconds = round(time.time() - start, 1)
        path = out / f"{stage}.json"
        try:
            written = json.loads(path.read_text()) if path.is_file() else {}
        except json.JSONDecodeError:
            written = {}
        if status == "timeout" or not written:
            written.setdefault("stage", stage)
            written["status"] = status if status == "timeout" else "error"
            written.setdefault("error", f"process exited with {returncode}")
            written["seconds"] = seconds
            path.write_text(json.dumps(written, indent=2, default=str) + "\n")
        status = written.get("status", "error")
        failures += status not in ("ok", "partial")
        summary["stages"][stage] = {
            "status": status,
            "seconds": seconds,
            "budget_s": round(limit, 1),
            "rows": len(written.get("rows", [])),
            "error": written.get("error"),
        }
        write_summary()
        print(f"== {stage}: {status} in {seconds} s", flush=True)
    write_summary()
    return 1 if failures else 0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--output", required=True, help="folder for the JSON (and two PNGs)")
    parser.add_argument("--work-dir", default=None, help="models and logs (default: a temp folder)")
    parser.add_argument("--data", default=str(ROOT / "gpu-data"), help="copy_gpu_data.py's folder")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: a dry run, not results")
    parser.add_argument(
        "--stages", nargs="+", default=[name for name, _ in STAGES], choices=dict(STAGES)
    )
    parser.add_argument(
        "--budget", type=float, default=None, help="global clock, seconds (400; smoke 1800)"
    )
    parser.add_argument("--peak-tflops", type=float, default=989.0, help="H100/H200 dense bf16")
    parser.add_argument(
        "--no-cudnn-benchmark",
        dest="cudnn_benchmark",
        action="store_false",
        help="leave torch.backends.cudnn.benchmark off (it is set alike for every row)",
    )
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--deadline", type=float, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.budget is None:
        args.budget = 1800.0 if args.smoke else 400.0
    if args.work_dir is None:
        args.work_dir = str(Path(tempfile.gettempdir()) / "pix2pix-gpu-suite-work")
    args.output = str(Path(args.output).resolve())
    args.work_dir = str(Path(args.work_dir).resolve())
    args.data = str(Path(args.data).resolve())
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        return run_child(args)
    return run_suite(args)


if __name__ == "__main__":
    sys.exit(main())
