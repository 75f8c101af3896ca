"""Export a generator to ONNX and translate an image with ONNX Runtime instead of PyTorch.

Run: ``pip install ".[onnx]"`` (in the checkout), then
``python examples/export_onnx.py [--model runs/NAME/final] [--output DIR]``. Without ``--model``
an untrained paper U-Net is exported, so the picture is noise-like: the point is the deployment
path (the graph's input convention; any image size, padded and cropped back inside the graph).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
from PIL import Image

from pix2pix import Translator, UNetGenerator
from pix2pix.export import export_onnx


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default=None, help="a saved model (default: an untrained one)")
    parser.add_argument("--output", default="export-output", help="where to write files")
    parser.add_argument("--size", type=int, default=256, help="example size for the export")
    parser.add_argument("--base-channels", type=int, default=64, help="without --model only")
    parser.add_argument("--num-downs", type=int, default=8, help="without --model only")
    args = parser.parse_args(argv)
    output = Path(args.output)

    model = args.model
    if model is None:
        generator = UNetGenerator(base_channels=args.base_channels, num_downs=args.num_downs)
        model = generator.save_pretrained(output / "model", inference={"direction": "AtoB"})

    # dynamic_size: one file for every image size; the graph pads to the generator's size
    # multiple (256 for unet_256) and crops back, as the Translator does
    onnx_path = export_onnx(model, output / "generator.onnx", size=args.size, dynamic_size=True)
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])

    # a 300x200 RGB picture as the graph expects it: float32 [1, 3, H, W] in [-1, 1]
    gradient = np.linspace(0, 255, 300, dtype=np.uint8)[None, :, None].repeat(200, 0)
    picture = gradient.repeat(3, 2)
    x = picture.transpose(2, 0, 1)[None].astype(np.float32) / 127.5 - 1
    y = session.run(["output"], {"input": x})[0]  # [1, 3, 200, 300]
    result = ((y[0].transpose(1, 2, 0) + 1) * 127.5).round().clip(0, 255).astype(np.uint8)
    Image.fromarray(result).save(output / "translated.png")

    # the same picture through PyTorch: equal up to float rounding
    reference = Translator.from_pretrained(model, device="cpu")(torch.from_numpy(x[0]))
    max_diff = float(np.abs(y[0] - reference.numpy()).max())
    print(f"wrote {onnx_path} and {output / 'translated.png'}; max |onnx - torch| = {max_diff:.2e}")
    return {"onnx": onnx_path, "image": output / "translated.png", "max_abs_diff": max_diff}


if __name__ == "__main__":
    main()
