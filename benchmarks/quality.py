"""Side-by-side quality protocol: the reference algorithm, our presets and the ablations.

Every row trains for the same number of steps on the same batches and is scored on the same
test pairs by :func:`pix2pix.evaluation.evaluate`:

* ``reference``: ``RefPix2Pix`` from ``benchmarks/reference.py`` (the faithful re-implementation
  of the reference training step) in a plain loop, with the reference's linear-decay rule
  stepped once per epoch. Its generator is converted to ours (an exact conversion) to be scored.
* any preset of :mod:`pix2pix.presets` (``paper``, ``lsgan-ema``, the ablations): our
  :class:`~pix2pix.trainer.Trainer` on :func:`~pix2pix.presets.build_preset`'s models and config.
  The rows named for the generator's up-sampling (``paper-nearest``, ``paper-bilinear``: resize,
  then a 3x3 convolution, instead of each transposed convolution) share every initial weight
  but those convolutions', whose shapes differ.

Same seed, same data order, same start: for each seed, the data order of every epoch comes from
the same seeded sampler (``pix2pix.trainer.loader.epoch_loader``, which the Trainer uses), the
global RNG (jitter and dropout) is seeded identically right before the first step, and every row
starts from the same initial weights: the reference's ``init_weights(normal, 0.02)`` draw for
that seed, converted to our layout (``--independent-init`` lets each row draw its own). With the
paper preset the only differences from the reference row are then floating-point ordering.

Results: ``OUTPUT/quality.json`` (protocol, machine, every run, per-row means over seeds and the
verdicts), ``OUTPUT/quality.md`` (the tables), ``OUTPUT/galleries/<row>-seed<k>/`` (each run's
evaluation: metrics.json, gallery.png, gallery.html) and ``OUTPUT/comparison-seed<k>.png/html``
(source | every row | target for the first test pairs). Trained models go to ``--work-dir``;
a finished run found there is reused, not retrained (``--retrain`` to redo it), and a preset run
that was interrupted resumes from its last epoch checkpoint.

Usage::

    # reduced CPU protocol (facades labels -> photo, unet_128 at 128 px, load 143 -> crop 128)
    python benchmarks/quality.py --data ../shared/datasets/facades --size 128 \\
        --epochs 2 --epochs-decay 2 --seeds 0 1 --rows reference paper lsgan-ema
    # ablation rows: add lsgan ema hinge-sn ttur to --rows
    # full protocol (the paper's setting; for a GPU)
    python benchmarks/quality.py --data ../shared/datasets/facades --size 256 \\
        --epochs 100 --epochs-decay 100 --seeds 0 1 --rows reference paper lsgan-ema
    # smoke: a few steps per row, one seed (numbers are NOT results)
    python benchmarks/quality.py --data ../shared/datasets/facades --size 128 --max-steps 40 \\
        --seeds 0 --rows reference paper lsgan-ema
    # maps (train only: the last --maps-test pairs are held out as the test split), photo -> map
    python benchmarks/quality.py --dataset maps --data ../shared/datasets/maps --size 128 ...
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import Dataset, Subset

from pix2pix._device import resolve_device
from pix2pix._files import atomic_write_text
from pix2pix.data import PairedImageDataset
from pix2pix.evaluation import GalleryRow, evaluate, write_gallery
from pix2pix.evaluation.score import json_ready
from pix2pix.inference.translator import Translator
from pix2pix.models import load_pretrained
from pix2pix.models.convert import convert_reference_state_dict, load_reference_checkpoint
from pix2pix.presets import IMPROVED_PRESET, build_preset, preset_names
from pix2pix.trainer import Trainer
from pix2pix.trainer import checkpoint as ckpt
from pix2pix.trainer.loader import epoch_loader
from pix2pix.trainer.rng import seed_everything

from common import RESULTS, machine
from reference import RefPix2Pix, build_reference

REFERENCE = "reference"
METRICS = (
    ("l1", "L1", -1),
    ("psnr", "PSNR (dB)", 1),
    ("ssim", "SSIM", 1),
)  # sign: +1 = higher is better
# the blur-aware statistics of pix2pix.evaluation.blur: (key, column, ideal value); shown in the
# tables, not used by the verdicts (a sharpness above 1 is not better than 1)
BLUR_METRICS = (
    ("sharpness", "sharpness (1 ideal)", 1.0),
    ("hf_deficit_db", "HF deficit dB (0 ideal)", 0.0),
    ("color_emd", "colour EMD (0 ideal)", 0.0),
    ("checkerboard", "checkerboard dB (0 ideal)", 0.0),
)
MODES = ("deterministic", "stochastic")
DEFAULT_DIRECTION = {"facades": "BtoA", "maps": "AtoB"}  # labels -> photo; aerial photo -> map
RUN_RECORD = "run.json"


# ============================================================================ data
def load_data(args: argparse.Namespace) -> tuple[Dataset, Dataset | Path, int]:
    """(train set with jitter, test folder or held-out set, number of test pairs)."""
    common = dict(
        direction=args.direction,
        load_size=args.load_size,
        crop_size=args.size,
        size_multiple=2 ** int(math.log2(args.size)),
    )
    root = Path(args.data)
    if args.dataset == "facades":
        train = PairedImageDataset(root / "train", **common)
        test_folder = root / "test"
        count = len(PairedImageDataset(test_folder, train=False, **common))
        if args.test_limit:
            test = Subset(
                PairedImageDataset(test_folder, train=False, **common), range(args.test_limit)
            )
            return train, test, len(test)
        return train, test_folder, count
    # maps: only a train folder here; its last --maps-test pairs (natural order) are the test set
    folder = root / "train" if (root / "train").is_dir() else root
    full = PairedImageDataset(folder, **common)
    held = args.maps_test
    if not 0 < held < len(full):
        raise ValueError(f"--maps-test {held} must be between 1 and {len(full) - 1} for {folder}.")
    train = Subset(full, range(len(full) - held))
    test_full = PairedImageDataset(folder, train=False, **common)
    indices = range(len(full) - held, len(full))
    if args.test_limit:
        indices = indices[: args.test_limit]
    return train, Subset(test_full, indices), len(indices)


def inference_metadata(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "direction": args.direction,
        "preprocess": "resize_and_crop",
        "load_size": args.load_size,
        "crop_size": args.size,
        "in_channels": 3,
        "out_channels": 3,
    }


# ============================================================================ shared start
def load_shared_init(model: nn.Module, state: dict[str, torch.Tensor]) -> bool:
    """Copy the converted reference weights into ``model`` if its layout allows; True if done.

    A spectrally normalised conv keeps its raw weight as ``...parametrizations.weight.original``;
    the weight goes there and the power-iteration vectors are re-estimated for it.
    """
    target = model.state_dict()
    mapped = {}
    for key, value in state.items():
        alias = key.removesuffix(".weight") + ".parametrizations.weight.original"
        name = key if key in target else alias if alias in target else None
        if name is None or target[name].shape != value.shape:
            return False
        mapped[name] = value
    if any(not (k in mapped or k.endswith(("._u", "._v"))) for k in target):
        return False
    model.load_state_dict({**target, **mapped})
    for module in model.modules():
        if nn.utils.parametrize.is_parametrized(module, "weight"):
            # re-run the 15 start-up power iterations on the new weight, not the old one
            nn.utils.parametrize.remove_parametrizations(module, "weight", leave_parametrized=False)
            nn.utils.parametrizations.spectral_norm(module)
    return True


def load_shared_init_but_upsampling(
    model: nn.Module, state: dict[str, torch.Tensor]
) -> list[str] | None:
    """For a resize-convolution generator: the shared start but for its up-sampling convolutions.

    Their weights are ``[out, in, 3, 3]`` where the shared transposed ones are ``[in, out, 4,
    4]`` (U-Net), so they keep the model's own N(0, 0.02) draw, made after seeding with the
    run's seed (the same for every such row); every other tensor is copied. Returns the keys
    left to the model's draw, or None (nothing copied) when a tensor outside the decoder's
    convolutions does not fit.
    """
    target = model.state_dict()
    own = sorted(k for k in target if k not in state or state[k].shape != target[k].shape)
    up_convs = [k for k in own if k.startswith(("decoder.", "up.")) and ".conv." in k]
    if own != up_convs or set(state) - set(target):
        return None
    model.load_state_dict({**target, **{k: v for k, v in state.items() if k not in own}})
    return own


def initial_states(args: argparse.Namespace, seed: int) -> dict[str, dict[str, torch.Tensor]]:
    """The reference's initial G and D for ``seed``, in the reference's and in our layout."""
    seed_everything(seed)
    net_g, net_d = build_reference(
        num_downs=int(math.log2(args.size)), ngf=args.base_channels, ndf=args.base_channels
    )
    return {
        "ref_g": net_g.state_dict(),
        "ref_d": net_d.state_dict(),
        "g": convert_reference_state_dict(net_g.state_dict(), architecture="unet")[1],
        "d": convert_reference_state_dict(net_d.state_dict(), architecture="patchgan")[1],
    }


# ============================================================================ training
def total_steps(args: argparse.Namespace, per_epoch: int) -> int:
    steps = per_epoch * (args.epochs + args.epochs_decay)
    return min(steps, args.max_steps) if args.max_steps else steps


def train_reference(args, seed, train, init, run_dir: Path, device) -> dict[str, Any]:
    """The reference algorithm on the shared batches; saves its G in our format to run_dir/final."""
    net_g, net_d = build_reference(
        num_downs=int(math.log2(args.size)), ngf=args.base_channels, ndf=args.base_channels
    )
    net_g.load_state_dict(init["ref_g"])
    net_d.load_state_dict(init["ref_d"])
    net_g.to(device).train()
    net_d.to(device).train()
    model = RefPix2Pix(net_g, net_d).to(device)
    n_epochs, n_decay = args.epochs, args.epochs_decay

    def lambda_rule(epoch: int) -> float:  # the reference's linear policy (epoch_count = 1)
        return 1.0 - max(0, epoch + 1 - n_epochs) / float(n_decay + 1)

    schedulers = [
        torch.optim.lr_scheduler.LambdaLR(opt, lambda_rule)
        for opt in (model.optimizer_G, model.optimizer_D)
    ]
    limit = total_steps(args, len(train))
    seed_everything(seed)  # as Trainer.fit does, right before the first batch
    step, start = 0, time.perf_counter()
    for epoch in range(n_epochs + n_decay):
        loader = epoch_loader(
            train,
            epoch=epoch,
            start_batch=0,
            batch_size=1,
            shuffle=True,
            drop_last=False,
            seed=seed,
            num_workers=0,
        )
        for batch in loader:
            model.optimize_parameters(batch["source"].to(device), batch["target"].to(device))
            step += 1
            if step >= limit:
                break
            if args.progress and step % 50 == 0:
                print(f"  reference seed {seed}: step {step}/{limit}", file=sys.stderr)
        if step >= limit:
            break
        for scheduler in schedulers:
            scheduler.step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    ours = load_reference_checkpoint({k: v.cpu() for k, v in net_g.state_dict().items()})
    ours.save_pretrained(run_dir / "final", inference=inference_metadata(args))
    return {"steps": step, "train_time_s": round(seconds, 2)}


def train_preset(args, row, seed, train, init, run_dir: Path, device) -> dict[str, Any]:
    """Our Trainer on a preset, from the shared start, on the shared batches."""
    per_epoch = len(train)
    seed_everything(seed)  # the models' own initial weights, used with --independent-init
    generator, discriminator, config = build_preset(
        row,
        size=args.size,
        generator={"base_channels": args.base_channels},
        discriminator={"base_channels": args.base_channels},
        epochs=args.epochs,
        epochs_decay=args.epochs_decay,
        max_steps=args.max_steps,
        seed=seed,
        device=str(device),
        direction=args.direction,
        output_dir=str(run_dir),
        log_every=50,
        sample_every=0,
        val_every=0,
        checkpoint_every=per_epoch,  # one per epoch: a long run can be resumed
        keep_checkpoints=1,
        progress_bar=args.progress,
    )
    shared = {}
    if init is not None:
        shared = {"g": load_shared_init(generator, init["g"])}
        if not shared["g"] and generator.config.get("upsample", "transpose") != "transpose":
            own = load_shared_init_but_upsampling(generator, init["g"])
            if own is not None:
                shared["g"] = "all but the up-sampling convolutions"
                shared["g_own_draw"] = own
        scales = getattr(discriminator, "scales", None)
        if scales is not None:
            # a multi-scale D: its finest scale starts from the shared PatchGAN, the coarser
            # scales from their own draw (seeded above, so the same for every such row)
            shared["d"] = load_shared_init(scales[0], init["d"])
            shared["d_scope"] = f"scale 0 of {len(scales)}"
        else:
            shared["d"] = load_shared_init(discriminator, init["d"])
    trainer = Trainer(generator, discriminator, config, train_data=train)
    resume = "latest" if ckpt.list_checkpoints(run_dir) else None
    threads = _thread_counts(run_dir, resumed=resume is not None)
    start = time.perf_counter()
    trainer.fit(resume_from=resume)
    seconds = time.perf_counter() - start
    return {
        "steps": trainer.step,
        "train_time_s": round(seconds, 2),
        "shared_init": shared,
        "resumed": resume is not None,
        "torch_threads": threads,
    }


def _thread_counts(run_dir: Path, *, resumed: bool) -> list[int]:
    """The torch thread counts a run trained with, first to last, kept beside it.

    A run is bit-reproducible only on one kind of CPU at one thread count (the float sums run in
    another order otherwise): seed 0 of `paper` scored L1 0.3684 on an Intel Xeon with two
    threads, and 0.3576 on an AMD EPYC, interrupted at step 1,200 and resumed with two. A resume with another count is said, and recorded, so a table can tell such a run apart.
    """
    path = run_dir / "torch_threads.json"
    now = torch.get_num_threads()
    counts = json.loads(path.read_text()) if resumed and path.is_file() else []
    if counts and counts[-1] != now:
        print(
            f"{run_dir}: resumed with {now} torch threads where it trained with {counts[-1]}; "
            "its numbers will not equal an uninterrupted run's (another float order).",
            file=sys.stderr,
        )
    if not counts or counts[-1] != now:
        counts.append(now)
    run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(counts) + "\n")
    return counts


# ============================================================================ one run
def run_one(args, row, seed, train, test, init, device) -> dict[str, Any]:
    run_dir = Path(args.work_dir) / args.tag / f"{row}-seed{seed}"
    record_path = run_dir / RUN_RECORD
    protocol = protocol_key(args)
    record = json.loads(record_path.read_text()) if record_path.is_file() else {}
    reused = (
        not args.retrain and record.get("protocol") == protocol and (run_dir / "final").is_dir()
    )
    if reused:
        training = record["training"]
        print(f"{row} seed {seed}: reusing the finished run in {run_dir}", file=sys.stderr)
    else:
        print(f"{row} seed {seed}: training -> {run_dir}", file=sys.stderr)
        run_dir.mkdir(parents=True, exist_ok=True)
        if row == REFERENCE:
            training = train_reference(args, seed, train, init, run_dir, device)
        else:
            training = train_preset(args, row, seed, train, init, run_dir, device)
        atomic_write_text(
            record_path, json.dumps({"protocol": protocol, "training": training}, indent=2) + "\n"
        )
    evaluations = {}
    shown = [name for name, _ in gallery_pairs(args, test)]
    for mode in args.eval_modes:
        out = Path(args.output) / "galleries" / f"{row}-seed{seed}" if mode == MODES[0] else None
        result = evaluate(
            run_dir / "final",
            test,
            test_mode="paper" if mode == "stochastic" else "eval",
            seed=0 if mode == "stochastic" else None,  # the eval mode takes no seed
            num_gallery=len(shown) if out else 0,
            gallery_names=shown if out else None,
            output_dir=out,
            # eval mode gives the same numbers for any batch size; the paper's test mode
            # normalises with batch statistics, so it keeps the paper's batch of 1
            batch_size=8 if mode == "deterministic" else 1,
            device=device,
        )
        keep = (
            "l1",
            "l1_std",
            "psnr",
            "psnr_std",
            "ssim",
            "ssim_std",
            "count",
            "mode",
            "mode_note",
            "resolution",
            "time_s",
            # the blur-aware statistics and the checkerboard statistic
            *(k for key, _, _ in BLUR_METRICS for k in (key, f"{key}_std")),
            "fid",
            "kid",
        )
        evaluations[mode] = {k: result.get(k) for k in keep}
        print(
            f"  {mode}: L1 {result['l1']:.4f}  PSNR {result['psnr']:.2f}  SSIM {result['ssim']:.4f}",
            file=sys.stderr,
        )
    return {
        "row": row,
        "seed": seed,
        **training,
        "reused": reused,
        "model_dir": str(run_dir / "final"),
        "eval": evaluations,
    }


def reused_runs(
    args: argparse.Namespace, runs: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The runs of earlier ``quality.json`` files under the same protocol, not retrained here.

    Their models may be gone: they bring their recorded metrics (and lack what was added to
    the evaluation since, which the tables show as "–"). Each is marked with where it came from
    and the machine that trained it. A row and seed trained here, or found in an earlier file
    of the list, is not taken again.
    """
    done = {(r["row"], r["seed"]) for r in runs}
    kept: list[dict[str, Any]] = []
    sources = []
    for name in args.reuse_json:
        path = Path(name)
        earlier = json.loads(path.read_text())
        protocol = {k: earlier["protocol"].get(k) for k in protocol_key(args)}
        if protocol != protocol_key(args):
            differ = {k: (v, protocol_key(args)[k]) for k, v in protocol.items()}
            differ = {k: v for k, v in differ.items() if v[0] != v[1]}
            raise ValueError(f"--reuse-json {path}: another protocol ({differ}); rerun those rows.")
        taken = 0
        for run in earlier["runs"]:
            key = (run["row"], run["seed"])
            if key in done or run["seed"] not in args.reuse_seeds:
                continue
            if args.reuse_rows and run["row"] not in args.reuse_rows:
                continue
            done.add(key)
            # a run that an earlier file reused keeps naming the file that first recorded it
            kept.append({**run, "reused_from": run.get("reused_from", str(path))})
            taken += 1
        sources.append({"path": str(path), "machine": earlier.get("machine"), "runs": taken})
    return kept, sources


