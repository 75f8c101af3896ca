"""Translate every image in a folder with a trained model, any size, with a progress bar.

Run: ``python examples/translate_folder.py MODEL INPUT_DIR OUTPUT_DIR [--tile 512]``

``MODEL`` is a folder written by training or ``save_pretrained`` (``runs/NAME/final``), a
``.safetensors`` file, or a reference ``latest_net_G.pth``. Images keep their size: the
Translator pads them to what the U-Net needs and crops the result back.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from tqdm.auto import tqdm

from pix2pix import Translator
from pix2pix.data import list_images


def main(argv: list[str] | None = None) -> list[Path]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("model", help="trained model folder, .safetensors or reference .pth")
    parser.add_argument("input_dir", help="folder of images to translate")
    parser.add_argument("output_dir", help="where to write the PNG results")
    parser.add_argument("--tile", type=int, default=None, help="tile size for very large images")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, ...")
    args = parser.parse_args(argv)

    translator = Translator.from_pretrained(args.model, device=args.device)
    output_dir = Path(args.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for path in tqdm(list_images(args.input_dir), desc="translate", unit="img"):
        result = translator.translate(path, tile=args.tile)  # a path in, a PIL image out
        result.save(output_dir / f"{Path(path).stem}.png")
        written.append(output_dir / f"{Path(path).stem}.png")
    return written


if __name__ == "__main__":
    main()
