"""pix2pix translate and the files it writes: no silent overwrite, the input's bit depth kept."""

import logging
import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from pix2pix.cli import main
from pix2pix.data import read_image, write_image
from pix2pix.models import UNetGenerator


def make_model(path, channels=3):
    torch.manual_seed(0)
    UNetGenerator(channels, channels, base_channels=4, num_downs=5).save_pretrained(path)
    return path


@pytest.fixture
def model_dir(tmp_path):
    return make_model(tmp_path / "model")


def noise(height, width, channels, dtype, seed=0):
    high = 65536 if dtype == np.uint16 else 256
    rng = np.random.default_rng(seed)
    return rng.integers(0, high, (height, width, channels)).astype(dtype)


def save(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_image(path, array)


def translate(model, *argv):
    return main(["translate", "--model", str(model), *map(str, argv)])


def png_bit_depth(path):
    return path.read_bytes()[24]  # IHDR bit depth


def test_existing_outputs_are_refused_before_the_model_loads(tmp_path, model_dir, capsys):
    for name in ("a", "b", "c", "d"):
        save(tmp_path / "in" / f"{name}.png", noise(32, 32, 3, np.uint8))
    out = tmp_path / "out"
    assert translate(model_dir, tmp_path / "in", "--output", out) == 0
    before = (out / "a.png").read_bytes()
    (out / "a.png").write_bytes(b"keep me")
    capsys.readouterr()
    # a model path that does not exist: the refusal must come first, before any loading
    code = translate(tmp_path / "no-model", tmp_path / "in", "--output", out)
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert err == (
        f"pix2pix translate: error: 4 output file(s) already exist ({out / 'a.png'}, "
        f"{out / 'b.png'}, {out / 'c.png'} and 1 more); pass --overwrite to replace them, or "
        "choose an empty output folder.\n"
    )
    assert (out / "a.png").read_bytes() == b"keep me"
    assert translate(model_dir, tmp_path / "in", "--output", out, "--overwrite") == 0
    assert (out / "a.png").read_bytes() == before


def test_output_that_is_a_file_or_an_input_is_refused(tmp_path, model_dir, capsys):
    src = save(tmp_path / "x.png", noise(32, 32, 3, np.uint8))
    (tmp_path / "file").write_text("")
    assert translate(model_dir, src, "--output", tmp_path / "file") == 2
    assert "--output " + str(tmp_path / "file") + " is a file" in capsys.readouterr().err
    assert translate(model_dir, src, "--output", tmp_path, "--overwrite") == 2
    err = capsys.readouterr().err
    assert f"would write {src}, one of the inputs" in err
    assert read_image(src).shape == (32, 32, 3)  # untouched


@pytest.mark.parametrize("aligned", [False, True], ids=["plain", "aligned"])
def test_16bit_rgb_input_gives_a_16bit_png(tmp_path, model_dir, aligned):
    width = 64 if aligned else 32
    src = save(tmp_path / "deep.png", noise(32, width, 3, np.uint16))
    out = tmp_path / "out"
    extra = ["--aligned"] if aligned else []
    assert translate(model_dir, src, "--output", out, *extra) == 0
    result = read_image(out / "deep.png")
    assert result.dtype == np.uint16 and result.shape == (32, 32, 3)
    assert png_bit_depth(out / "deep.png") == 16
    assert len(np.unique(result)) > 256  # really 16-bit values, not 8-bit ones times 257
    assert translate(model_dir, src, "--output", tmp_path / "o8", "--bit-depth", "8", *extra) == 0
    eight = read_image(tmp_path / "o8" / "deep.png")
    assert eight.dtype == np.uint8
    assert np.abs(eight.astype(int) * 257 - result.astype(int)).max() <= 128 + 257


def test_16bit_gray_with_a_one_channel_model(tmp_path, capsys):
    model = make_model(tmp_path / "gray-model", channels=1)
    src = save(tmp_path / "gray.png", noise(32, 48, 1, np.uint16))
    assert translate(model, src, "--output", tmp_path / "out") == 0, capsys.readouterr().err
    with Image.open(tmp_path / "out" / "gray.png") as image:
        assert image.mode == "I;16" and image.size == (48, 32)
    assert read_image(tmp_path / "out" / "gray.png").dtype == np.uint16


def test_8bit_inputs_stay_8bit_and_keep_alpha(tmp_path, model_dir):
    save(tmp_path / "in" / "rgba.png", noise(32, 32, 4, np.uint8))
    save(tmp_path / "in" / "gray.png", noise(32, 32, 1, np.uint8))
    assert translate(model_dir, tmp_path / "in", "--output", tmp_path / "out") == 0
    rgba = read_image(tmp_path / "out" / "rgba.png")
    assert rgba.dtype == np.uint8 and rgba.shape == (32, 32, 4)
    np.testing.assert_array_equal(rgba[:, :, 3], noise(32, 32, 4, np.uint8)[:, :, 3])
    assert read_image(tmp_path / "out" / "gray.png").shape == (32, 32, 3)  # the model's RGB
    out16 = tmp_path / "o16"
    assert translate(model_dir, tmp_path / "in", "--output", out16, "--bit-depth", 16) == 0
    assert png_bit_depth(tmp_path / "o16" / "rgba.png") == 16


def test_a_file_named_twice_is_translated_once_and_counted_once(tmp_path, model_dir, caplog):
    # issue 23: `translate x.png x.png` reported 2 images written and left one out/x_.png
    src = save(tmp_path / "in" / "x.png", noise(32, 32, 3, np.uint8))
    out = tmp_path / "out"
    with caplog.at_level(logging.INFO):
        assert translate(model_dir, src, src, tmp_path / "in", "--output", out) == 0
    assert sorted(p.name for p in out.iterdir()) == ["x.png"]
    assert f"note: {src} is named 3 times in the inputs; translating it once" in caplog.messages
    assert f"wrote 1 image(s) to {out}" in caplog.messages
    # a link is another name: its output is written under that name
    (tmp_path / "link.png").symlink_to(src)
    spelt = tmp_path / "in" / ".." / "in" / "x.png"
    args = [spelt, tmp_path / "link.png", "--output", out, "--overwrite"]
    assert translate(model_dir, src, *args) == 0
    assert sorted(p.name for p in out.iterdir()) == ["link.png", "x.png"]
    assert np.array_equal(read_image(out / "link.png"), read_image(out / "x.png"))


@pytest.mark.parametrize(
    ("first", "second"),
    [("a/x.png", "b/x.png"), ("a/x.png", "a/x.jpg"), ("a/x.png", "b/X.png")],
    ids=["two-folders", "two-formats", "case"],
)
def test_two_inputs_for_one_output_are_refused(tmp_path, model_dir, capsys, first, second):
    for name in (first, second):
        save(tmp_path / name, noise(32, 32, 3, np.uint8))
    out = tmp_path / "out"
    # a missing model: the refusal comes before loading, and nothing is written
    code = translate(tmp_path / "no-model", tmp_path / first, tmp_path / second, "--output", out)
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    target = out / f"{(tmp_path / first).stem}.png"
    assert (
        f"{tmp_path / first} and {tmp_path / second} would both be written to {target}; "
        "translate them into separate --output folders, or rename one." in err
    )
    assert not out.exists()


def test_an_image_above_max_pixels_needs_tile(tmp_path, model_dir, capsys):
    # issue 23: translate had no pixel limit (a 12000x12000 image needs over 60 GB whole); the
    # limit is lowered here so the test allocates nothing large
    src = save(tmp_path / "in" / "wide.png", noise(30, 40, 3, np.uint8))
    out = tmp_path / "out"
    code = translate(tmp_path / "no-model", src, "--output", out, "--max-pixels", "1000")
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1  # before the model loads: it does not exist
    assert (
        f"{src} is 40x30 (1,200 pixels), more than --max-pixels 1,000 for translating a whole "
        "image; pass --tile 1024 to translate it in tiles, or raise --max-pixels." in err
    )
    assert not out.exists()
    # --aligned translates one half, 20x30 (600 pixels)
    args = [src, "--aligned", "--output", tmp_path / "half", "--max-pixels"]
    assert translate(tmp_path / "no-model", *args, "599") == 2
    assert "its source half is 20x30 (600 pixels), more than --max-pixels 599" in (
        capsys.readouterr().err
    )
    assert translate(model_dir, *args, "600") == 0
    assert read_image(tmp_path / "half" / "wide.png").shape == (30, 20, 3)
    args = ["--output", out, "--overwrite", "--max-pixels", "1000"]
    assert translate(model_dir, src, *args, "--tile", "32", "--tile-overlap", "8") == 0
    assert read_image(out / "wide.png").shape == (30, 40, 3)


def test_a_decompression_bomb_is_one_line_naming_the_fix(tmp_path, model_dir, capsys, monkeypatch):
    # Pillow refuses above twice MAX_IMAGE_PIXELS and warns above it; lowered here
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 500)
    src = save(tmp_path / "bomb.png", noise(30, 40, 3, np.uint8))
    out = tmp_path / "out"
    # above Pillow's limit and above --max-pixels: with --tile or without, refused
    assert translate(model_dir, src, "--output", out, "--max-pixels", "400", "--tile", "64") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert (
        f"{src} is 40x30 (1,200 pixels), more than Pillow's decompression-bomb limit of 500 "
        "pixels; if you trust the file, pass --max-pixels 1200 (and --tile 1024 to translate it "
        "in tiles)." in err
    )
    # vouched for: translated without Pillow's warning, and Pillow's limit is restored after
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        assert translate(model_dir, src, "--output", out, "--max-pixels", "1200") == 0
    assert Image.MAX_IMAGE_PIXELS == 500
    monkeypatch.undo()
    assert read_image(out / "bomb.png").shape == (30, 40, 3)
