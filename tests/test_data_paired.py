"""PairedImageDataset: layouts, order, direction, jitter, depth/channels, errors, DataLoader."""

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from pix2pix.data import PairedImageDataset, write_image

FACADES = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "facades"
EXIF_ORIENTATION = 0x0112


def _pixels(height, width, channels=3, seed=0, dtype=np.uint8):
    rng = np.random.default_rng(seed)
    return rng.integers(0, np.iinfo(dtype).max, (height, width, channels), endpoint=True).astype(
        dtype
    )


def _as_float(array):
    """What the dataset should produce for ``array`` without any resizing."""
    top = np.iinfo(array.dtype).max
    return torch.from_numpy(array.astype(np.float32) * (2.0 / top) - 1.0).permute(2, 0, 1)


def _aligned(folder, count=3, size=32, names=None):
    """Write ``count`` aligned A|B files; returns the list of (A, B) arrays."""
    folder.mkdir(parents=True, exist_ok=True)
    pairs = []
    for index, name in enumerate(names or [f"{i}.png" for i in range(count)]):
        a, b = _pixels(size, size, seed=2 * index), _pixels(size, size, seed=2 * index + 1)
        write_image(folder / name, np.concatenate([a, b], axis=1))
        pairs.append((a, b))
    return pairs


def _folders(root, count=3, size=32):
    pairs = []
    for index in range(count):
        a, b = _pixels(size, size, seed=10 + index), _pixels(size, size, seed=20 + index)
        (root / "A").mkdir(parents=True, exist_ok=True)
        (root / "B").mkdir(parents=True, exist_ok=True)
        write_image(root / "A" / f"{index}.png", a)
        write_image(root / "B" / f"{index}.bmp", b)  # partners differ in extension
        pairs.append((a, b))
    return pairs


def _exact(root, **kwargs):
    """A dataset that returns the stored pixels unchanged (no resize, crop or flip)."""
    options = {"preprocess": "none", "size_multiple": 32, "train": False, **kwargs}
    return PairedImageDataset(root, **options)


def test_aligned_layout_splits_at_the_middle_a_on_the_left(tmp_path):
    pairs = _aligned(tmp_path)
    data = _exact(tmp_path)
    assert data.layout == "aligned" and len(data) == 3
    for index, (a, b) in enumerate(pairs):
        item = data[index]
        assert torch.equal(item["source"], _as_float(a))
        assert torch.equal(item["target"], _as_float(b))
        assert item["path"] == str(tmp_path / f"{index}.png")


def test_folders_layout_pairs_by_name(tmp_path):
    pairs = _folders(tmp_path)
    data = _exact(tmp_path)
    assert data.layout == "folders" and len(data) == 3
    for index, (a, b) in enumerate(pairs):
        item = data[index]
        assert torch.equal(item["source"], _as_float(a))
        assert torch.equal(item["target"], _as_float(b))
        assert Path(item["path"]).name == f"{index}.png"


def test_explicit_layout_overrides_auto(tmp_path):
    _folders(tmp_path)
    _aligned(tmp_path, count=2)  # aligned files next to A/ and B/
    assert PairedImageDataset(tmp_path).layout == "folders"
    assert len(PairedImageDataset(tmp_path, layout="aligned")) == 2


def test_direction_swaps_source_and_target(tmp_path):
    (_, b), *_ = _aligned(tmp_path)
    forward, backward = _exact(tmp_path)[0], _exact(tmp_path, direction="BtoA")[0]
    assert torch.equal(forward["source"], backward["target"])
    assert torch.equal(forward["target"], backward["source"])
    assert torch.equal(backward["source"], _as_float(b))


def test_extensions_in_any_case_in_natural_order(tmp_path):
    names = ["10.png", "2.PNG", "1.Png", "3.BMP", "4.JPG", "5.jpeg", "6.TIF", "7.webp"]
    for name in names:
        image = np.zeros((8, 16, 3), np.uint8)
        Image.fromarray(image).save(tmp_path / name)
    (tmp_path / "readme.txt").write_text("not an image")
    (tmp_path / ".thumb.png").write_bytes(b"")
    data = PairedImageDataset(tmp_path, crop_size=8, load_size=8)
    assert [Path(p).name for p in data.paths] == [
        "1.Png",
        "2.PNG",
        "3.BMP",
        "4.JPG",
        "5.jpeg",
        "6.TIF",
        "7.webp",
        "10.png",
    ]
    assert all(tuple(data[i]["source"].shape) == (3, 8, 8) for i in range(len(data)))


