"""``pix2pix prepare cityscapes`` on tiny fake zips in the official layout, and the zip reader.

The fakes hold what the official ``gtFine_trainvaltest.zip`` and ``leftImg8bit_trainvaltest.zip``
hold, in miniature: ``gtFine/SPLIT/CITY/ID_gtFine_{color,labelIds,instanceIds}.png`` and
``ID_gtFine_polygons.json``, ``leftImg8bit/SPLIT/CITY/ID_leftImg8bit.png``, a README and a
license at the top, two cities in train, one in val and one in test, 64 x 32 images.
"""

import io
import json
import re
import shlex
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pix2pix.cli import main
from pix2pix.data import prepare as prepare_module
from pix2pix.data.prepare import prepare_cityscapes
from pix2pix.pretrained.archive import UnsafeArchiveError
from pix2pix.pretrained.zip_reader import open_zip

ROOT = Path(__file__).resolve().parents[1]

FRAMES = {
    "train": {"aachen": ["000000_000019", "000001_000019"], "bochum": ["000000_000313"]},
    "val": {"frankfurt": ["000000_000294", "000001_000538"]},
    "test": {"berlin": ["000000_000019"]},  # no public labels: left out, as canonically
}


def png(color, size=(64, 32)):
    buffer = io.BytesIO()
    image = Image.new("RGB", size, color)
    image.putpixel((0, 0), (255, 255, 255))  # not flat, so the resize filter matters
    image.save(buffer, "PNG")
    return buffer.getvalue()


def photo_color(index):
    return (40 + 30 * index, 200 - 20 * index, 90)


def label_color(index):
    return (128, 64 + 25 * index, 128)


def fake_zips(folder, frames=FRAMES, extra_photo=None, extra_label=None):
    """Write the two fake zips; returns their paths and {(split, ID): index}."""
    folder.mkdir(parents=True, exist_ok=True)
    gtfine, leftimg = folder / "gtFine_trainvaltest.zip", folder / "leftImg8bit_trainvaltest.zip"
    index = {}
    with (
        zipfile.ZipFile(gtfine, "w", zipfile.ZIP_DEFLATED) as labels,
        zipfile.ZipFile(leftimg, "w", zipfile.ZIP_DEFLATED) as photos,
    ):
        for archive in (labels, photos):
            archive.writestr("README", "Cityscapes (fake)\n")
            archive.writestr("license.txt", "terms\n")
        for split, cities in frames.items():
            for city, ids in cities.items():
                for frame in ids:
                    name = f"{city}_{frame}"
                    i = index[(split, name)] = len(index)
                    base = f"gtFine/{split}/{city}/{name}_gtFine_"
                    labels.writestr(base + "color.png", png(label_color(i)))
                    labels.writestr(base + "labelIds.png", png((7, 7, 7)))
                    labels.writestr(base + "instanceIds.png", png((9, 9, 9)))
                    labels.writestr(base + "polygons.json", "{}")
                    photos.writestr(
                        f"leftImg8bit/{split}/{city}/{name}_leftImg8bit.png", png(photo_color(i))
                    )
        for name, data in (extra_photo or {}).items():
            photos.writestr(name, data)
        for name, data in (extra_label or {}).items():
            labels.writestr(name, data)
    return gtfine, leftimg, index


def canonical_pair(photo, label, size):
    """What datasets/prepare_cityscapes_dataset.py writes for one pair (read, not copied):
    RGB, resized (Pillow's default filter for RGB, bicubic), photo at x=0, label at x=size,
    saved as JPEG quality 100 without chroma subsampling."""
    a = Image.open(io.BytesIO(photo)).convert("RGB").resize((size, size))
    b = Image.open(io.BytesIO(label)).convert("RGB").resize((size, size))
    side = Image.new("RGB", (2 * size, size))
    side.paste(b, (size, 0))
    side.paste(a, (0, 0))
    buffer = io.BytesIO()
    side.save(buffer, format="JPEG", subsampling=0, quality=100)
    return buffer.getvalue()


