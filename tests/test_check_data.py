"""pix2pix check-data: every file decoded fully, every pairing/size/mode problem found at once."""

import argparse
import io
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pix2pix.cli import SUBCOMMAND_MODULES, main
from pix2pix.cli import check_data as check_data_cli
from pix2pix.data import PairedImageDataset, read_image, write_image
from pix2pix.data.check import check_data

SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets"


def noise(height, width, channels=3, dtype=np.uint8, seed=0):
    high = 65536 if dtype == np.uint16 else 256
    rng = np.random.default_rng(seed)
    return rng.integers(0, high, (height, width, channels)).astype(dtype)


def save(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_image(path, array)


def truncated_jpeg(path, size=(64, 32)):
    """A JPEG whose header is intact and whose body stops halfway."""
    buffer = io.BytesIO()
    Image.fromarray(noise(size[1], size[0])).save(buffer, "JPEG", quality=95)
    data = buffer.getvalue()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data[: len(data) // 2])
    return path


def aligned(tmp_path, count=3, size=(32, 16)):
    root = tmp_path / "aligned"
    for i in range(count):
        save(root / f"{i}.png", noise(size[1], size[0], seed=i))
    return root


def run_cli(*argv):
    """``pix2pix check-data`` through its own register(), whether or not main lists it yet."""
    parser = argparse.ArgumentParser(prog="pix2pix")
    check_data_cli.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["check-data", *argv])
    return args.func(args)


def messages(report):
    return [p.message for p in report.problems]


def test_clean_aligned_folder(tmp_path):
    report = check_data(aligned(tmp_path), progress=False)
    assert report.ok and not report.warnings
    assert (report.layout, report.pairs, report.files) == ("aligned", 3, 3)
    assert report.modes == {"RGB 8-bit": 3}
    assert "3 pair(s), 3 file(s) decoded" in report.headline()


def test_truncated_jpeg_body_is_caught_though_its_header_reads(tmp_path):
    root = aligned(tmp_path)
    bad = truncated_jpeg(root / "9.jpg")
    with Image.open(bad) as image:  # a header read (what a quick scan does) sees nothing wrong
        assert image.size == (64, 32)
    report = check_data(root, progress=False)
    assert report.bad_paths == [str(bad)]
    (message,) = messages(report)
    assert str(bad) in message and "truncated" in message and "\n" not in message
    with pytest.raises(ValueError, match="truncated"):  # and it is what the dataset would hit
        PairedImageDataset(root, crop_size=8, load_size=8)[3]


def test_folders_layout_reports_every_problem_at_once(tmp_path):
    root = tmp_path / "pairs"
    for name in ("1", "2", "3", "4"):
        save(root / "A" / f"{name}.png", noise(16, 16))
    save(root / "B" / "1.png", noise(16, 16))
    save(root / "B" / "2.png", noise(16, 20))  # size mismatch
    truncated_jpeg(root / "B" / "3.jpg", (16, 16))  # corrupt
    save(root / "B" / "4.png", noise(16, 16))
    save(root / "B" / "4.jpg", noise(16, 16))  # duplicate name
    truncated_jpeg(root / "A" / "5.jpg", (16, 16))  # unpaired and corrupt
    save(root / "B" / "6.png", noise(16, 16))  # unpaired
    report = check_data(root, progress=False)
    assert report.layout == "folders" and report.pairs == 4
    text = "\n".join(messages(report))
    assert f"{root / 'A' / '2.png'} is 16x16 but {root / 'B' / '2.png'} is 20x16" in text
    assert f"Could not read image {root / 'B' / '3.jpg'}" in text
    assert f"{root / 'B' / '4.png'} has the same name without extension" in text
    assert f"{root / 'A' / '5.jpg'} has no partner in {root / 'B'}" in text
    assert f"Could not read image {root / 'A' / '5.jpg'}" in text
    assert f"{root / 'B' / '6.png'} has no partner in {root / 'A'}" in text
    assert len(report.problems) == 6
    assert all("\n" not in m for m in text.splitlines())


def test_aligned_sizes_odd_width_warns_and_one_pixel_fails(tmp_path):
    root = aligned(tmp_path)
    save(root / "odd.png", noise(16, 33))
    save(root / "thin.png", noise(16, 1))
    report = check_data(root, progress=False)
    assert messages(report) == [
        f"{root / 'thin.png'} is 1 pixel(s) wide; an aligned pair needs A and B side by side. "
        "Use layout='folders' for separate A/ and B/ files."
    ]
    assert [w.path for w in report.warnings] == [str(root / "odd.png")]
    assert "odd width: its last column is dropped" in report.warnings[0].message


def test_channels_follow_direction(tmp_path):
    root = tmp_path / "pairs"
    save(root / "A" / "1.png", noise(8, 8, 1))  # gray A
    save(root / "B" / "1.png", noise(8, 8, 3))
    assert check_data(root, in_channels=3, out_channels=3, progress=False).ok  # gray -> RGB ok
    report = check_data(root, direction="BtoA", in_channels=3, out_channels=4, progress=False)
    (message,) = messages(report)
    assert message.startswith(f"{root / 'A' / '1.png'} has 1 channel(s) (gray) but out_channels=4")
    with pytest.raises(ValueError, match="out_channels=4"):  # the dataset's own rule
        PairedImageDataset(root, direction="BtoA", out_channels=4, crop_size=8, load_size=8)[0]


def test_crop_needs_images_of_crop_size(tmp_path):
    root = aligned(tmp_path, size=(32, 16))  # halves are 16x16
    assert check_data(root, preprocess="crop", crop_size=16, progress=False).ok
    report = check_data(root, preprocess="crop", crop_size=24, progress=False)
    assert len(report.problems) == 3
    assert "smaller than crop_size=24 with preprocess='crop'" in report.problems[0].message


def test_mixed_modes_and_ignored_files_warn(tmp_path):
    root = aligned(tmp_path)
    save(root / "gray16.png", noise(16, 32, 1, np.uint16))
    (root / "notes.txt").write_text("not an image")
    Image.fromarray(noise(16, 32)).save(root / "x.gif")
    report = check_data(root, progress=False)
    assert report.ok
    assert report.modes == {"RGB 8-bit": 3, "gray 16-bit": 1}
    text = [w.message for w in report.warnings]
    assert any(m.startswith(f"{root / 'gray16.png'} is gray 16-bit while 3 of the 4") for m in text)
    assert any(f"{root} holds 2 file(s) the dataset ignores (notes.txt, x.gif)" in m for m in text)


def test_worker_processes_find_the_same(tmp_path):
    root = aligned(tmp_path, count=12)
    truncated_jpeg(root / "5b.jpg")
    serial = check_data(root, num_workers=0, progress=False)
    parallel = check_data(root, num_workers=2, progress=False)
    assert serial.files == parallel.files == 13
    assert messages(serial) == messages(parallel) and len(serial.problems) == 1
    with pytest.raises(ValueError, match="num_workers=-1 must be 0"):
        check_data(root, num_workers=-1)


def test_missing_or_empty_folders_are_one_line(tmp_path):
    with pytest.raises(FileNotFoundError, match="Dataset folder not found"):
        check_data(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="No images found in"):
        check_data(tmp_path / "empty")
    with pytest.raises(FileNotFoundError, match="layout='folders' needs"):
        check_data(tmp_path / "empty", layout="folders")


# ---------------------------------------------------------------- decompression bombs (io.py)


@pytest.mark.parametrize("deep", [False, True], ids=["8-bit", "16-bit-colour-png"])
def test_decompression_bomb_is_one_line_and_skippable(tmp_path, monkeypatch, deep):
    root = aligned(tmp_path, size=(16, 8))  # 128 pixels, under the limit below
    big = save(root / "big.png", noise(40, 80, 3, np.uint16 if deep else np.uint8))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 500)  # 3200 pixels > 2 x 500: a "bomb"
    with pytest.raises(ValueError) as caught:
        read_image(big)
    message = str(caught.value)
    assert message.startswith(f"Could not read image {big}: Image size (3200 pixels) exceeds")
    assert "raise PIL.Image.MAX_IMAGE_PIXELS" in message and "\n" not in message
    data = PairedImageDataset(root, crop_size=4, load_size=4, on_error="skip")
    with warnings.catch_warnings():  # how a skip is announced may change; the count may not
        warnings.simplefilter("ignore")
        item = data[data.paths.index(str(big))]
    assert item["path"] != str(big) and data.skipped == 1
    report = check_data(root, num_workers=0, progress=False)
    assert report.bad_paths == [str(big)]


