"""resize="pil": the canonical PIL + torchvision pipeline, bit for bit, with the same jitter."""

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from pix2pix.data import PairedImageDataset
from pix2pix.data.transforms import PairTransform, pil_resize, to_float, to_float_exact

transforms = pytest.importorskip("torchvision.transforms")
TF = pytest.importorskip("torchvision.transforms.functional")

FACADES = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "facades" / "train"


def canonical(pil_image, resize_to, crop, flip):
    """The reference dataset's transform chain on a PIL image, with the given parameters."""
    steps = []
    if resize_to is not None:
        steps.append(transforms.Resize(list(resize_to), transforms.InterpolationMode.BICUBIC))
    if crop is not None:
        top, left, height, width = crop
        steps.append(transforms.Lambda(lambda im: im.crop((left, top, left + width, top + height))))
    if flip:
        steps.append(transforms.Lambda(lambda im: im.transpose(Image.FLIP_LEFT_RIGHT)))
    steps += [transforms.ToTensor(), transforms.Normalize((0.5,) * 3, (0.5,) * 3)]
    return transforms.Compose(steps)(pil_image)


def canonical_pair(path, direction):
    """``(A, B)`` halves as the reference's AlignedDataset cuts them (PIL, convert('RGB'))."""
    ab = Image.open(path).convert("RGB")
    w, h = ab.size
    a, b = ab.crop((0, 0, w // 2, h)), ab.crop((w // 2, 0, w, h))
    return (b, a) if direction == "BtoA" else (a, b)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """A|B pairs with texture and sharp edges (PNG, so decoding is not in question)."""
    root = tmp_path_factory.mktemp("pairs")
    rng = np.random.default_rng(0)
    for i in range(4):
        half = rng.integers(0, 256, (90, 90, 3), dtype=np.uint8)
        half[20:40] = 255  # a hard edge: where the two bicubic kernels differ most
        other = np.ascontiguousarray(half[::-1])
        Image.fromarray(np.concatenate([half, other], axis=1)).save(root / f"{i}.png")
    return root


def compare(dataset, index, seed):
    """The dataset's item and the canonical pipeline's, drawn with the same parameters."""
    torch.manual_seed(seed)
    item = dataset[index]
    path = dataset.pairs[index][0]
    a, b = canonical_pair(path, dataset.direction)
    torch.manual_seed(seed)
    params = dataset.transform.get_params(a.height, a.width)
    expected = [canonical(im, params.resize, params.crop, params.flip) for im in (a, b)]
    return item, expected, params


@pytest.mark.parametrize("train", [True, False])
def test_pil_resize_matches_the_canonical_pipeline_bit_for_bit(folder, train):
    dataset = PairedImageDataset(
        folder, load_size=100, crop_size=64, size_multiple=64, train=train, resize="pil"
    )
    flips = set()
    for index in range(len(dataset)):
        for seed in range(3):
            item, (a, b), params = compare(dataset, index, seed)
            assert torch.equal(item["source"], a) and torch.equal(item["target"], b)
            flips.add(params.flip)
    assert flips == ({True, False} if train else {False})


def test_the_default_resize_is_close_but_not_exact(folder):
    fast = PairedImageDataset(folder, load_size=100, crop_size=64, size_multiple=64)
    worst, differing = 0.0, 0
    for index in range(len(fast)):
        item, (a, _), _ = compare(fast, index, 0)
        diff = (item["source"] - a).abs()
        worst = max(worst, float(diff.max()))
        differing += int((diff > 1e-3).sum())
    assert 0 < worst <= 2 / 127.5 + 1e-6  # at most 2 grey levels after a jitter
    assert differing > 0


def test_exact_arithmetic_is_torchvisions():
    pixels = torch.arange(256, dtype=torch.uint8).view(1, 16, 16)
    expected = transforms.Normalize((0.5,), (0.5,))(TF.to_tensor(pixels.permute(1, 2, 0).numpy()))
    assert torch.equal(to_float_exact(pixels), expected)
    assert 0 < float((to_float(pixels) - expected).abs().max()) < 2e-7


def test_pil_resize_of_gray_and_rgba_images():
    gray = torch.randint(0, 256, (1, 30, 40), dtype=torch.uint8)
    out = pil_resize(gray, (15, 20))
    expected = np.asarray(Image.fromarray(gray[0].numpy()).resize((20, 15), Image.BICUBIC))
    assert out.shape == (1, 15, 20) and torch.equal(out[0], torch.from_numpy(expected.copy()))
    assert pil_resize(torch.zeros(2, 4, 30, 40, dtype=torch.uint8), (10, 10)).shape == (
        2,
        4,
        10,
        10,
    )
    with pytest.raises(ValueError, match="8-bit"):
        pil_resize(torch.zeros(3, 8, 8, dtype=torch.uint16), (4, 4))


def test_the_option_is_checked_recorded_and_shown():
    with pytest.raises(ValueError, match="resize"):
        PairTransform(resize="opencv")
    assert "resize='pil'" in repr(PairTransform(resize="pil"))
    assert "resize=" not in repr(PairTransform())


def test_the_dataset_records_resize_only_when_exact(folder):
    assert "resize" not in PairedImageDataset(folder).config
    assert PairedImageDataset(folder, resize="pil").config["resize"] == "pil"


@pytest.mark.skipif(not FACADES.is_dir(), reason="needs ../shared/datasets/facades")
def test_facades_jpegs_match_the_canonical_pipeline():
    dataset = PairedImageDataset(
        FACADES, direction="BtoA", load_size=286, crop_size=256, resize="pil"
    )
    for index in (0, 7):
        item, (a, b), _ = compare(dataset, index, index)
        assert torch.equal(item["source"], a) and torch.equal(item["target"], b)