def test_prepare_writes_the_canonical_pairs_train_and_val_as_test(tmp_path):
    gtfine, leftimg, index = fake_zips(tmp_path / "zips")
    out = prepare_cityscapes(gtfine, leftimg, tmp_path / "cityscapes", size=32, progress=False)
    assert sorted(p.name for p in out.iterdir()) == [".pix2pix-dataset.json", "test", "train"]
    assert sorted(p.name for p in (out / "train").iterdir()) == [
        "aachen_000000_000019.jpg",
        "aachen_000001_000019.jpg",
        "bochum_000000_000313.jpg",
    ]
    assert sorted(p.name for p in (out / "test").iterdir()) == [
        "frankfurt_000000_000294.jpg",
        "frankfurt_000001_000538.jpg",
    ]
    for (split, name), i in index.items():
        if split == "test":
            continue
        written = out / {"train": "train", "val": "test"}[split] / f"{name}.jpg"
        photo, label = png(photo_color(i)), png(label_color(i))
        assert written.read_bytes() == canonical_pair(photo, label, 32), written
        pixels = np.asarray(Image.open(written))
        assert pixels.shape == (32, 64, 3)
        assert np.abs(pixels[16, 16].astype(int) - photo_color(i)).max() <= 3  # A: the photo
        assert np.abs(pixels[16, 48].astype(int) - label_color(i)).max() <= 3  # B: the labels
    record = json.loads((out / ".pix2pix-dataset.json").read_text())
    assert record["splits"] == {"test": 2, "train": 3} and record["size"] == 32
    assert not any(p.name.startswith(".cityscapes") for p in tmp_path.iterdir())  # no leftovers


def test_cli_prepare_prints_the_folder_and_the_direction(tmp_path, capsys):
    gtfine, leftimg, _ = fake_zips(tmp_path / "zips")
    out = tmp_path / "cityscapes"
    argv = ["prepare", "cityscapes", "--gtfine", str(gtfine), "--leftimg", str(leftimg)]
    code = main([*argv, "--output", str(out), "--size", "16", "--quiet"])
    printed = capsys.readouterr().out
    assert code == 0 and str(out) in printed and "--direction BtoA" in printed
    assert Image.open(out / "train" / "bochum_000000_000313.jpg").size == (32, 16)