def test_identical_halves_stay_identical_under_any_jitter(tmp_path):
    half = _pixels(40, 40)
    write_image(tmp_path / "same.png", np.concatenate([half, half], axis=1))
    data = PairedImageDataset(tmp_path, load_size=48, crop_size=32)
    torch.manual_seed(0)
    outputs = [data[0] for _ in range(16)]
    for item in outputs:
        assert torch.equal(item["source"], item["target"])
    # ...and the jitter really varied (crops and flips), so the check above means something.
    assert len({item["source"].sum().item() for item in outputs}) > 4


def test_training_items_are_jittered(tmp_path):
    _aligned(tmp_path, count=1, size=40)
    data = PairedImageDataset(tmp_path, load_size=48, crop_size=32)
    torch.manual_seed(0)
    first = data[0]["source"]
    assert any(not torch.equal(first, data[0]["source"]) for _ in range(10))


def test_eval_is_deterministic_resize_to_crop_size(tmp_path):
    _aligned(tmp_path, count=2, size=40)
    data = PairedImageDataset(tmp_path, load_size=48, crop_size=32, train=False)
    state = torch.get_rng_state()
    first = [data[i] for i in range(2)]
    second = [data[i] for i in range(2)]
    assert torch.equal(torch.get_rng_state(), state)  # no random draws at all
    for x, y in zip(first, second):
        assert torch.equal(x["source"], y["source"]) and torch.equal(x["target"], y["target"])
        assert tuple(x["source"].shape) == (3, 32, 32)


def test_config_records_the_preprocessing(tmp_path):
    _aligned(tmp_path, count=1)
    data = PairedImageDataset(
        tmp_path, direction="BtoA", preprocess="crop", load_size=40, crop_size=16
    )
    assert data.config == {
        "direction": "BtoA",
        "layout": "aligned",
        "preprocess": "crop",
        "load_size": 40,
        "crop_size": 16,
        "flip": True,
        "in_channels": 3,
        "out_channels": 3,
        "size_multiple": 256,
    }
    assert (data.direction, data.preprocess, data.load_size, data.crop_size) == (
        "BtoA",
        "crop",
        40,
        16,
    )


def test_16bit_images_keep_their_range(tmp_path):
    a16 = np.zeros((32, 32, 3), np.uint16)
    a16[:, :16] = 65535
    a16[:, 16:] = 1000  # dark but not black: 8-bit truncation would give 3 -> about -0.98
    (tmp_path / "A").mkdir()
    (tmp_path / "B").mkdir()
    write_image(tmp_path / "A" / "x.png", a16)
    write_image(tmp_path / "B" / "x.png", _pixels(32, 32))
    source = _exact(tmp_path)[0]["source"]
    assert float(source[:, :, :16].min()) == 1.0
    assert float(source[0, 0, 20]) == pytest.approx(1000 / 65535 * 2 - 1, abs=1e-6)
    jittered = PairedImageDataset(tmp_path, load_size=40, crop_size=32, flip=False)[0]
    assert float(jittered["source"].max()) > 0.99


def test_grayscale_files_and_channel_rules(tmp_path):
    gray = _pixels(32, 32, channels=1)
    rgb = _pixels(32, 32, seed=5)
    (tmp_path / "A").mkdir()
    (tmp_path / "B").mkdir()
    Image.fromarray(gray[:, :, 0]).save(tmp_path / "A" / "x.png")
    Image.fromarray(rgb).save(tmp_path / "B" / "x.png")
    item = _exact(tmp_path, in_channels=3, out_channels=1)[0]
    assert item["source"].shape[0] == 3
    assert torch.equal(item["source"][0], item["source"][2])  # gray replicated
    luma = np.round(rgb.astype(np.float64) @ np.array([0.299, 0.587, 0.114]))
    expected = torch.from_numpy(luma.astype(np.float32) * (2 / 255) - 1)
    torch.testing.assert_close(item["target"][0], expected, atol=2 / 255 + 1e-6, rtol=0)
    same = _exact(tmp_path, in_channels=1)[0]
    assert same["source"].shape[0] == 1


def test_rgba_drops_alpha(tmp_path):
    rgba = _pixels(32, 64, channels=4)
    write_image(tmp_path / "x.png", rgba)
    item = _exact(tmp_path)[0]
    assert torch.equal(item["source"], _as_float(np.ascontiguousarray(rgba[:, :32, :3])))


