"""Train pix2pix on the CMP facades (labels -> photo), as in the paper, from a local folder.

Run: ``python examples/train_facades.py PATH/TO/facades [--epochs 100 --epochs-decay 100]``

``PATH/TO/facades`` holds ``train/`` and ``test/`` folders of aligned 512x256 images (photo left,
label map right), so labels -> photo is ``direction="BtoA"``. The defaults are the paper's: the
unet_256 generator, the 70x70 PatchGAN, batch size 1, Adam 2e-4 (0.5, 0.999), lambda_L1 = 100,
jitter 286 -> 256 with flips, 200 epochs. ``--size 128`` trains the paper's unet_128 variant at
128 px (load 143), much cheaper on a CPU. The trained generator lands in ``OUTPUT/final``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from pix2pix import PairedImageDataset, PatchGANDiscriminator, UNetGenerator
from pix2pix.trainer import Trainer, TrainerConfig


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("data", help="facades folder with train/ and test/")
    parser.add_argument("--output", default="runs/facades", help="run folder")
    parser.add_argument("--size", type=int, default=256, choices=[256, 128, 64, 32])
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--epochs-decay", type=int, default=100)
    parser.add_argument("--base-channels", type=int, default=64, help="ngf = ndf (64 in the paper)")
    parser.add_argument("--max-steps", type=int, default=None, help="stop early (smoke runs)")
    parser.add_argument("--precision", default="fp32", choices=["fp32", "bf16", "fp16"])
    parser.add_argument("--device", default="auto")
    args = parser.parse_args(argv)

    data = Path(args.data)
    load_size = round(args.size * 286 / 256)  # the paper's jitter: resize up, crop back
    common = dict(direction="BtoA", load_size=load_size, crop_size=args.size)
    train = PairedImageDataset(data / "train", **common)
    test = PairedImageDataset(data / "test", train=False, **common)

    # unet_256 at 256 px, unet_128 at 128 px: the bottleneck is 1x1 either way
    generator = UNetGenerator(
        num_downs=args.size.bit_length() - 1, base_channels=args.base_channels
    )
    discriminator = PatchGANDiscriminator(in_channels=6, base_channels=args.base_channels)
    config = TrainerConfig(
        epochs=args.epochs,
        epochs_decay=args.epochs_decay,
        max_steps=args.max_steps,
        precision=args.precision,
        device=args.device,
        output_dir=args.output,
        direction="BtoA",
        load_size=load_size,
        crop_size=args.size,
    )
    trainer = Trainer(generator, discriminator, config, train_data=train, val_data=test)
    return trainer.fit()  # resumable: Trainer(...).fit(resume_from="latest")


if __name__ == "__main__":
    main()