def protocol_key(args: argparse.Namespace) -> dict[str, Any]:
    """The settings that make two runs of a row and seed the same experiment."""
    keys = (
        "dataset",
        "data",
        "direction",
        "size",
        "load_size",
        "epochs",
        "epochs_decay",
        "max_steps",
        "base_channels",
        "independent_init",
        "maps_test",
    )
    return {k: getattr(args, k) for k in keys}


# ============================================================================ summary
def summarise(runs: list[dict[str, Any]], rows: list[str], modes: list[str]) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for row in rows:
        # in seed order, whichever file a run came from: the tables list seeds as "0 / 1"
        mine = sorted((r for r in runs if r["row"] == row), key=lambda r: r["seed"])
        entry: dict[str, Any] = {
            "seeds": [r["seed"] for r in mine],
            "steps": [r["steps"] for r in mine],
            "train_time_s": sum(r["train_time_s"] for r in mine) / len(mine),
        }
        for mode in modes:
            entry[mode] = {}
            for key, _, _ in (*METRICS, *BLUR_METRICS):
                values = [r["eval"][mode].get(key) for r in mine]
                # a run scored before a statistic existed lacks it: the mean and spread are
                # over the seeds that have it, and the per-seed list shows the gap
                known = [v for v in values if v is not None]
                if not known:
                    continue
                entry[mode][key] = {
                    "mean": sum(known) / len(known),
                    "seeds": values,
                    "spread": max(known) - min(known),
                }
        summary[row] = entry
    return summary


