"""Convert checkpoints trained with the canonical PyTorch pix2pix code to pix2pix folders.

Run: ``python examples/convert_reference_checkpoint.py latest_net_G.pth OUTPUT_DIR
[--direction BtoA] [--no-dropout]``

The architecture (U-Net depth, ResNet blocks, PatchGAN layers), widths and norm are inferred
from the checkpoint's keys and shapes. The file is read with ``torch.load(weights_only=True)``,
so a checkpoint that would run code is refused. The result is ``config.json`` +
``model.safetensors`` (+ a model card), loadable with ``Translator.from_pretrained``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from pix2pix.models.convert import load_reference_checkpoint


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("checkpoint", help="latest_net_G.pth or latest_net_D.pth")
    parser.add_argument("output_dir", help="folder to write config.json + model.safetensors")
    parser.add_argument(
        "--direction",
        choices=["AtoB", "BtoA"],
        default=None,
        help="the direction the model was trained for (stored for inference)",
    )
    parser.add_argument(
        "--no-dropout",
        action="store_true",
        help="the model was trained with --no_dropout (keys cannot tell)",
    )
    args = parser.parse_args(argv)

    overrides = {"dropout": 0.0} if args.no_dropout else {}
    model = load_reference_checkpoint(args.checkpoint, **overrides)
    inference = {"direction": args.direction} if args.direction else None
    folder = model.save_pretrained(args.output_dir, inference=inference)
    print(f"{type(model).__name__}({model.config}) -> {folder}")
    return folder


if __name__ == "__main__":
    main()
