"""``pix2pix demo``: train a small model on the built-in synthetic facades and show the result.

Everything is generated on the fly (no download): label maps of facades (walls, windows, doors,
balconies) and rendered "photos" of them. The demo trains a U-Net sized for ``--size`` pixels
for ``--steps`` steps, exports it, translates held-out label maps (another seed) with the
:class:`~pix2pix.Translator`, and writes ``demo.png`` (rows of source | output | target) and
``metrics.json`` (L1, PSNR, SSIM of the trained model and of the same network untrained).
The exported model records the synthetic label colours as its class palette
(``inference["palette"]``), so ``pix2pix serve`` offers them as drawing colours.
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import math
import time
from pathlib import Path
from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.utils import save_image

from pix2pix import Translator, metrics
from pix2pix._files import remove_tree
from pix2pix.models import PatchGANDiscriminator, UNetGenerator
from pix2pix.trainer import Trainer, TrainerConfig
from pix2pix.trainer.reporting import sample_grid
from pix2pix.trainer.rng import seed_everything
from pix2pix.trainer.run_folder import find_run

logger = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``demo`` subcommand."""
    parser = subparsers.add_parser(
        "demo",
        help="train on built-in synthetic facades for a few minutes and show the result",
        description="Train a small pix2pix model on procedurally generated label map -> facade "
        "pairs, then translate held-out label maps. Writes OUTPUT/demo.png (source | output | "
        "target), OUTPUT/metrics.json (trained vs untrained) and the model in OUTPUT/run/final.",
    )
    parser.add_argument("--output", default="pix2pix-demo", help="output folder (pix2pix-demo)")
    parser.add_argument("--steps", type=int, default=600, help="training steps (600)")
    parser.add_argument("--size", type=int, default=64, help="image side, a power of two (64)")
    parser.add_argument("--batch-size", type=int, default=4, help="images per step (4)")
    parser.add_argument("--width", type=int, default=32, help="generator/discriminator width (32)")
    parser.add_argument("--train-pairs", type=int, default=400, help="synthetic training pairs")
    parser.add_argument("--test-pairs", type=int, default=6, help="held-out pairs to translate")
    parser.add_argument("--seed", type=int, default=0, help="seed of the data and the weights")
    parser.add_argument("--device", default="auto", help="auto (default), cpu, cuda, ...")
    parser.add_argument(
        "--no-progress", dest="progress", action="store_false", help="no progress bar"
    )
    parser.set_defaults(func=run_demo)


def demo_models(size: int, width: int) -> tuple[nn.Module, nn.Module]:
    """A U-Net whose bottleneck is 1x1 at ``size`` pixels, and a PatchGAN that fits it."""
    if size < 32 or size > 256 or size & (size - 1):
        raise ValueError(f"--size {size} is not supported; use a power of two from 32 to 256.")
    generator = UNetGenerator(base_channels=width, num_downs=int(math.log2(size)))
    # 3 layers see 70x70 patches (the paper's); at 32 px two layers keep the output map 6x6
    discriminator = PatchGANDiscriminator(base_channels=width, n_layers=3 if size >= 64 else 2)
    return generator, discriminator


def evaluate(translator: Translator, source: torch.Tensor, target: torch.Tensor) -> dict[str, Any]:
    """Translate ``source`` and score it against ``target`` (mean L1, PSNR, SSIM)."""
    output = translator.translate(source).cpu()
    scores = {
        "L1": metrics.l1(output, target).item(),
        "PSNR": metrics.psnr(output, target).item(),
        "SSIM": metrics.ssim(output, target).item(),
    }
    return {"output": output, "scores": scores}


#: The side each picture of demo.png is shown at: tiles of a 64 px model read at a glance.
PICTURE_SIDE = 256


