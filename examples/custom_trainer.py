"""Custom trainer: add a loss term to the generator step by subclassing ``Trainer``.

The subclass below adds a total-variation penalty, ``lambda_tv * mean(|dx| + |dy|)`` of the
generated image, to the paper's ``GAN + lambda_L1 * L1`` generator loss. It overrides only the
loss: ``generator_loss`` returns ``(loss, logs)``, and the Trainer does the stepping (D frozen,
zero_grad, autocast, backward, optimiser step). What is in ``logs`` gets logged (``G_TV`` shows
up in ``metrics.jsonl`` and the progress bar).

Run: ``python examples/custom_trainer.py [--steps 200] [--size 64] [--output DIR]``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from pix2pix import PatchGANDiscriminator, UNetGenerator
from pix2pix.data import SyntheticPairs
from pix2pix.trainer import Trainer, TrainerConfig


def total_variation(images: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference between neighbouring pixels, horizontally and vertically."""
    dx = (images[..., :, 1:] - images[..., :, :-1]).abs().mean()
    dy = (images[..., 1:, :] - images[..., :-1, :]).abs().mean()
    return dx + dy


class TVTrainer(Trainer):
    """pix2pix with an extra total-variation term in the generator loss."""

    def __init__(self, *args, lambda_tv: float = 1.0, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.lambda_tv = lambda_tv

    def generator_loss(self, source, target, fake):
        loss, logs = super().generator_loss(source, target, fake)
        logs["G_TV"] = total_variation(fake) * self.lambda_tv
        return loss + logs["G_TV"], logs


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=200, help="training steps")
    parser.add_argument("--size", type=int, default=64, help="image side (a power of two)")
    parser.add_argument("--width", type=int, default=16, help="network width")
    parser.add_argument("--lambda-tv", type=float, default=1.0, help="weight of the TV term")
    parser.add_argument("--output", default="custom-trainer-output", help="run folder")
    args = parser.parse_args(argv)

    torch.manual_seed(0)
    num_downs = args.size.bit_length() - 1  # 1x1 bottleneck
    generator = UNetGenerator(base_channels=args.width, num_downs=num_downs)
    discriminator = PatchGANDiscriminator(base_channels=args.width, n_layers=2)
    config = TrainerConfig(
        max_steps=args.steps,
        batch_size=4,
        lr_policy="constant",
        output_dir=args.output,
        log_every=max(args.steps // 10, 1),
        sample_every=args.steps,
        checkpoint_every=0,
        device="cpu",
    )
    data = SyntheticPairs(100, size=args.size)
    trainer = TVTrainer(generator, discriminator, config, train_data=data, lambda_tv=args.lambda_tv)
    return trainer.fit()


if __name__ == "__main__":
    print(f"exported the generator to {main()}")