def verdicts(summary: dict[str, Any], modes: list[str]) -> dict[str, Any]:
    """Paper vs reference (within noise?) and each other preset vs paper (better beyond noise?).

    The noise of a metric is the largest seed-to-seed spread (max - min) of the reference and
    paper rows; with one seed there is no noise estimate and no verdict.
    """
    out: dict[str, Any] = {}
    if "paper" not in summary:
        return out
    baselines = [r for r in (REFERENCE, "paper") if r in summary]
    if min(len(summary[r]["seeds"]) for r in baselines) < 2:
        return {"note": "one seed per row: no noise estimate, so no verdict (run --seeds 0 1)"}
    for mode in modes:
        noise = {k: max(summary[r][mode][k]["spread"] for r in baselines) for k, _, _ in METRICS}
        result: dict[str, Any] = {"noise": noise}
        if REFERENCE in summary:
            diffs = {
                k: summary["paper"][mode][k]["mean"] - summary[REFERENCE][mode][k]["mean"]
                for k, _, _ in METRICS
            }
            result["paper_vs_reference"] = {
                "diff": diffs,
                "within_noise": all(abs(diffs[k]) <= noise[k] for k in diffs),
            }
        for row in summary:
            if row in (REFERENCE, "paper"):
                continue
            diffs = {
                k: summary[row][mode][k]["mean"] - summary["paper"][mode][k]["mean"]
                for k, _, _ in METRICS
            }
            better = {k: sign * diffs[k] > noise[k] for k, _, sign in METRICS}
            result[f"{row}_vs_paper"] = {
                "diff": diffs,
                "better_beyond_noise": better,
                "beats_paper": all(better.values()),
            }
        out[mode] = result
    return out