def demo_picture(source: torch.Tensor, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The rows of demo.png: source | output | target, enlarged (nearest neighbour, so every
    pixel of the model's output stays visible) to :data:`PICTURE_SIDE`, with column headers."""
    scale = max(1, PICTURE_SIDE // source.shape[-1])
    grown = [F.interpolate(x, scale_factor=scale, mode="nearest") for x in (source, output, target)]
    return sample_grid(*grown, headers=True)


def run_demo(args: argparse.Namespace) -> int:
    """Train, export, translate held-out inputs, write demo.png and metrics.json."""
    from pix2pix.data import SyntheticPairs

    for name in ("steps", "batch_size", "width", "train_pairs", "test_pairs"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} {getattr(args, name)} must be >= 1.")
    start = time.perf_counter()
    output = Path(args.output)
    seed_everything(args.seed)
    generator, discriminator = demo_models(args.size, args.width)
    untrained = copy.deepcopy(generator)
    train = SyntheticPairs(args.train_pairs, size=args.size, seed=args.seed)
    # held out: another seed *and* the test stream
    test = SyntheticPairs(args.test_pairs, size=args.size, seed=args.seed + 1, split="test")
    epochs = math.ceil(args.steps * args.batch_size / len(train))
    config = TrainerConfig(
        epochs=epochs,
        epochs_decay=0,
        max_steps=args.steps,
        batch_size=args.batch_size,
        lr_policy="constant",
        output_dir=str(output / "run"),
        log_every=50,
        sample_every=max(args.steps // 4, 1),
        num_samples=4,
        val_every=args.steps,
        checkpoint_every=0,
        keep_checkpoints=1,
        seed=args.seed,
        device=args.device,
        progress_bar=args.progress,
    )
    logger.info(
        "Training a %d px U-Net (width %d) for %d steps of %d synthetic pairs ...",
        args.size,
        args.width,
        args.steps,
        args.batch_size,
    )
    trainer = Trainer(generator, discriminator, config, train_data=train, val_data=test)
    if find_run(config.output_dir) is not None:
        # the demo's run folder is its own scratch space: a second demo replaces the first's
        logger.info("Replacing the previous demo run in %s.", config.output_dir)
        remove_tree(config.output_dir)
    final = trainer.fit()
    if final is None:  # Ctrl-C: the checkpoint is written, there is nothing to show
        return 130
    train_seconds = time.perf_counter() - start

    # items are {"source": Tensor, "target": Tensor, "path": str}
    source = torch.stack([cast(torch.Tensor, test[i]["source"]) for i in range(len(test))])
    target = torch.stack([cast(torch.Tensor, test[i]["target"]) for i in range(len(test))])
    # the synthetic classes' palette rides in the saved inference metadata (the dataset
    # describes it), so `pix2pix serve` offers them as drawing colours
    translator = Translator.from_pretrained(final, device=args.device)
    trained = evaluate(translator, source, target)
    baseline = evaluate(Translator(untrained, device=args.device), source, target)
    save_image(demo_picture(source, trained["output"], target), output / "demo.png")
    results = {
        "trained": trained["scores"],
        "untrained": baseline["scores"],
        "steps": args.steps,
        "size": args.size,
        "batch_size": args.batch_size,
        "test_pairs": len(test),
        "train_seconds": round(train_seconds, 1),
        "device": str(trainer.device),
        "model": str(final),
    }
    (output / "metrics.json").write_text(json.dumps(results, indent=2) + "\n")
    t, u = trained["scores"], baseline["scores"]
    logger.info(
        "Held-out pairs, untrained -> trained: L1 %.3f -> %.3f, PSNR %.1f -> %.1f dB, "
        "SSIM %.3f -> %.3f",
        u["L1"],
        t["L1"],
        u["PSNR"],
        t["PSNR"],
        u["SSIM"],
        t["SSIM"],
    )
    logger.info(
        "Wrote %s (rows: source | output | target) and %s in %.0f s.",
        output / "demo.png",
        output / "metrics.json",
        time.perf_counter() - start,
    )
    logger.info(
        "Draw label maps and watch them translate in the browser: pix2pix serve --model %s",
        final,
    )
    return 0