# ---------------------------------------------------------------- the command line


def test_cli_exit_codes_and_one_line_per_problem(tmp_path, capsys):
    root = aligned(tmp_path)
    assert run_cli(str(root), "--quiet") == 0
    assert "0 problem(s), 0 warning(s)" in capsys.readouterr().out
    bad = truncated_jpeg(root / "7.jpg")
    save(root / "odd.png", noise(16, 33))
    assert run_cli(str(root), "--quiet", "--workers", "0") == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"problem: Could not read image {bad}: ")
    assert lines[1].startswith(f"warning: {root / 'odd.png'} is 33 pixels wide")
    assert "1 problem(s), 1 warning(s)" in lines[2] and len(lines) == 3
    bad.unlink()
    assert run_cli(str(root), "--quiet") == 0  # a warning alone passes
    assert run_cli(str(root), "--quiet", "--strict") == 1
    capsys.readouterr()
    assert run_cli(str(root), "--quiet", "--in-channels", "4") == 1
    assert "in_channels=4" in capsys.readouterr().out


@pytest.mark.skipif("check_data" not in SUBCOMMAND_MODULES, reason="not registered in cli yet")
def test_main_runs_check_data(tmp_path, capsys):
    assert main(["check-data", str(aligned(tmp_path)), "--quiet"]) == 0
    assert main(["check-data", str(tmp_path / "missing")]) == 2
    assert "pix2pix check-data: error: Dataset folder not found" in capsys.readouterr().err


@pytest.mark.skipif(not (SHARED / "facades" / "test").is_dir(), reason="no ../shared datasets")
def test_real_facades_test_split_is_clean():
    report = check_data(SHARED / "facades" / "test", progress=False)
    assert report.ok and report.files == 106 and report.modes == {"RGB 8-bit": 106}