def markdown(payload: dict[str, Any]) -> str:
    p, summary = payload["protocol"], payload["summary"]
    smoke = " **SMOKE RUN: too few steps for the numbers to mean anything**" if p["smoke"] else ""
    lines = [
        f"# Quality: {p['dataset']} {p['direction']} at {p['size']} px{smoke}",
        "",
        f"{p['train_pairs']} training pairs, {p['test_pairs']} test pairs; {p['steps_per_run']} steps "
        f"per run ({p['epochs']} + {p['epochs_decay']} epochs of {p['steps_per_epoch']} steps"
        + (f", cut at --max-steps {p['max_steps']}" if p["max_steps"] else "")
        + f"), batch 1, base width {p['base_channels']}, seeds {p['seeds']}, "
        + ("independent" if p["independent_init"] else "shared")
        + " initial weights.",
        f"Machine: {payload['machine'].get('gpu') or payload['machine'].get('cpu')}, "
        f"{payload['machine'].get('torch_threads')} threads. Values: mean over seeds (per seed).",
        "",
    ]
    reused = p.get("reused_from") or []
    if reused:
        lines.pop()
        for source in reused:
            where = source.get("machine") or {}
            lines.append(
                f"{source['runs']} run(s) reused from {source['path']} (same protocol; trained on "
                f"{where.get('gpu') or where.get('cpu')}, {where.get('torch_threads')} threads, "
                "with their recorded metrics: '–' where the evaluation has grown since)."
            )
        lines.append("")
    for mode in p["eval_modes"]:
        lines += [f"## Test metrics, {mode} evaluation", ""]
        lines += [
            "| row | steps | "
            + " | ".join(f"{name} {'↑' if s > 0 else '↓'}" for _, name, s in METRICS)
            + " | "
            + " | ".join(name for _, name, _ in BLUR_METRICS)
            + " | train wall time (s) |"
        ]
        lines += ["|---|---|" + "---|" * (len(METRICS) + len(BLUR_METRICS)) + "---|"]
        for row, entry in summary.items():
            cells = []
            for key, _, _ in (*METRICS, *BLUR_METRICS):
                if key not in entry[mode]:
                    cells.append("–")
                    continue
                m = entry[mode][key]
                seeds = " / ".join("–" if v is None else f"{v:.4f}" for v in m["seeds"])
                cells.append(f"{m['mean']:.4f}" + (f" ({seeds})" if len(m["seeds"]) > 1 else ""))
            steps = "/".join(str(s) for s in sorted(set(entry["steps"])))
            lines.append(
                f"| {row} | {steps} | " + " | ".join(cells) + f" | {entry['train_time_s']:.0f} |"
            )
        lines.append("")
    v = payload["verdicts"]
    lines += ["## Verdicts", ""]
    if not v or "note" in v:
        lines.append(v.get("note", "no paper row: no verdict") if v else "no paper row: no verdict")
    else:
        for mode, result in v.items():
            noise = ", ".join(f"{k} {result['noise'][k]:.4f}" for k, _, _ in METRICS)
            lines.append(f"- {mode}: noise (largest seed spread of reference/paper): {noise}")
            if "paper_vs_reference" in result:
                r = result["paper_vs_reference"]
                lines.append(
                    f"  - paper vs reference: {'within' if r['within_noise'] else 'NOT within'} noise on every metric"
                )
            for key, r in result.items():
                if key.endswith("_vs_paper"):
                    lines.append(
                        f"  - {key[:-9]}: {'beats' if r['beats_paper'] else 'does not beat'} paper beyond noise on all three"
                    )
    return "\n".join(lines) + "\n"


