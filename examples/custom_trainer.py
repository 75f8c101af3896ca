"""Custom trainer: add a loss term to the generator step by subclassing ``Trainer``.

The subclass below adds a total-variation penalty, ``lambda_tv * mean(|dx| + |dy|)`` of the
generated image, to the paper's ``GAN + lambda_L1 * L1`` generator loss. ``generator_step`` is
plain Lightning-style manual optimisation: freeze D, zero the gradients, compute the loss under
autocast, ``self.backward(loss)``, ``self.optimizer_step(optimizer)``; the returned dict is
what gets logged (``G_TV`` shows up in ``metrics.jsonl`` and the progress bar).

Run: ``python examples/custom_trainer.py [--steps 200] [--size 64] [--output DIR]``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
import torch.nn.functional as F

from pix2pix import PatchGANDiscriminator, UNetGenerator
from pix2pix.data import SyntheticPairs
from pix2pix.losses import gan_loss
from pix2pix.trainer import Trainer, TrainerConfig, frozen


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

    def generator_step(self, source, target, fake):
        cfg = self.config
        with frozen(self.discriminator):  # no gradients for D while G learns
            self.optimizer_g.zero_grad()
            with self.autocast():
                prediction = self.d_frozen(torch.cat([source, fake], dim=1))
                loss_gan = gan_loss(prediction, True, cfg.gan_mode, for_discriminator=False)
                loss_l1 = F.l1_loss(fake, target) * cfg.lambda_l1
                loss_tv = total_variation(fake) * self.lambda_tv
                loss = loss_gan + loss_l1 + loss_tv
            self.backward(loss)
            self.optimizer_step(self.optimizer_g)
        return {"G_GAN": loss_gan.detach(), "G_L1": loss_l1.detach(), "G_TV": loss_tv.detach()}


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
