"""The synthetic facade task: determinism, splits, sizes, and that it needs spatial context."""

import numpy as np
import pytest
import torch

from pix2pix.data import PairedImageDataset, SyntheticPairs
from pix2pix.data.synthetic import BALCONY, DOOR, LABEL_COLOURS, SKY, WALL, WINDOW, render_pair


def _classes(labels):
    """Class id per pixel from a label map."""
    matches = (labels[:, :, None, :] == LABEL_COLOURS[None, None]).all(axis=-1)
    assert matches.any(axis=-1).all(), "label map has colours outside the palette"
    return matches.argmax(axis=-1)


def _brightness(photo):
    return photo.astype(np.float64).mean(axis=-1)


def test_label_colours_are_the_facades_colours_of_the_same_class():
    # a model trained on the demo data reads label maps drawn in the facades dataset's colours
    from pix2pix.data.synthetic import CLASS_NAMES
    from pix2pix.palettes import CMP_FACADE_COLOURS

    cmp = dict(CMP_FACADE_COLOURS)
    same_meaning = ("background", "facade", "cornice", "window", "door", "balcony")
    assert [tuple(c) for c in LABEL_COLOURS.tolist()] == [cmp[name] for name in same_meaning]
    assert CLASS_NAMES == ("sky", "wall", "cornice", "window", "door", "balcony")
    labels, _ = render_pair(0, size=64)
    assert {tuple(p) for p in labels.reshape(-1, 3).tolist()} <= set(cmp.values())


def test_deterministic_for_seed_and_index():
    a, b = SyntheticPairs(8, size=48, seed=3), SyntheticPairs(8, size=48, seed=3)
    for index in (0, 5, 7):
        x, y = a[index], b[index]
        assert torch.equal(x["source"], y["source"]) and torch.equal(x["target"], y["target"])
    # Item i does not depend on how many items the set has or on access order.
    assert torch.equal(SyntheticPairs(100, size=48, seed=3)[5]["target"], a[5]["target"])


def test_differs_across_seeds_indices_and_splits():
    base = render_pair(0, seed=0, size=48)[0]
    assert not np.array_equal(base, render_pair(0, seed=1, size=48)[0])
    assert not np.array_equal(base, render_pair(1, seed=0, size=48)[0])
    assert not np.array_equal(base, render_pair(0, seed=0, size=48, split="test")[0])
    train, test = SyntheticPairs.splits(train_length=6, test_length=3, size=32)
    assert (len(train), len(test)) == (6, 3)
    assert not torch.equal(train[0]["source"], test[0]["source"])


def test_items_shapes_range_and_path():
    data = SyntheticPairs(50, size=(48, 80))
    item = data[42]
    assert tuple(item["source"].shape) == tuple(item["target"].shape) == (3, 48, 80)
    assert item["source"].dtype == torch.float32
    assert float(item["target"].min()) >= -1.0 and float(item["target"].max()) <= 1.0
    assert item["path"] == "synthetic/000042"
    assert SyntheticPairs(50, size=32, split="test")[3]["path"] == "synthetic/test/000003"
    assert len(data) == 50
    with pytest.raises(IndexError):
        data[50]


def test_any_size_renders_the_same_scene():
    small, large = (_classes(render_pair(4, size=s)[0]) for s in (64, 128))
    downsampled = large[1::2, 1::2]
    assert (small == downsampled).mean() > 0.9


def test_label_map_has_the_facade_classes():
    classes = np.stack([_classes(render_pair(i, size=64)[0]) for i in range(10)])
    present = {c for c in (SKY, WALL, WINDOW, DOOR, BALCONY) if (classes == c).any()}
    assert present == {SKY, WALL, WINDOW, DOOR, BALCONY}


def test_photo_is_not_a_per_pixel_colour_lookup():
    labels, photo = render_pair(1, size=128)
    classes = _classes(labels)
    wall = classes == WALL
    # Same label colour, many different photo colours:
    assert len(np.unique(photo[wall], axis=0)) > 20
    # Lighting from above: the wall darkens towards the ground.
    rows = np.nonzero(wall.any(axis=1))[0]
    third = len(rows) // 3
    brightness = _brightness(photo)
    top = brightness[rows[:third]][wall[rows[:third]]].mean()
    bottom = brightness[rows[-third:]][wall[rows[-third:]]].mean()
    assert top > bottom * 1.1
    # Windows: a bright frame along the border, darker glass inside.
    window = classes == WINDOW
    inner = window.copy()
    for axis in (0, 1):
        for shift in (1, -1):
            inner &= np.roll(window, shift, axis=axis)
    border = window & ~inner
    assert brightness[border].mean() > brightness[inner].mean() + 40