# ============================================================================ comparison gallery
def gallery_pairs(args: argparse.Namespace, test: Dataset | Path) -> list[tuple[str, dict]]:
    """``(name, item)`` of the ``--gallery-rows`` test pairs every gallery shows.

    Spread evenly over the test set, the first and the last pair among them, and the same for
    every row and seed: galleries picked by each run's own L1 ranking would show each row on
    other pairs, which cannot be compared.
    """
    if isinstance(test, Path):
        test = PairedImageDataset(
            test,
            direction=args.direction,
            train=False,
            load_size=args.load_size,
            crop_size=args.size,
        )
    total = len(test)  # type: ignore[arg-type]
    count = min(args.gallery_rows, total)
    indices = [round(i * (total - 1) / max(count - 1, 1)) for i in range(count)]
    pairs = []
    for index in dict.fromkeys(indices):
        item = test[index]
        pairs.append((Path(str(item.get("path", index))).name, item))
    return pairs


def comparison_gallery(args, rows, seed, test, output: Path, device) -> Path:
    translators = {
        row: Translator(
            load_pretrained(Path(args.work_dir) / args.tag / f"{row}-seed{seed}" / "final"),
            device=device,
        )
        for row in rows
    }
    gallery = []
    for name, item in gallery_pairs(args, test):
        outputs = [translators[row].translate(item["source"]) for row in rows]
        gallery.append(GalleryRow(name, [item["source"], *outputs, item["target"]]))
    written = write_gallery(
        gallery,
        output / f"comparison-seed{seed}.png",
        output / f"comparison-seed{seed}.html",
        columns=["source", *rows, "target"],
        title=f"{args.dataset} {args.direction}, {args.size} px, seed {seed}: deterministic outputs",
    )
    return written["png"]


