"""Quickstart: build the paper's generator, save it, load it back and translate an image.

Run: ``python examples/quickstart.py [--output DIR]``. The model is untrained, so the picture is
noise-like; ``pix2pix demo`` trains one. This shows the public API end to end.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

from pix2pix import Translator, UNetGenerator


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--output", default="quickstart-output", help="where to write files")
    args = parser.parse_args(argv)
    output = Path(args.output)

    # unet_256 with batch norm and dropout: exactly the paper's generator (54,413,955 weights)
    generator = UNetGenerator()
    generator.save_pretrained(output / "model", inference={"direction": "AtoB"})

    translator = Translator.from_pretrained(output / "model", device="cpu")
    # any size works: 300x200 is padded to what the U-Net needs and cropped back
    gradient = np.linspace(0, 255, 300, dtype=np.uint8)[None, :, None].repeat(200, 0)
    photo = Image.fromarray(gradient.repeat(3, 2))
    result = translator.translate(photo)
    result.save(output / "translated.png")
    print(f"translated a {photo.size} image to {output / 'translated.png'} ({result.size})")
    return output


if __name__ == "__main__":
    main()
