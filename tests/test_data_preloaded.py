"""PreloadedPairs: item by item, bit for bit the PairedImageDataset's jitter, for the same seed."""

from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import Subset

from pix2pix import PatchGANDiscriminator, UNetGenerator
from pix2pix.data import PairedImageDataset, write_image
from pix2pix.data.preloaded import PreloadedPairs
from pix2pix.trainer import Trainer, TrainerConfig
from pix2pix.trainer.loader import epoch_loader

FACADES = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "facades"


def _aligned(folder, count=5, height=40, width=44):
    """Random-pixel aligned A|B files (not square, not the load size: the resize matters)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for index in range(count):
        pixels = rng.integers(0, 256, (height, 2 * width, 3), dtype=np.uint8)
        write_image(folder / f"{index}.png", pixels)
    return folder


def _folders(root, count=4, size=38):
    rng = np.random.default_rng(1)
    for side in ("A", "B"):
        (root / side).mkdir(parents=True, exist_ok=True)
    for index in range(count):
        write_image(root / "A" / f"{index}.png", rng.integers(0, 256, (size, size, 3), np.uint8))
        write_image(root / "B" / f"{index}.png", rng.integers(0, 256, (size, size, 3), np.uint8))
    return root


def _epochs(data, epochs=3, seed=0):
    """Every item of ``epochs`` epochs in the Trainer's order (num_workers=0, seeded RNG)."""
    torch.manual_seed(seed)  # as Trainer.fit seeds the global RNG before the first batch
    items = []
    for epoch in range(epochs):
        loader = epoch_loader(
            data,
            epoch=epoch,
            start_batch=0,
            batch_size=1,
            shuffle=True,
            drop_last=False,
            seed=seed,
            num_workers=0,
        )
        items.extend(loader)
    return items


def _assert_same_items(files, preloaded, epochs=3):
    expected, got = _epochs(files, epochs), _epochs(preloaded, epochs)
    assert len(expected) == len(got) == epochs * len(files)
    for want, have in zip(expected, got):
        assert want["path"] == have["path"]
        for key in ("source", "target"):
            assert have[key].dtype == want[key].dtype == torch.float32
            assert torch.equal(have[key], want[key]), (key, want["path"])


def test_items_equal_the_file_datasets_bit_for_bit_over_epochs(tmp_path):
    files = PairedImageDataset(_aligned(tmp_path), direction="BtoA", load_size=36, crop_size=32)
    preloaded = PreloadedPairs(files)
    assert len(preloaded) == len(files) and preloaded.sources.shape == (5, 3, 36, 36)
    _assert_same_items(files, preloaded)
    # and a flip actually happened somewhere, so both branches were compared
    flips = []
    torch.manual_seed(3)
    for _ in range(20):
        flips.append(files.transform.get_params(36, 36).flip)
    assert any(flips) and not all(flips)


def test_a_subset_of_folders_with_gray_sources_and_the_pil_resize(tmp_path):
    full = PairedImageDataset(
        _folders(tmp_path), load_size=36, crop_size=32, in_channels=1, resize="pil"
    )
    files = Subset(full, [3, 0, 2])
    preloaded = PreloadedPairs(files)
    assert preloaded.sources.shape == (3, 1, 36, 36) and preloaded.targets.shape == (3, 3, 36, 36)
    _assert_same_items(files, preloaded, epochs=2)


def test_without_flip_no_flip_is_drawn(tmp_path):
    files = PairedImageDataset(_aligned(tmp_path, count=3), load_size=36, crop_size=32, flip=False)
    _assert_same_items(files, PreloadedPairs(files), epochs=2)


def test_items_are_fresh_contiguous_tensors(tmp_path):
    files = PairedImageDataset(_aligned(tmp_path, count=2), load_size=32, crop_size=32)
    preloaded = PreloadedPairs(files)
    stored = preloaded.sources.clone()
    for seed in range(6):  # crop == load size: the crop is the whole image, a view if not copied
        torch.manual_seed(seed)
        item = preloaded[0]
        assert item["source"].is_contiguous() and item["target"].is_contiguous()
        item["source"].add_(1.0)
    assert torch.equal(preloaded.sources, stored)


def test_bad_datasets_are_refused_with_the_reason(tmp_path):
    root = _aligned(tmp_path, count=2)
    with pytest.raises(ValueError, match="preprocess='resize_and_crop' with train=True"):
        PreloadedPairs(PairedImageDataset(root, preprocess="crop", crop_size=32))
    with pytest.raises(ValueError, match="train=False"):
        PreloadedPairs(PairedImageDataset(root, train=False, crop_size=32))
    with pytest.raises(ValueError, match="PairedImageDataset or a Subset of one; got list"):
        PreloadedPairs([{"source": torch.zeros(3, 8, 8)}])  # type: ignore[arg-type]


def test_the_trainer_trains_on_it_and_records_the_datasets_settings(tmp_path):
    files = PairedImageDataset(_aligned(tmp_path / "data", count=2), load_size=36, crop_size=32)
    trainer = Trainer(
        UNetGenerator(base_channels=4, num_downs=5),
        PatchGANDiscriminator(base_channels=4),
        TrainerConfig(max_steps=2, output_dir=str(tmp_path / "run"), progress_bar=False),
        train_data=PreloadedPairs(files),
    )
    trainer.fit()
    meta = trainer.inference_metadata()
    assert trainer.step == 2
    assert (meta["load_size"], meta["crop_size"], meta["direction"]) == (36, 32, "AtoB")


@pytest.mark.skipif(not (FACADES / "train").is_dir(), reason="shared facades dataset absent")
def test_the_papers_jitter_on_real_facades_pairs():
    files = Subset(PairedImageDataset(FACADES / "train", direction="BtoA"), range(4))
    preloaded = PreloadedPairs(files)
    assert preloaded.sources.shape == (4, 3, 286, 286)
    _assert_same_items(files, preloaded, epochs=2)
