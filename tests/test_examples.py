"""Every example runs at a tiny size, so an example never rots."""

import json

import torch
from PIL import Image

from pix2pix import Translator, UNetGenerator
from pix2pix.data import SyntheticPairs

from helpers import load_example
from reference import RefUnet, randomize


def test_quickstart(tmp_path):
    output = load_example("quickstart").main(["--output", str(tmp_path / "qs")])
    assert Image.open(output / "translated.png").size == (300, 200)
    assert (output / "model" / "model.safetensors").is_file()


def test_translate_folder(tmp_path):
    UNetGenerator(base_channels=4, num_downs=5).save_pretrained(tmp_path / "model")
    inputs = tmp_path / "in"
    inputs.mkdir()
    Image.new("RGB", (50, 40), "red").save(inputs / "a.png")
    Image.new("L", (33, 70)).save(inputs / "b.jpg")
    written = load_example("translate_folder").main(
        [str(tmp_path / "model"), str(inputs), str(tmp_path / "out"), "--device", "cpu"]
    )
    assert [p.name for p in written] == ["a.png", "b.png"]
    assert Image.open(tmp_path / "out" / "b.png").size == (33, 70)


def test_convert_reference_checkpoint(tmp_path):
    ref = randomize(RefUnet(3, 3, 5, ngf=4)).eval()
    torch.save(ref.state_dict(), tmp_path / "latest_net_G.pth")
    folder = load_example("convert_reference_checkpoint").main(
        [str(tmp_path / "latest_net_G.pth"), str(tmp_path / "converted"), "--direction", "BtoA"]
    )
    config = json.loads((folder / "config.json").read_text())
    assert config["model_type"] == "UNetGenerator" and config["inference"]["direction"] == "BtoA"
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        assert (Translator.from_pretrained(folder, device="cpu")(x) - ref(x)).abs().max() < 1e-5


def test_train_facades_on_a_tiny_aligned_folder(tmp_path):
    # same layout as the real facades: aligned photo|labels files in train/ and test/
    train, test = SyntheticPairs.splits(train_length=4, test_length=2, size=32)
    train.write(tmp_path / "facades" / "train")
    test.write(tmp_path / "facades" / "test")
    final = load_example("train_facades").main(
        [
            str(tmp_path / "facades"),
            "--output",
            str(tmp_path / "run"),
            "--size",
            "32",
            "--base-channels",
            "4",
            "--max-steps",
            "3",
            "--device",
            "cpu",
        ]
    )
    translator = Translator.from_pretrained(final, device="cpu")
    assert translator.direction == "BtoA"
    assert translator.generator.config["num_downs"] == 5
