"""The paper's facades recipe on one GPU, on its own clock: train, score, bring back the pictures.

Facades labels -> photo, unet_256 + 70x70 PatchGAN (the ``paper`` preset), 256 px crops from
286 px, batch 1, on the 400 train pairs; the paper trains 200 epochs (100 at the initial
learning rate, 100 decaying linearly): 80,000 steps. This script runs that recipe with the
fastest correct path (``precision="bf16"``, ``channels_last``, ``compile``, fused Adam; the
pairs resized once and kept on the GPU, :class:`pix2pix.data.preloaded.PreloadedPairs`) inside
a fixed wall-clock budget, in this order:

1. Data: the train pairs preloaded; a few of their items checked against the file-reading
   dataset's (equal, bit for bit); items/s of both loaders.
2. The reference algorithm (``benchmarks/reference.py``), fp32, batch 1, on the same card:
   its steps/s, the baseline.
3. Calibration, the first ``--calib-steps`` steps of the real run (compilation included): the
   losses must be finite and G's L1 must fall, and the steady steps/s must leave room for
   ``--min-steps`` steps on the clock; otherwise the run stops here with a short report.
4. The schedule that fits: ``E`` epochs (at most ``--paper-epochs``), ``E/2`` at the initial
   learning rate and ``E/2`` decaying linearly, so the learning rate still decays to 0 when the
   clock allows fewer than 200 epochs (a shortened schedule, not a cut-off one). A run that
   turns out slower than calibrated shortens its schedule again at an epoch's end (the lr
   steps down once, then decays to 0 over the new length; ``replans``); if the clock still
   runs out, training stops at the deadline and the JSON says so (``cut_off``).
5. Scoring on the 106 test pairs with :func:`pix2pix.evaluation.evaluate` in both test modes
   (eval mode, and the paper's: batch statistics with dropout, seeded): L1, PSNR, SSIM and
   the blur-aware statistics; a gallery of the test pairs ``benchmarks/quality.py`` shows;
   every test output in one archive (FID needs Inception weights the machine lacks).
6. Maps photo -> map (the 100 shared pairs, the last 20 held out) the same way, if the whole
   facades recipe finished and enough time is left.

The training loop is the Trainer's public one-step API (``training_step``, the schedulers, the
epoch order of ``pix2pix.trainer.loader.epoch_loader``, the same as ``Trainer.fit``'s), driven
here so that the clock and the schedule can be decided after calibration, and because
``Trainer.fit`` pins memory on a GPU, which CUDA-resident items cannot be.

Outputs (at most 8 small files; the weights stay on the machine): ``OUTPUT/quality-facades-256-
gpu-<card>/`` with ``recipe.json``, ``gallery.png``, ``outputs.zip`` (eval-mode outputs) and
``outputs-stochastic.zip``; ``OUTPUT/quality-maps-256-gpu-<card>/`` with ``recipe.json``,
``gallery.png``, ``outputs.zip``.

Usage::

    python benchmarks/copy_gpu_data.py          # here: the pairs into gpu-data/ (git-ignored)
    # on the GPU machine (gpu-data carried along):
    PYTHONPATH=. python3 benchmarks/paper_recipe.py --data gpu-data --output $OUT
    # dry run of everything with tiny sizes and synthetic pairs, on the CPU (under a minute)
    python benchmarks/paper_recipe.py --device cpu --smoke --output /tmp/recipe-smoke
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import sys
import tempfile
import time
import traceback
import warnings
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import torch
from torch.utils.data import Dataset, Subset

sys.path.insert(0, str(Path(__file__).resolve().parent))

from gpu_suite import environment
from quality import gallery_pairs
from recipe_outputs import (
    card_slug,
    check_returnable,
    pack_images,
    results_folder,
    write_json,
)

from pix2pix.data import PairedImageDataset, SyntheticPairs
from pix2pix.data.preloaded import PreloadedPairs
from pix2pix.evaluation import evaluate
from pix2pix.presets import build_preset
from pix2pix.trainer import Trainer
from pix2pix.trainer.loader import epoch_loader
from pix2pix.trainer.rng import seed_everything

from reference import RefPix2Pix, build_reference

ROOT = Path(__file__).resolve().parents[1]
FAST = {"precision": "bf16", "channels_last": True}  # + compile (--compile) and fused Adam
LOSS_KEYS = ("D_fake", "D_real", "G_GAN", "G_L1")
DIRECTIONS = {"facades": "BtoA", "maps": "AtoB"}  # labels -> photo; aerial photo -> map
MAPS_HELD_OUT = 20


class Abort(Exception):
    """The calibration gate failed: stop with a short report instead of training on."""

    def __init__(self, reasons: list[str]) -> None:
        super().__init__("; ".join(reasons))
        self.reasons = reasons


class FirstStepError(Exception):
    """The first training step failed (a compile error, say): retry without compile."""


# ============================================================================ pure rules
def plan_epochs(
    rate: float, seconds: float, steps_done: int, per_epoch: int, max_epochs: int
) -> int:
    """Epochs of the schedule that fits: whole epochs, even (half constant, half decaying).

    ``rate`` steps/s for ``seconds`` more, after ``steps_done`` steps; at least 2, at most
    ``max_epochs``, and at least one epoch beyond the ones already finished.

    Example:
        >>> plan_epochs(170.0, 450.0, 300, 400, 200)  # 76,800 steps fit: 192 epochs
        192
    """
    fit = int((steps_done + rate * max(seconds, 0.0)) // per_epoch)
    epochs = min(max_epochs, fit)
    epochs -= epochs % 2
    return max(epochs, 2, steps_done // per_epoch + 1)


def gate(
    g_l1: list[float], finite: bool, rate: float, min_rate: float, window: int = 50
) -> dict[str, Any]:
    """Calibration's verdict: ``reasons`` it failed (empty: passed), and what was compared.

    It fails on a NaN/inf loss, on G's L1 not falling (its mean over the second half of the
    steps against the first ``window`` steps: at batch 1 one image's L1 is noisy, so the later
    mean is taken over many), or on fewer steps/s than ``min_rate``.

    Example:
        >>> gate([60.0] * 50 + [40.0] * 50, True, 150.0, 40.0)["reasons"]
        []
    """
    reasons = []
    if not finite:
        reasons.append("a loss was NaN or infinite during calibration")
    window = max(1, min(window, len(g_l1) // 3))
    later = g_l1[len(g_l1) // 2 :]
    first = sum(g_l1[:window]) / window if g_l1 else math.nan
    last = sum(later) / len(later) if later else math.nan
    if not last < first:
        reasons.append(
            f"G_L1 did not fall: mean {first:.3f} over the first {window} steps, {last:.3f} "
            f"over the last {len(later)}"
        )
    if rate < min_rate:
        reasons.append(f"{rate:.1f} steps/s is under the {min_rate:.1f} needed")
    return {
        "G_L1_first": round(first, 4),
        "G_L1_last": round(last, 4),
        "first_steps": window,
        "later_steps": len(later),
        "steps_per_s": round(rate, 2),
        "min_steps_per_s": round(min_rate, 2),
        "reasons": reasons,
    }


# ============================================================================ data
def task_data(args: argparse.Namespace, task: str) -> tuple[Dataset, Dataset | Path, int]:
    """(jittering train set, test folder or held-out set, test pairs) of ``task``."""
    common = {"load_size": args.load_size, "crop_size": args.size, "size_multiple": args.size}
    direction = DIRECTIONS[task]
    root = Path(args.data) / task
    if task == "facades":
        train = PairedImageDataset(root / "train", direction=direction, **common)
        count = len(PairedImageDataset(root / "test", direction=direction, train=False, **common))
        return train, root / "test", count
    full = PairedImageDataset(root / "train", direction=direction, **common)
    held = MAPS_HELD_OUT if len(full) > 2 * MAPS_HELD_OUT else max(1, len(full) // 5)
    train = Subset(full, range(len(full) - held))
    test_all = PairedImageDataset(root / "train", direction=direction, train=False, **common)
    return train, Subset(test_all, range(len(full) - held, len(full))), held


def synthetic_data(folder: Path, size: int) -> Path:
    """Tiny synthetic facades (8 train, 4 test) and maps (10) pairs, for --smoke."""
    SyntheticPairs(8, size=size).write(folder / "facades" / "train", ext=".jpg")
    SyntheticPairs(4, size=size, split="test").write(folder / "facades" / "test", ext=".jpg")
    SyntheticPairs(10, size=size, seed=1).write(folder / "maps" / "train", ext=".jpg")
    return folder


def loader_check(files: Dataset, fast: Dataset, device: torch.device, count: int) -> dict:
    """Items/s of both loaders (one process, item to device) and the largest difference of
    ``count`` items drawn with the same seed (0: equal, bit for bit)."""
    count = min(count, len(files))  # type: ignore[arg-type]
    diff = 0.0
    for index in range(count):
        torch.manual_seed(1000 + index)
        want = files[index]
        torch.manual_seed(1000 + index)
        have = fast[index]
        for key in ("source", "target"):
            diff = max(diff, (want[key].to(device) - have[key]).abs().max().item())
    rates = {}
    for name, data in (("files", files), ("preloaded", fast)):
        n = min(len(data), 3 * count)  # type: ignore[arg-type]
        start = time.perf_counter()
        for index in range(n):
            item = data[index]
            item["source"].to(device, non_blocking=True)
            item["target"].to(device, non_blocking=True)
        if device.type == "cuda":
            torch.cuda.synchronize()
        rates[f"{name}_items_per_s"] = round(n / (time.perf_counter() - start), 1)
    return {"checked_items": count, "max_abs_diff_vs_files": diff, **rates}


# ============================================================================ the baseline
def reference_rate(args: argparse.Namespace, device: torch.device) -> dict[str, Any]:
    """Steps/s of the reference algorithm in fp32 at batch 1 on device-resident tensors."""
    seed_everything(0)
    net_g, net_d = build_reference(
        num_downs=int(math.log2(args.size)), ngf=args.base_channels, ndf=args.base_channels
    )
    model = RefPix2Pix(net_g.to(device).train(), net_d.to(device).train()).to(device)
    a = torch.rand(1, 3, args.size, args.size, device=device) * 2 - 1
    b = torch.rand_like(a) * 2 - 1
    warmup, steps = (2, 4) if args.smoke else (15, 200)
    for _ in range(warmup):
        model.optimize_parameters(a, b)
    sync(device)
    start = time.perf_counter()
    for _ in range(steps):
        model.optimize_parameters(a, b)
    sync(device)
    seconds = time.perf_counter() - start
    del model, net_g, net_d
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return {
        "steps_per_s": round(steps / seconds, 2),
        "timed_steps": steps,
        "precision": "fp32",
        "note": "benchmarks/reference.py's RefPix2Pix.optimize_parameters on one resident "
        "random pair (no data loading); cudnn.benchmark as for our run",
    }


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


# ============================================================================ training
def build_trainer(
    args: argparse.Namespace, task: str, train: Dataset, settings: dict[str, Any], work: Path
) -> Trainer:
    seed_everything(args.seed)  # the models' initial weights
    width = {"base_channels": args.base_channels}
    generator, discriminator, config = build_preset(
        "paper",
        size=args.size,
        generator=width,
        discriminator=width,
        **settings,
        # provisional: the schedule is set once calibration has measured the speed
        epochs=args.paper_epochs // 2,
        epochs_decay=args.paper_epochs - args.paper_epochs // 2,
        seed=args.seed,
        direction=DIRECTIONS[task],
        device=args.device,
        output_dir=str(work / "run"),
        progress_bar=False,
    )
    return Trainer(generator, discriminator, config, train_data=train)


def set_schedule(trainer: Trainer, epochs: int) -> None:
    """Give the run ``epochs`` epochs, half constant and half decaying, mid-run."""
    trainer.config = trainer.config.replace(epochs=epochs // 2, epochs_decay=epochs - epochs // 2)
    optimizers = (trainer.optimizer_g, trainer.optimizer_d)
    trainer.scheduler_g, trainer.scheduler_d = trainer.configure_schedulers(*optimizers)  # type: ignore[arg-type]
    with warnings.catch_warnings():  # catching up epochs already finished (smoke runs)
        warnings.filterwarnings("ignore", "Detected call of `lr_scheduler.step", UserWarning)
        for _ in range(trainer.epoch):
            for scheduler in (trainer.scheduler_g, trainer.scheduler_d):
                if scheduler is not None:
                    scheduler.step()


def train_on_clock(
    args: argparse.Namespace, trainer: Trainer, train: Dataset, deadline: float, log: dict
) -> None:
    """Calibrate, plan the schedule, train until it ends or ``deadline``; fills ``log``."""
    cfg = trainer.config
    device = torch.device(args.device)
    per_epoch = len(train)  # type: ignore[arg-type]  # batch 1
    calib, warm = min(args.calib_steps, args.max_calib_epochs * per_epoch), args.warm_steps
    seed_everything(cfg.seed)  # as Trainer.fit does, right before the first batch
    start = time.perf_counter()
    pending: list[torch.Tensor] = []
    calib_l1: list[float] = []
    marks: dict[int, float] = {}
    planned: int | None = None
    planned_at = (0, 0.0)  # (step, time) the schedule was planned at
    log.update(curve=[], cut_off=False)
    while trainer.epoch < (planned or cfg.total_epochs):
        loader = epoch_loader(
            train,
            epoch=trainer.epoch,
            start_batch=0,
            batch_size=cfg.batch_size,
            shuffle=cfg.shuffle,
            drop_last=cfg.drop_last,
            seed=cfg.seed,
            num_workers=args.workers if args.loader == "files" else 0,
            pin_memory=args.loader == "files" and device.type == "cuda",
        )
        for batch in loader:
            try:
                losses = trainer.training_step(batch)
            except Exception as error:
                if trainer.step == 0 and trainer.config.compile:
                    raise FirstStepError(f"{type(error).__name__}: {error}") from error
                raise
            pending.append(torch.stack([losses[k].float() for k in LOSS_KEYS]))
            trainer.step += 1
            trainer.batch_in_epoch += 1
            if trainer.step in (1, warm, calib) and planned is None:
                sync(device)
                marks[trainer.step] = time.perf_counter()
            if trainer.step == 1:
                log["first_step_s"] = round(marks[1] - start, 2)
            if trainer.step == calib and planned is None:
                values = torch.stack(pending).cpu()
                calib_l1 = values[:, LOSS_KEYS.index("G_L1")].tolist()
                rate = (calib - warm) / max(marks[calib] - marks[warm], 1e-9)
                seconds = deadline - time.time()
                min_rate = args.min_steps / max(seconds, 1e-9)
                verdict = gate(calib_l1, bool(torch.isfinite(values).all()), rate, min_rate)
                planned = plan_epochs(
                    rate * args.rate_margin, seconds, trainer.step, per_epoch, args.paper_epochs
                )
                log["calibration"] = {
                    "steps": calib,
                    "steady_from_step": warm,
                    "seconds_left_for_training": round(seconds, 1),
                    **verdict,
                    "passed": not verdict["reasons"],
                    "enforced": args.gate == "enforce",
                }
                if verdict["reasons"] and args.gate == "enforce":
                    raise Abort(verdict["reasons"])
                set_schedule(trainer, planned)
                log["schedule"] = schedule_record(planned, args.paper_epochs, per_epoch)
                planned_at = (trainer.step, time.perf_counter())
                print(f"calibration: {rate:.1f} steps/s; schedule: {planned} epochs", flush=True)
            if time.time() >= deadline:
                log["cut_off"] = True
                break
        # the epoch's losses: one read (one device sync) per epoch
        if pending:
            values = torch.stack(pending).float().cpu()
            pending.clear()
            if not bool(torch.isfinite(values).all()):
                raise FloatingPointError(f"a loss was NaN or infinite in epoch {trainer.epoch}")
            means = values.mean(0).tolist()
            lr = trainer.optimizer_g.param_groups[0]["lr"]  # type: ignore[union-attr]
            log["curve"].append(
                {"epoch": trainer.epoch, "lr": lr, **dict(zip(LOSS_KEYS, map(_r4, means)))}
            )
        trainer.check_weights()  # raises on a NaN/inf weight
        if log["cut_off"]:
            break
        for scheduler in (trainer.scheduler_g, trainer.scheduler_d):
            if scheduler is not None:
                scheduler.step()
        trainer.epoch += 1
        trainer.batch_in_epoch = 0
        if planned is not None and trainer.epoch < planned:
            # slower than calibration said: a shorter schedule that still decays to 0 beats
            # one cut off at the deadline (the lr steps down once, then decays linearly)
            steps, since = trainer.step - planned_at[0], time.perf_counter() - planned_at[1]
            seconds = deadline - time.time()
            rate = steps / since if steps > 0 else math.inf
            shorter = plan_epochs(rate, seconds, trainer.step, per_epoch, planned)
            if shorter < planned:
                log.setdefault("replans", []).append(
                    {"after_epoch": trainer.epoch, "from": planned, "to": shorter}
                )
                planned = shorter
                set_schedule(trainer, planned)
                log["schedule"] = schedule_record(planned, args.paper_epochs, per_epoch)
    sync(device)
    end = time.perf_counter()
    steady = marks.get(calib)
    log.update(
        steps=trainer.step,
        epochs_completed=trainer.epoch,
        epochs_seen=round(trainer.step / per_epoch, 2),
        train_s=round(end - start, 1),
        steady_steps_per_s=round((trainer.step - calib) / (end - steady), 2)
        if steady and trainer.step > calib
        else None,
        final_lr=trainer.optimizer_g.param_groups[0]["lr"],  # type: ignore[union-attr]
    )
    if "schedule" not in log:  # a run shorter than calibration (tiny smoke data)
        log["schedule"] = schedule_record(cfg.total_epochs, args.paper_epochs, per_epoch)


def schedule_record(epochs: int, paper: int, per_epoch: int) -> dict[str, Any]:
    return {
        "epochs": epochs // 2,
        "epochs_decay": epochs - epochs // 2,
        "total_epochs": epochs,
        "paper_epochs": paper,
        "planned_steps": epochs * per_epoch,
        "shortened": epochs < paper,
        "rule": "E epochs chosen after calibration to fit the clock (at most the paper's), "
        "E/2 at the initial lr then E/2 decaying linearly (the reference's rule) so the lr "
        "still decays to 0; a run that still meets the deadline stops there (cut_off)",
    }


def _r4(value: float) -> float:
    return round(value, 4)


# ============================================================================ one task
def run_task(args: argparse.Namespace, task: str, deadline: float, out: Path) -> dict[str, Any]:
    """Train ``task`` until ``deadline`` (less the evaluation's share), score it, write files."""
    device = torch.device(args.device)
    work = Path(args.work_dir) / task
    shutil.rmtree(work, ignore_errors=True)
    folder = out / results_folder(task, args.size, args.card, args.smoke)
    train_files, test, test_pairs = task_data(args, task)
    record: dict[str, Any] = {
        "task": task,
        "direction": DIRECTIONS[task],
        "status": "running",
        "command": args.command,
        "machine": args.machine,
        "size": args.size,
        "load_size": args.load_size,
        "base_channels": args.base_channels,
        "batch_size": 1,
        "train_pairs": len(train_files),  # type: ignore[arg-type]
        "test_pairs": test_pairs,
        "smoke": args.smoke,
        "budget_s": args.budget,
        "cudnn_benchmark": torch.backends.cudnn.benchmark,
    }
    json_path = folder / "recipe.json"
    write_json(json_path, record)
    start = time.perf_counter()
    train: Dataset = train_files
    if args.loader == "preloaded":
        train = PreloadedPairs(train_files, device=device)  # type: ignore[arg-type]
        record["loader"] = {
            "kind": f"preloaded on {device.type}",
            "preload_s": round(time.perf_counter() - start, 1),
            "mib": round(train.nbytes / 2**20),  # type: ignore[attr-defined]
            **loader_check(train_files, train, device, 4 if args.smoke else 16),
        }
    else:
        record["loader"] = {"kind": "files", "num_workers": args.workers}
    if task == "facades" or args.smoke:
        record["reference_fp32"] = reference_rate(args, device)
    write_json(json_path, record)
    settings = {**FAST, "compile": args.compile}
    if args.cuda_graphs:
        settings["cuda_graphs"] = True
    train_deadline = deadline - args.eval_reserve
    log: dict[str, Any] = {
        "loop": "Trainer.training_step on each batch in epoch_loader's order (Trainer.fit's), "
        "the lr schedulers stepped at each epoch's end, as fit does"
    }
    record["training"] = log
    try:
        try:
            trainer = build_trainer(args, task, train, settings, work)
            log["settings"] = {**settings, "fused_adam": True}
            train_on_clock(args, trainer, train, train_deadline, log)
        except FirstStepError as error:  # compile failed: the same run without it
            loop = log["loop"]
            log.clear()
            log.update(loop=loop)
            log["compile_failed"] = str(error)[:2000]
            settings["compile"] = False
            trainer = build_trainer(args, task, train, settings, work)
            log["settings"] = {**settings, "fused_adam": True}
            train_on_clock(args, trainer, train, train_deadline, log)
    except Abort as abort:
        record.update(status="aborted", reasons=abort.reasons, steps=trainer.step)
        write_json(json_path, record)
        return record
    record["steps"] = log["steps"]
    ref = record.get("reference_fp32", {}).get("steps_per_s")
    ours = log.get("steady_steps_per_s") or log.get("calibration", {}).get("steps_per_s")
    record["speedup_vs_reference_fp32"] = round(ours / ref, 2) if ours and ref else None
    write_json(json_path, record)
    # the paper's test mode's outputs are a second archive for facades only (8 files in all)
    record["eval"] = score(args, trainer, test, work, folder, task == "facades")
    record["wall_s"] = round(time.perf_counter() - start, 1)
    record["status"] = "ok"
    write_json(json_path, record)
    return record


def score(
    args: argparse.Namespace,
    trainer: Trainer,
    test: Dataset | Path,
    work: Path,
    folder: Path,
    stochastic_archive: bool,
) -> dict[str, Any]:
    """Both test modes on every test pair, the gallery and the outputs' archive(s)."""
    device = torch.device(args.device)
    final = trainer.save_pretrained(work / "final")
    shown = [
        name
        for name, _ in gallery_pairs(
            SimpleNamespace(
                gallery_rows=args.gallery_rows,
                direction=trainer.config.direction,
                load_size=args.load_size,
                size=args.size,
            ),
            test,
        )
    ]
    results: dict[str, Any] = {"gallery_pairs": shown}
    for mode in ("deterministic", "stochastic"):
        out = work / f"eval-{mode}"
        deterministic = mode == "deterministic"
        result = evaluate(
            final,
            test,
            test_mode="eval" if deterministic else "paper",
            seed=None if deterministic else 0,  # the eval mode takes no seed
            num_gallery=len(shown) if deterministic else 0,
            gallery_names=shown if deterministic else None,
            output_dir=out,
            save_images=True,
            # eval mode gives the same numbers for any batch; the paper's mode uses batch 1
            batch_size=8 if deterministic else 1,
            device=device,
        )
        skip = ("per_image", "model", "files", "data")
        results[mode] = {k: v for k, v in result.items() if k not in skip}
        if deterministic:
            results[mode]["per_image"] = result.get("per_image")
            if (out / "gallery.png").is_file():
                shutil.copyfile(out / "gallery.png", folder / "gallery.png")
        outputs = sorted((out / "images").glob("*_fake_B.png"))
        name = "outputs.zip" if deterministic else "outputs-stochastic.zip"
        if deterministic or stochastic_archive:
            results[mode]["archive"] = pack_images(outputs, folder / name, folder=mode)
        print(
            f"{folder.name} {mode}: L1 {result['l1']:.4f}  PSNR {result['psnr']:.2f}  "
            f"SSIM {result['ssim'] if result['ssim'] is None else round(result['ssim'], 4)}",
            flush=True,
        )
    return results


# ============================================================================ main
def finished(record: dict[str, Any]) -> bool:
    """Whether a task trained its whole paper schedule (not shortened, not cut off)."""
    training = record.get("training", {})
    return (
        record.get("status") == "ok"
        and not training.get("cut_off", True)
        and not training.get("schedule", {}).get("shortened", True)
    )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--output", required=True, help="folder for the results folders")
    parser.add_argument("--data", default=None, help="copy_gpu_data.py's folder (gpu-data)")
    parser.add_argument("--work-dir", default=None, help="models and evaluations (default: temp)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: a dry run, not results")
    parser.add_argument("--budget", type=float, default=None, help="the clock, s (490; smoke 40)")
    parser.add_argument("--paper-epochs", type=int, default=None, help="200 (smoke 2)")
    parser.add_argument("--calib-steps", type=int, default=None, help="400 (smoke 6)")
    parser.add_argument("--min-steps", type=int, default=None, help="16000 (smoke 0)")
    parser.add_argument("--eval-reserve", type=float, default=None, help="s kept to score (60)")
    parser.add_argument(
        "--maps-min-s", type=float, default=None, help="maps run if this much is left (150)"
    )
    parser.add_argument(
        "--gate",
        choices=["enforce", "report"],
        default=None,
        help="stop when calibration fails (default), or only report it (smoke default)",
    )
    parser.add_argument("--tasks", nargs="+", default=["facades", "maps"], choices=DIRECTIONS)
    parser.add_argument("--loader", choices=["preloaded", "files"], default="preloaded")
    parser.add_argument("--workers", type=int, default=min(8, max(1, (os.cpu_count() or 2) - 2)))
    parser.add_argument(
        "--compile", choices=["auto", "on", "off"], default="auto", help="auto: on for CUDA"
    )
    parser.add_argument(
        "--cuda-graphs", action="store_true", help="TrainerConfig.cuda_graphs (a CUDA device)"
    )
    parser.add_argument("--gallery-rows", type=int, default=4, help="as quality.py's default")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--no-cudnn-benchmark", dest="cudnn_benchmark", action="store_false", help="leave it off"
    )
    args = parser.parse_args(argv)
    smoke = args.smoke
    defaults = {
        "budget": 40.0 if smoke else 490.0,
        "paper_epochs": 2 if smoke else 200,
        "calib_steps": 6 if smoke else 400,
        "min_steps": 0 if smoke else 16000,
        "eval_reserve": 8.0 if smoke else 60.0,
        "maps_min_s": 8.0 if smoke else 150.0,
        "gate": "report" if smoke else "enforce",  # a few tiny steps prove no learning
    }
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.data is None and not smoke:
        parser.error("--data is needed (copy_gpu_data.py's folder); only --smoke makes its own")
    if args.cuda_graphs and not args.device.startswith("cuda"):
        parser.error(f"--cuda-graphs needs a CUDA --device, not {args.device!r}")
    if args.paper_epochs < 2:
        parser.error("--paper-epochs must be at least 2 (half constant, half decaying)")
    args.warm_steps = 2 if smoke else 50  # compile and cudnn autotuning end before this step
    if args.calib_steps <= args.warm_steps:
        parser.error(f"--calib-steps must be more than {args.warm_steps}")
    args.max_calib_epochs = 1 if smoke else 10**6
    args.rate_margin = 0.97  # epoch ends, the loss read per epoch
    args.size, args.base_channels = (32, 4) if smoke else (256, 64)
    args.load_size = round(args.size * 286 / 256)
    args.compile = {"on": True, "off": False, "auto": args.device.startswith("cuda")}[args.compile]
    args.command = "python benchmarks/paper_recipe.py " + " ".join(
        sys.argv[1:] if argv is None else argv
    )
    if args.work_dir is None:
        args.work_dir = str(Path(tempfile.gettempdir()) / "pix2pix-paper-recipe")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    clock = time.time()
    deadline = clock + args.budget
    torch.backends.cudnn.benchmark = args.cudnn_benchmark
    if args.smoke and args.device == "cpu":
        # tiny tensors gain nothing from threads, and a busy machine makes them spin (10x slower)
        torch.set_num_threads(1)
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    Path(args.work_dir).mkdir(parents=True, exist_ok=True)
    if args.data is None:
        args.data = str(synthetic_data(Path(args.work_dir) / "data", args.size))
    args.machine = environment()
    args.card = card_slug(args.machine.get("gpu")) if args.device.startswith("cuda") else "cpu"
    records, failures = {}, 0
    for task in args.tasks:
        left = deadline - time.time()
        facades = records.get("facades")
        if task == "maps" and facades and not finished(facades):
            print("maps: skipped, the facades recipe did not finish its whole schedule")
            continue
        if task == "maps" and not (Path(args.data) / "maps" / "train").is_dir():
            print(f"maps: skipped, {Path(args.data) / 'maps' / 'train'} is missing")
            continue
        if task == "maps" and left < args.maps_min_s:
            print(f"maps: skipped, {left:.0f} s left")
            continue
        print(f"== {task}: {left:.0f} s left", flush=True)
        try:
            records[task] = run_task(args, task, deadline, out)
        except Exception as error:  # a task's failure still leaves its JSON
            failures += 1
            folder = out / results_folder(task, args.size, args.card, args.smoke)
            write_json(
                folder / "recipe.json",
                {
                    "task": task,
                    "status": "error",
                    "error": f"{type(error).__name__}: {error}",
                    "traceback": traceback.format_exc()[-3000:],
                    "command": args.command,
                    "machine": args.machine,
                },
            )
            traceback.print_exc()
            records[task] = {"status": "error"}
    for problem in check_returnable(out):
        print(f"warning: {problem}", file=sys.stderr)
    print(f"== done in {time.time() - clock:.0f} s", flush=True)
    for task, record in records.items():
        training = record.get("training", {})
        print(
            f"{task}: {record.get('status')}, steps {record.get('steps')}, schedule "
            f"{training.get('schedule', {}).get('total_epochs')} epochs, "
            f"{training.get('steady_steps_per_s')} steps/s vs reference "
            f"{record.get('reference_fp32', {}).get('steps_per_s')}"
        )
    aborted = any(r.get("status") == "aborted" for r in records.values())
    return 1 if failures else 2 if aborted else 0


if __name__ == "__main__":
    sys.exit(main())