def test_windows_cast_shadows_on_the_wall():
    labels, photo = render_pair(2, size=128)
    classes = _classes(labels)
    occluder = np.isin(classes, (WINDOW, DOOR, BALCONY))
    below_right = np.zeros_like(occluder)
    below_right[3:, 3:] = occluder[:-3, :-3]  # the shadow offset: round(128 / 48) = 3 px
    wall = classes == WALL
    shadowed = wall & below_right
    lit = wall & ~below_right
    brightness = _brightness(photo)
    assert shadowed.sum() > 20
    assert brightness[shadowed].mean() < 0.8 * brightness[lit].mean()


def test_channel_options():
    item = SyntheticPairs(2, size=32, in_channels=1, out_channels=1)[0]
    assert item["source"].shape[0] == 1 and item["target"].shape[0] == 1
    with pytest.raises(ValueError, match=r"in_channels=4 is not supported.*\(1, 3\)"):
        SyntheticPairs(2, in_channels=4)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"length": 0}, "length=0 must be a positive integer"),
        ({"size": 8}, "size=8 is too small"),
        ({"split": "val"}, r"split='val'.*'train', 'test'"),
        ({"seed": 1.5}, "seed=1.5 must be an integer"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SyntheticPairs(**kwargs)


@pytest.mark.parametrize("layout", ["aligned", "folders"])
def test_written_files_read_back_identically(tmp_path, layout):
    synthetic = SyntheticPairs(4, size=32, seed=9)
    synthetic.write(tmp_path, layout=layout)
    files = PairedImageDataset(
        tmp_path, direction="BtoA", preprocess="none", size_multiple=32, train=False
    )
    assert files.layout == layout and len(files) == 4
    for index in range(4):
        assert torch.equal(files[index]["source"], synthetic[index]["source"])
        assert torch.equal(files[index]["target"], synthetic[index]["target"])


def test_config_describes_the_written_files():
    config = SyntheticPairs(4, size=(32, 48), seed=2, split="test").config
    assert config["direction"] == "BtoA" and config["preprocess"] == "none"
    assert config["size"] == [32, 48] and config["seed"] == 2 and config["split"] == "test"


@pytest.mark.slow
def test_a_small_unet_learns_more_than_a_colour_lookup():
    """Minutes-scale check that the task is learnable and needs context (run with -m slow)."""
    from pix2pix.models import UNetGenerator

    torch.manual_seed(0)
    train, test = SyntheticPairs.splits(200, 16, size=32)
    sources = torch.stack([train[i]["source"] for i in range(len(train))])
    targets = torch.stack([train[i]["target"] for i in range(len(train))])
    test_sources = torch.stack([test[i]["source"] for i in range(len(test))])
    test_targets = torch.stack([test[i]["target"] for i in range(len(test))])
    # The best per-pixel lookup: the median photo colour of each label colour.
    keys = sources.permute(0, 2, 3, 1).reshape(-1, 3)
    values = targets.permute(0, 2, 3, 1).reshape(-1, 3)
    lookup = {}
    for colour in torch.unique(keys, dim=0):
        lookup[tuple(colour.tolist())] = values[(keys == colour).all(dim=1)].median(dim=0).values
    test_keys = test_sources.permute(0, 2, 3, 1).reshape(-1, 3)
    predicted = torch.stack([lookup[tuple(k.tolist())] for k in test_keys])
    lookup_l1 = (predicted - test_targets.permute(0, 2, 3, 1).reshape(-1, 3)).abs().mean()

    model = UNetGenerator(base_channels=16, num_downs=5, dropout=0.0)
    optimiser = torch.optim.Adam(model.parameters(), lr=2e-3)
    for _ in range(400):
        batch = torch.randint(0, len(train), (8,))
        loss = (model(sources[batch]) - targets[batch]).abs().mean()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    model.eval()
    with torch.no_grad():
        model_l1 = (model(test_sources) - test_targets).abs().mean()
    assert model_l1 < 0.8 * lookup_l1