# ============================================================================ main
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--data", required=True, help="facades folder (train/, test/) or maps folder"
    )
    parser.add_argument("--dataset", choices=sorted(DEFAULT_DIRECTION), default="facades")
    parser.add_argument(
        "--direction",
        choices=["AtoB", "BtoA"],
        default=None,
        help="default: BtoA for facades, AtoB for maps",
    )
    parser.add_argument(
        "--size", type=int, default=128, help="training crop (128: unet_128; 256: the paper)"
    )
    parser.add_argument("--epochs", type=int, default=2, help="epochs at the initial learning rate")
    parser.add_argument(
        "--epochs-decay", type=int, default=None, help="epochs of linear decay (default: --epochs)"
    )
    parser.add_argument(
        "--max-steps",
        type=int,
        default=None,
        help="stop every run after this many steps (smoke runs)",
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument(
        "--rows",
        nargs="+",
        default=[REFERENCE, "paper", IMPROVED_PRESET],
        metavar="ROW[:SEEDS]",
        help=f"rows to train and score, of {[REFERENCE, *preset_names()]}; ROW:0 or ROW:0,2 "
        "runs that row for those of --seeds only (a one-seed sweep beside two-seed rows)",
    )
    parser.add_argument(
        "--base-channels",
        type=int,
        default=64,
        help="ngf = ndf (64 in the paper; smaller for tests)",
    )
    parser.add_argument(
        "--independent-init", action="store_true", help="each row draws its own initial weights"
    )
    parser.add_argument("--eval-modes", nargs="+", choices=MODES, default=list(MODES))
    parser.add_argument(
        "--test-limit", type=int, default=None, help="score only the first N test pairs"
    )
    parser.add_argument(
        "--maps-test",
        type=int,
        default=20,
        help="maps: hold out the last N pairs as the test split",
    )
    parser.add_argument(
        "--gallery-rows", type=int, default=4, help="test pairs shown in the galleries"
    )
    parser.add_argument(
        "--output",
        default=str(RESULTS / "quality"),
        help="folder for quality.json/md and galleries",
    )
    parser.add_argument(
        "--work-dir",
        default="runs/quality",
        help="folder for the trained models (reused when finished)",
    )
    parser.add_argument(
        "--retrain", action="store_true", help="train again even if a finished run is in --work-dir"
    )
    parser.add_argument(
        "--reuse-json",
        nargs="+",
        default=None,
        help="earlier quality.json files of the same protocol: add their runs (rows/seeds not "
        "trained here; the first file that has a row and seed wins) to the tables with their "
        "recorded metrics",
    )
    parser.add_argument(
        "--reuse-rows", nargs="+", default=None, help="only these rows of --reuse-json"
    )
    parser.add_argument(
        "--reuse-seeds", type=int, nargs="+", default=[0, 1], help="seeds of --reuse-json"
    )
    parser.add_argument("--device", default="auto")
    parser.add_argument("--no-progress", dest="progress", action="store_false")
    args = parser.parse_args(argv)
    args.row_seeds = {}
    for spec in args.rows:
        row, _, seeds = spec.partition(":")
        if row not in (REFERENCE, *preset_names()):
            parser.error(f"--rows {spec}: {row!r} is not one of {[REFERENCE, *preset_names()]}")
        try:
            wanted = [int(s) for s in seeds.split(",")] if seeds else list(args.seeds)
        except ValueError:
            parser.error(f"--rows {spec}: the seeds after ':' must be integers, like {row}:0,1")
        if not set(wanted) <= set(args.seeds):
            parser.error(f"--rows {spec}: seeds {wanted} are not all in --seeds {args.seeds}")
        args.row_seeds[row] = wanted
    args.rows = list(args.row_seeds)
    args.direction = args.direction or DEFAULT_DIRECTION[args.dataset]
    args.epochs_decay = args.epochs if args.epochs_decay is None else args.epochs_decay
    if args.size < 32 or args.size & (args.size - 1):
        parser.error(f"--size {args.size} must be a power of two >= 32")
    if args.epochs + args.epochs_decay < 1:
        parser.error("--epochs + --epochs-decay must be at least 1")
    args.load_size = round(args.size * 286 / 256)  # the paper's 286 -> 256 jitter, scaled
    args.tag = f"{args.dataset}-{args.direction}-{args.size}px"
    return args


def main(argv: list[str] | None = None) -> dict[str, Any]:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    device = resolve_device(args.device)
    train, test, test_pairs = load_data(args)
    per_epoch = len(train)
    runs = []
    for seed in args.seeds:
        init = initial_states(args, seed)
        for row in (r for r in args.rows if seed in args.row_seeds[r]):
            # the reference always starts from its own draw for the seed; with
            # --independent-init the presets draw theirs (build_preset after seeding)
            row_init = None if args.independent_init and row != REFERENCE else init
            runs.append(run_one(args, row, seed, train, test, row_init, device))
    rows = list(args.rows)
    reused_from = None
    if args.reuse_json:
        earlier, reused_from = reused_runs(args, runs)
        runs = earlier + runs
        rows = list(dict.fromkeys([*rows, *(r["row"] for r in earlier)]))
        # the tables read in one order however the rows were gathered: the reference, then
        # the presets as pix2pix.presets lists them
        order = [REFERENCE, *preset_names()]
        rows.sort(key=lambda row: order.index(row) if row in order else len(order))
    output = Path(args.output)
    output.mkdir(parents=True, exist_ok=True)
    first = args.seeds[0]
    shown = [row for row in args.rows if first in args.row_seeds[row]]
    comparisons = [str(comparison_gallery(args, shown, first, test, output, device))]
    steps = total_steps(args, per_epoch)
    payload: dict[str, Any] = {
        "protocol": {
            **protocol_key(args),
            "seeds": args.seeds,
            "rows": rows,
            "row_seeds": args.row_seeds,
            "reused_from": reused_from,
            "eval_modes": args.eval_modes,
            "train_pairs": per_epoch,
            "test_pairs": test_pairs,
            "steps_per_epoch": per_epoch,
            "steps_per_run": steps,
            "smoke": args.max_steps is not None
            and steps < per_epoch * (args.epochs + args.epochs_decay),
            "command": "python benchmarks/quality.py "
            + " ".join(argv if argv is not None else sys.argv[1:]),
        },
        "machine": machine(),
        "runs": runs,
        "comparison_galleries": comparisons,
    }
    payload["summary"] = summarise(runs, rows, args.eval_modes)
    payload["verdicts"] = verdicts(payload["summary"], args.eval_modes)
    atomic_write_text(output / "quality.json", json.dumps(json_ready(payload), indent=2) + "\n")
    atomic_write_text(output / "quality.md", markdown(payload))
    print(markdown(payload))
    return payload


if __name__ == "__main__":
    main()