def test_impossible_channels_error_names_file_and_counts(tmp_path):
    _aligned(tmp_path, count=1)
    with pytest.raises(ValueError, match=r"0\.png has 3 channel\(s\) \(RGB\) but in_channels=4"):
        _exact(tmp_path, in_channels=4)[0]


def test_exif_orientation_is_respected(tmp_path):
    # The displayed image is an A|B pair (red A left, blue B right, 32x16); the file stores it
    # rotated with EXIF orientation 6, so a reader that ignores EXIF would split it wrongly.
    displayed = np.zeros((16, 32, 3), np.uint8)
    displayed[:, :16] = (255, 0, 0)
    displayed[:, 16:] = (0, 0, 255)
    stored = np.ascontiguousarray(np.rot90(displayed, k=1))  # undone by a 90-degree CW turn
    image = Image.fromarray(stored)
    exif = image.getexif()
    exif[EXIF_ORIENTATION] = 6
    image.save(tmp_path / "pair.jpg", exif=exif, quality=95)
    item = _exact(tmp_path, size_multiple=16)[0]
    assert tuple(item["source"].shape) == (3, 16, 16)
    assert float(item["source"][0].mean()) > 0.8 and float(item["source"][2].mean()) < -0.8
    assert float(item["target"][2].mean()) > 0.8 and float(item["target"][0].mean()) < -0.8


# ----------------------------------------------------------------------------------- errors


def test_missing_root(tmp_path):
    with pytest.raises(FileNotFoundError, match="Dataset folder not found: .*nowhere"):
        PairedImageDataset(tmp_path / "nowhere")


def test_folder_without_images_names_folder_and_extensions(tmp_path):
    (tmp_path / "train").mkdir()
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(ValueError, match=r"No images found in .*\.jpg.*\.webp.*subfolders \(train"):
        PairedImageDataset(tmp_path)


def test_folders_layout_needs_both_folders(tmp_path):
    _aligned(tmp_path / "A", count=1)
    with pytest.raises(FileNotFoundError, match=r"needs .*B"):
        PairedImageDataset(tmp_path, layout="folders")


def test_corrupt_file_raises_naming_it(tmp_path):
    _aligned(tmp_path, count=2)
    (tmp_path / "1.png").write_bytes(b"garbage")
    data = PairedImageDataset(tmp_path, load_size=32, crop_size=32)
    data[0]
    with pytest.raises(ValueError, match=r"1\.png"):
        data[1]


def test_corrupt_file_can_be_skipped_and_counted(tmp_path, caplog):
    _aligned(tmp_path, count=3)
    (tmp_path / "1.png").write_bytes(b"garbage")
    data = PairedImageDataset(tmp_path, load_size=32, crop_size=32, on_error="skip")
    with caplog.at_level("WARNING", logger="pix2pix.data.paired"):
        item = data[1]
    assert "1.png" in caplog.text and "Skipped" in caplog.text  # logged, so a run's log shows it
    assert item["path"] == str(tmp_path / "2.png")  # the next usable pair
    assert data.skipped == 1


def test_all_files_unusable_with_skip(tmp_path, caplog):
    (tmp_path / "0.png").write_bytes(b"garbage")
    data = PairedImageDataset(tmp_path, on_error="skip")
    with caplog.at_level("WARNING"), pytest.raises(RuntimeError, match="None of the 1 pairs"):
        data[0]
    assert "0.png" in caplog.text


def test_folders_size_mismatch_names_both_files_and_sizes(tmp_path):
    (tmp_path / "A").mkdir()
    (tmp_path / "B").mkdir()
    write_image(tmp_path / "A" / "x.png", _pixels(32, 48))
    write_image(tmp_path / "B" / "x.png", _pixels(32, 40))
    with pytest.raises(ValueError, match=r"A/x\.png is 48x32 but .*B/x\.png is 40x32"):
        PairedImageDataset(tmp_path)[0]


def test_unpaired_names_are_listed(tmp_path):
    _folders(tmp_path, count=2)
    write_image(tmp_path / "A" / "lonely.png", _pixels(32, 32))
    write_image(tmp_path / "B" / "orphan.png", _pixels(32, 32))
    with pytest.raises(
        ValueError, match=r"Unpaired.*1 in .*A have no partner in B \(lonely\).*orphan"
    ):
        PairedImageDataset(tmp_path)


