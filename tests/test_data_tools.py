"""combine_folders / split_folder and the ``pix2pix combine`` / ``pix2pix split`` commands."""

import numpy as np
import pytest

from pix2pix.cli import main
from pix2pix.data import combine_folders, read_image, split_folder, write_image


def _pixels(height, width, channels=3, seed=0, dtype=np.uint8):
    rng = np.random.default_rng(seed)
    top = np.iinfo(dtype).max
    return rng.integers(0, top, (height, width, channels), endpoint=True).astype(dtype)


def _two_folders(root, count=3, size=(16, 24)):
    a_dir, b_dir = root / "A", root / "B"
    a_dir.mkdir()
    b_dir.mkdir()
    pairs = {}
    for index in range(count):
        a, b = _pixels(*size, seed=index), _pixels(*size, seed=100 + index)
        write_image(a_dir / f"{index}.png", a)
        write_image(b_dir / f"{index}.bmp", b)
        pairs[str(index)] = (a, b)
    return a_dir, b_dir, pairs


def test_combine_writes_a_left_b_right(tmp_path):
    a_dir, b_dir, pairs = _two_folders(tmp_path)
    report = combine_folders(a_dir, b_dir, tmp_path / "out", progress=False)
    assert report.written == 3 and report.skipped == []
    for stem, (a, b) in pairs.items():
        combined = read_image(tmp_path / "out" / f"{stem}.png")  # A's extension by default
        np.testing.assert_array_equal(combined, np.concatenate([a, b], axis=1))


def test_split_inverts_combine(tmp_path):
    a_dir, b_dir, pairs = _two_folders(tmp_path)
    combine_folders(a_dir, b_dir, tmp_path / "combined", progress=False)
    report = split_folder(tmp_path / "combined", tmp_path / "split", progress=False, workers=2)
    assert report.written == 3 and report.skipped == []
    for stem, (a, b) in pairs.items():
        np.testing.assert_array_equal(read_image(tmp_path / "split" / "A" / f"{stem}.png"), a)
        np.testing.assert_array_equal(read_image(tmp_path / "split" / "B" / f"{stem}.png"), b)