def test_an_existing_non_empty_output_is_refused_in_one_line(tmp_path, capsys):
    gtfine, leftimg, _ = fake_zips(tmp_path / "zips")
    out = tmp_path / "cityscapes"
    out.mkdir()
    (out / "mine.txt").write_text("keep me")
    argv = ["prepare", "cityscapes", "--gtfine", str(gtfine), "--leftimg", str(leftimg)]
    assert main([*argv, "--output", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "already exists and is not an empty folder" in err and len(err.splitlines()) == 1
    assert [p.name for p in out.iterdir()] == ["mine.txt"]


def test_photos_and_label_maps_that_do_not_pair_up_are_refused(tmp_path):
    extra = {"leftImg8bit/train/ulm/ulm_000000_000019_leftImg8bit.png": png((1, 2, 3))}
    gtfine, leftimg, _ = fake_zips(tmp_path / "zips", extra_photo=extra)
    with pytest.raises(ValueError, match=r"1 \(train/ulm_000000_000019\) photos lack a label"):
        prepare_cityscapes(gtfine, leftimg, tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()


def test_swapped_zips_are_named(tmp_path):
    gtfine, leftimg, _ = fake_zips(tmp_path / "zips")
    with pytest.raises(ValueError, match="holds no gtFine/SPLIT/CITY/.*gtFine_trainvaltest.zip"):
        prepare_cityscapes(leftimg, gtfine, tmp_path / "out", progress=False)


def test_a_damaged_image_stops_it_and_leaves_nothing(tmp_path):
    photo = {"leftImg8bit/train/ulm/ulm_000000_000019_leftImg8bit.png": b"not a png"}
    label = {"gtFine/train/ulm/ulm_000000_000019_gtFine_color.png": png((1, 2, 3))}
    gtfine, leftimg, _ = fake_zips(tmp_path / "zips", extra_photo=photo, extra_label=label)
    with pytest.raises(ValueError, match="Could not read .*ulm_000000_000019_leftImg8bit"):
        prepare_cityscapes(gtfine, leftimg, tmp_path / "out", progress=False, workers=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["zips"]


def test_hostile_zip_members_never_become_paths(tmp_path):
    # a member that climbs out matches no Cityscapes name: it is never read, never written
    extra = {"leftImg8bit/train/aachen/../../../../escape_leftImg8bit.png": png((0, 0, 0))}
    gtfine, leftimg, _ = fake_zips(tmp_path / "zips", extra_photo=extra)
    out = prepare_cityscapes(gtfine, leftimg, tmp_path / "a" / "out", progress=False, size=8)
    assert len(list((out / "train").iterdir())) == 3
    assert sorted(p.name for p in tmp_path.rglob("*escape*")) == []


def test_oversized_members_names_and_directories_are_refused(tmp_path, monkeypatch):
    gtfine, leftimg, _ = fake_zips(tmp_path / "zips")
    monkeypatch.setattr(prepare_module, "MAX_IMAGE_BYTES", 100)
    with pytest.raises(UnsafeArchiveError, match="declares .* bytes \\(the limit is 100\\)"):
        prepare_cityscapes(gtfine, leftimg, tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()
    entries = len(zipfile.ZipFile(gtfine).infolist())
    with pytest.raises(UnsafeArchiveError, match=f"central directory declares {entries} entries"):
        open_zip(gtfine, max_members=10)
    with pytest.raises(UnsafeArchiveError, match="central directory"):
        open_zip(gtfine, max_directory_bytes=500)
    long = tmp_path / "long.zip"
    with zipfile.ZipFile(long, "w") as archive:
        archive.writestr("x/" + "a" * 5000, b"")
    with pytest.raises(UnsafeArchiveError, match="longer than 4,096 bytes") as error:
        open_zip(long)
    assert len(str(error.value)) < 400


def as_zip64(path):
    """Rewrite a small zip's end as a zip64 one (what an 11 GB zip such as leftImg8bit has):
    the classic end record says 0xFFFF entries and points to the zip64 record."""
    data = path.read_bytes()
    end = len(data) - 22
    entries, size, offset = struct.unpack("<10xHLL2x", data[end:])
    record = struct.pack(
        "<4sQ2H2L4Q", b"PK\x06\x06", 44, 45, 45, 0, 0, entries, entries, size, offset
    )
    locator = struct.pack("<4sLQL", b"PK\x06\x07", 0, end, 1)
    classic = struct.pack(
        "<4s4H2LH", b"PK\x05\x06", 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0
    )
    path.write_bytes(data[:end] + record + locator + classic)
    return entries


def test_a_zip64_directory_is_read_and_bounded(tmp_path):
    gtfine, leftimg, _ = fake_zips(tmp_path / "zips")
    entries = as_zip64(gtfine)
    with pytest.raises(UnsafeArchiveError, match=f"declares {entries} entries"):
        open_zip(gtfine, max_members=entries - 1)
    out = prepare_cityscapes(gtfine, leftimg, tmp_path / "out", progress=False, size=8)
    assert len(list((out / "test").iterdir())) == 2


def test_a_file_that_is_not_a_zip_is_one_clear_error(tmp_path):
    fake = tmp_path / "gtFine_trainvaltest.zip"
    fake.write_bytes(b"<!DOCTYPE html><html>log in</html>")
    with pytest.raises(ValueError, match="is not a readable zip archive"):
        open_zip(fake)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        open_zip(tmp_path / "missing.zip")


def test_the_data_page_cityscapes_commands_run_as_written(tmp_path, monkeypatch):
    # docs/src/data.md, its Cityscapes section: the bash lines, on the fake zips under the
    # official names in the current folder
    page = (ROOT / "docs" / "src" / "data.md").read_text(encoding="utf-8")
    section = page.split("## Cityscapes", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"^```bash\n(.*?)^```", section, re.MULTILINE | re.DOTALL)
    lines = [line.split(" #")[0].strip() for block in blocks for line in block.splitlines()]
    commands = [line for line in lines if line and not line.startswith("#")]
    assert commands and commands[0].startswith("pix2pix prepare cityscapes")
    fake_zips(tmp_path)
    monkeypatch.chdir(tmp_path)
    for command in commands:
        argv = shlex.split(command)
        assert argv[0] == "pix2pix"
        if argv[1] == "train":
            argv += ["--max-steps", "1", "--num-downs", "5", "--base-channels", "4"]
            argv += ["--disc-channels", "4", "--load-size", "36", "--crop-size", "32"]
            argv += ["--no-progress-bar"]
        assert main(argv[1:]) == 0, command
    assert len(list((tmp_path / "cityscapes" / "test").glob("*.jpg"))) == 2