def test_duplicate_names_in_a_folder(tmp_path):
    _folders(tmp_path, count=1)
    write_image(tmp_path / "A" / "0.bmp", _pixels(32, 32))
    with pytest.raises(ValueError, match=r"share the name '0'"):
        PairedImageDataset(tmp_path)


def test_image_smaller_than_crop_size(tmp_path):
    _aligned(tmp_path, count=1, size=16)
    data = PairedImageDataset(tmp_path, preprocess="crop", crop_size=32)
    with pytest.raises(ValueError, match=r"0\.png is 16x16.*smaller than crop_size=32.*resize"):
        data[0]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"direction": "AB"}, r"direction='AB' is not supported.*'AtoB', 'BtoA'"),
        ({"layout": "pairs"}, r"layout='pairs'.*'auto', 'aligned', 'folders'"),
        ({"preprocess": "resize"}, r"preprocess='resize'.*'scale_width_and_crop'"),
        ({"on_error": "ignore"}, r"on_error='ignore'.*'raise', 'skip'"),
        ({"load_size": -3}, "load_size=-3 must be a positive integer"),
        ({"crop_size": 0}, "crop_size=0 must be a positive integer"),
        ({"load_size": 64, "crop_size": 128}, "load_size=64 is smaller than crop_size=128"),
        ({"in_channels": 0}, "in_channels=0 must be a positive integer"),
    ],
)
def test_bad_arguments_name_argument_and_choices(tmp_path, kwargs, match):
    _aligned(tmp_path, count=1)
    with pytest.raises(ValueError, match=match):
        PairedImageDataset(tmp_path, **kwargs)


def test_index_out_of_range(tmp_path):
    _aligned(tmp_path, count=2)
    data = _exact(tmp_path)
    assert data[-1]["path"] == data[1]["path"]
    with pytest.raises(IndexError):
        data[2]


# ----------------------------------------------------------------------------------- loading


def _batches(data, workers, seed):
    loader = DataLoader(
        data,
        batch_size=2,
        shuffle=True,
        num_workers=workers,
        generator=torch.Generator().manual_seed(seed),
    )
    return [(batch["source"].clone(), list(batch["path"])) for batch in loader]


@pytest.mark.parametrize("workers", [0, 2])
def test_dataloader_is_reproducible_with_a_seed(tmp_path, workers):
    _aligned(tmp_path, count=6, size=24)
    data = PairedImageDataset(tmp_path, load_size=32, crop_size=16)
    runs = []
    for seed in (7, 7, 8):
        torch.manual_seed(seed)  # the jitter's source with num_workers=0
        runs.append(_batches(data, workers, seed))
        torch.manual_seed(1234)  # disturb the global state between runs
    (first, second, other) = runs
    assert [paths for _, paths in first] == [paths for _, paths in second]
    assert all(torch.equal(x, y) for (x, _), (y, _) in zip(first, second))
    assert any(not torch.equal(x, y) for (x, _), (y, _) in zip(first, other))


def test_skips_inside_workers_are_counted(tmp_path):
    _aligned(tmp_path, count=4, size=16)
    (tmp_path / "2.png").write_bytes(b"garbage")
    data = PairedImageDataset(tmp_path, load_size=16, crop_size=16, on_error="skip")
    loader = DataLoader(data, batch_size=2, num_workers=2)
    assert sum(len(batch["path"]) for batch in loader) == 4
    assert data.skipped == 1


# ----------------------------------------------------------------------------------- facades


@pytest.mark.skipif(not (FACADES / "train").is_dir(), reason="shared facades dataset absent")
def test_real_facades():
    train = PairedImageDataset(FACADES / "train", direction="BtoA")
    test = PairedImageDataset(FACADES / "test", direction="BtoA", train=False)
    assert (len(train), len(test)) == (400, 106)
    assert [Path(p).name for p in train.paths[:3]] == ["1.jpg", "2.jpg", "3.jpg"]
    assert Path(train.paths[9]).name == "10.jpg"
    item = train[0]
    assert tuple(item["source"].shape) == tuple(item["target"].shape) == (3, 256, 256)
    assert float(item["source"].min()) >= -1.0 and float(item["target"].max()) <= 1.0
    # The right half (B, the source with BtoA) is the label map, mostly blue (background and
    # wall classes); the photo on the left is close to neutral.
    exact = test[0]
    labels, photo = exact["source"], exact["target"]
    assert float(labels[2].mean() - labels[0].mean()) > 0.5
    assert abs(float(photo[2].mean() - photo[0].mean())) < 0.3