def test_combine_reports_what_it_skipped_and_why(tmp_path):
    a_dir, b_dir, _ = _two_folders(tmp_path, count=2)
    write_image(a_dir / "only_a.png", _pixels(16, 24))
    write_image(b_dir / "only_b.png", _pixels(16, 24))
    write_image(a_dir / "sized.png", _pixels(16, 24))
    write_image(b_dir / "sized.png", _pixels(20, 24))
    (a_dir / "broken.png").write_bytes(b"garbage")
    write_image(b_dir / "broken.png", _pixels(16, 24))
    report = combine_folders(a_dir, b_dir, tmp_path / "out", progress=False)
    assert report.written == 2
    reasons = {item.path.split("/")[-1]: item.reason for item in report.skipped}
    assert set(reasons) == {"only_a.png", "only_b.png", "sized.png", "broken.png"}
    assert "no image named only_a.*" in reasons["only_a.png"]
    assert "no image named only_b.*" in reasons["only_b.png"]
    assert "sizes differ" in reasons["sized.png"] and "24x20" in reasons["sized.png"]
    assert "corrupt" in reasons["broken.png"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["0.png", "1.png"]
    assert "skipped 4" in report.summary()


def test_combine_duplicate_names_are_skipped(tmp_path):
    a_dir, b_dir, _ = _two_folders(tmp_path, count=2)
    write_image(b_dir / "1.png", _pixels(16, 24))  # B now has 1.bmp and 1.png
    report = combine_folders(a_dir, b_dir, tmp_path / "out", progress=False)
    assert report.written == 1
    assert {item.path.split("/")[-1] for item in report.skipped} == {"1.png", "1.bmp"}
    assert sum("more than one image" in item.reason for item in report.skipped) == 1


def test_combine_mixed_depth_and_channels(tmp_path):
    (tmp_path / "A").mkdir()
    (tmp_path / "B").mkdir()
    gray16 = _pixels(8, 8, channels=1, dtype=np.uint16)
    rgb8 = _pixels(8, 8)
    write_image(tmp_path / "A" / "x.png", gray16)
    write_image(tmp_path / "B" / "x.png", rgb8)
    combine_folders(tmp_path / "A", tmp_path / "B", tmp_path / "out", progress=False)
    combined = read_image(tmp_path / "out" / "x.png")
    assert combined.dtype == np.uint16 and combined.shape == (8, 16, 3)
    np.testing.assert_array_equal(combined[:, :8], np.repeat(gray16, 3, axis=2))
    np.testing.assert_array_equal(combined[:, 8:], rgb8.astype(np.uint16) * 257)


def test_output_extension_and_16bit_jpeg_refusal(tmp_path):
    a_dir, b_dir, _ = _two_folders(tmp_path, count=1)
    report = combine_folders(a_dir, b_dir, tmp_path / "jpg", ext="JPG", progress=False)
    assert report.written == 1 and (tmp_path / "jpg" / "0.jpg").is_file()
    write_image(tmp_path / "deep.png", _pixels(4, 8, dtype=np.uint16))
    (tmp_path / "deep").mkdir()
    (tmp_path / "deep.png").rename(tmp_path / "deep" / "deep.png")
    report = split_folder(tmp_path / "deep", tmp_path / "deep_out", ext=".jpg", progress=False)
    assert report.written == 0 and "only be written as PNG" in report.skipped[0].reason


def test_refuses_to_overwrite_unless_asked(tmp_path):
    a_dir, b_dir, _ = _two_folders(tmp_path, count=2)
    combine_folders(a_dir, b_dir, tmp_path / "out", progress=False)
    with pytest.raises(FileExistsError, match=r"2 output file\(s\) already exist.*overwrite"):
        combine_folders(a_dir, b_dir, tmp_path / "out", progress=False)
    assert combine_folders(a_dir, b_dir, tmp_path / "out", overwrite=True, progress=False).written


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda p: combine_folders(p / "no", p, p / "o"), FileNotFoundError, "A folder not found"),
        (lambda p: combine_folders(p, p / "no", p / "o"), FileNotFoundError, "B folder not found"),
        (lambda p: combine_folders(p, p, p / "o"), ValueError, r"No images found in .*\.png"),
        (lambda p: split_folder(p / "no", p / "o"), FileNotFoundError, "input folder not found"),
        (lambda p: split_folder(p, p / "o", ext="gif"), ValueError, r"ext='\.gif'"),
        (lambda p: split_folder(p, p / "o", workers=0), ValueError, "No images|workers=0"),
    ],
)
def test_errors(tmp_path, call, error, match):
    with pytest.raises(error, match=match):
        call(tmp_path)


def test_bad_worker_count(tmp_path):
    a_dir, b_dir, _ = _two_folders(tmp_path, count=1)
    with pytest.raises(ValueError, match="workers=0 must be a positive integer"):
        combine_folders(a_dir, b_dir, tmp_path / "out", workers=0, progress=False)


def test_cli_combine_and_split(tmp_path, capsys):
    a_dir, b_dir, pairs = _two_folders(tmp_path)
    out = tmp_path / "combined"
    args = ["combine", "--a", str(a_dir), "--b", str(b_dir), "--output", str(out), "--quiet"]
    assert main(args) == 0
    assert sorted(p.name for p in out.iterdir()) == ["0.png", "1.png", "2.png"]
    assert "wrote 3" in capsys.readouterr().out
    assert main(["split", str(out), "--output", str(tmp_path / "split"), "--quiet"]) == 0
    for stem, (a, b) in pairs.items():
        np.testing.assert_array_equal(read_image(tmp_path / "split" / "A" / f"{stem}.png"), a)
        np.testing.assert_array_equal(read_image(tmp_path / "split" / "B" / f"{stem}.png"), b)


def test_cli_errors_are_one_line(tmp_path, capsys):
    assert main(["split", str(tmp_path / "missing"), "--output", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("pix2pix split: error: input folder not found") and "\n" not in err


def test_cli_exit_code_when_nothing_was_written(tmp_path, capsys):
    (tmp_path / "A").mkdir()
    (tmp_path / "B").mkdir()
    write_image(tmp_path / "A" / "x.png", _pixels(4, 4))
    args = ["combine", "--a", str(tmp_path / "A"), "--b", str(tmp_path / "B"), "-o", "o"]
    assert main([*args[:-1], str(tmp_path / "o"), "--quiet"]) == 1
    assert "no image named x.*" in capsys.readouterr().out
