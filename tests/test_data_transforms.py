"""Joint jitter: sizes per preprocess mode, shared parameters, PIL parity, channel rules."""

import numpy as np
import pytest
import torch
from PIL import Image

from pix2pix.data.transforms import (
    PairTransform,
    match_channels,
    resize,
    round_to_multiple,
    to_float,
)


def _image(height, width, channels=3, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (channels, height, width), dtype=torch.uint8, generator=generator)


def _smooth(height, width):
    y, x = np.mgrid[0:height, 0:width]
    array = np.stack(
        [127 + 120 * np.sin(x / 7.0), 127 + 120 * np.cos(y / 5.0), (x + y) % 256], axis=-1
    )
    return array.astype(np.uint8)


def test_uint8_resize_matches_pillow_bicubic():
    array = _smooth(64, 48)
    ours = resize(torch.from_numpy(array).permute(2, 0, 1), (80, 72)).permute(1, 2, 0).numpy()
    theirs = np.asarray(Image.fromarray(array).resize((72, 80), Image.Resampling.BICUBIC))
    difference = np.abs(ours.astype(int) - theirs.astype(int))
    assert difference.max() <= 2 and difference.mean() < 0.1


def test_uint16_resize_stays_uint16_with_full_range():
    ramp = torch.linspace(0, 65535, 32).round().to(torch.uint16).repeat(3, 32, 1)
    out = resize(ramp, (48, 48))
    assert out.dtype == torch.uint16
    values = out.to(torch.int32)
    assert int(values.max()) > 65000 and int(values.min()) < 500
    assert bool((values % 257 != 0).any())  # not reduced to 8 bits


def test_to_float_range_for_both_depths():
    assert to_float(torch.tensor([[[0, 255]]], dtype=torch.uint8)).tolist() == [[[-1.0, 1.0]]]
    out = to_float(torch.tensor([[[0, 1000, 65535]]], dtype=torch.uint16))
    assert out[0, 0, 0] == -1.0 and out[0, 0, 2] == 1.0
    assert out[0, 0, 1] == pytest.approx(1000 / 65535 * 2 - 1, abs=1e-6)


def test_match_channels_rules():
    gray = torch.tensor([[[10, 200]]], dtype=torch.uint8)
    assert match_channels(gray, 3).tolist() == [[[10, 200]]] * 3
    red = torch.tensor([[[255]], [[0]], [[0]]], dtype=torch.uint8)
    assert match_channels(red, 1).item() == round(0.299 * 255)  # BT.601 luminance
    white = torch.full((3, 1, 1), 255, dtype=torch.uint8)
    assert match_channels(white, 1).item() == 255
    rgba = torch.tensor([[[1]], [[2]], [[3]], [[0]]], dtype=torch.uint8)
    assert match_channels(rgba, 3).flatten().tolist() == [1, 2, 3]  # alpha dropped
    gray_alpha = torch.tensor([[[7]], [[9]]], dtype=torch.uint8)
    assert match_channels(gray_alpha, 4).flatten().tolist() == [7, 7, 7, 9]
    assert match_channels(gray_alpha, 1).flatten().tolist() == [7]
    wide = torch.tensor([[[65535]], [[65535]], [[65535]]], dtype=torch.uint16)
    assert match_channels(wide, 1).item() == 65535


@pytest.mark.parametrize(("have", "want"), [(3, 4), (1, 4), (3, 2), (5, 3)])
def test_impossible_channel_conversion_names_the_file(have, want):
    image = torch.zeros(have, 2, 2, dtype=torch.uint8)
    with pytest.raises(ValueError, match=rf"photo\.png has {have} channel.*in_channels={want}"):
        match_channels(image, want, name="photo.png", argument="in_channels")


@pytest.mark.parametrize(
    ("preprocess", "train", "size", "expected"),
    [
        ("resize_and_crop", True, (100, 150), (64, 64)),
        ("resize_and_crop", False, (100, 150), (64, 64)),
        ("crop", True, (100, 150), (64, 64)),
        ("crop", False, (100, 150), (64, 64)),
        ("scale_width", True, (100, 60), (133, 80)),  # 80 * 100 / 60 = 133.3, truncated
        ("scale_width", True, (30, 150), (64, 80)),  # at least crop_size tall
        ("scale_width_and_crop", True, (100, 150), (64, 64)),
        ("scale_width_and_crop", False, (100, 150), (64, 64)),
        ("none", True, (100, 150), (96, 160)),  # nearest multiples of 32
        ("none", False, (10, 40), (32, 32)),  # at least one multiple
    ],
)
def test_output_size_per_preprocess(preprocess, train, size, expected):
    transform = PairTransform(preprocess, load_size=80, crop_size=64, train=train, size_multiple=32)
    a, b = transform(_image(*size), _image(*size, seed=1))
    assert tuple(a.shape) == (3, *expected) == tuple(b.shape)
    assert a.dtype == torch.float32 and a.is_contiguous()
    assert float(a.min()) >= -1.0 and float(a.max()) <= 1.0


def test_round_to_multiple():
    assert [round_to_multiple(v, 4) for v in (1, 5, 6, 7, 256)] == [4, 4, 8, 8, 256]


def test_identical_images_stay_identical_under_jitter():
    image = _image(50, 70)
    transform = PairTransform(load_size=72, crop_size=64)
    torch.manual_seed(0)
    flips = set()
    for _ in range(20):
        params = transform.get_params(50, 70)
        a, b = transform.apply([image, image.clone()], params)
        assert torch.equal(a, b)
        flips.add(params.flip)
    assert flips == {True, False}  # both branches were exercised


def test_parameters_are_shared_across_channel_counts():
    # A 1-channel and a 3-channel copy of the same picture go through the unbatched path.
    gray = _image(40, 40, channels=1)
    transform = PairTransform(load_size=48, crop_size=32)
    for seed in range(10):
        a, b = transform(
            gray, gray.expand(3, -1, -1), generator=torch.Generator().manual_seed(seed)
        )
        assert torch.equal(a[0], b[0]) and torch.equal(b[0], b[2])


def test_random_parameters_follow_the_generator():
    transform = PairTransform(load_size=80, crop_size=64)
    draws = [
        transform.get_params(60, 60, generator=torch.Generator().manual_seed(s)) for s in (1, 1)
    ]
    assert draws[0] == draws[1]
    many = {
        transform.get_params(60, 60, generator=torch.Generator().manual_seed(s)) for s in range(20)
    }
    assert len(many) > 10
    assert all(0 <= p.crop[0] <= 16 and 0 <= p.crop[1] <= 16 for p in many)


def test_eval_transform_is_deterministic_and_draws_nothing():
    image = _image(50, 70)
    for preprocess in ("resize_and_crop", "crop", "scale_width_and_crop", "none"):
        transform = PairTransform(preprocess, load_size=48, crop_size=32, train=False)
        state = torch.get_rng_state()
        first = transform(image, image)
        assert torch.equal(torch.get_rng_state(), state)
        assert torch.equal(first[0], transform(image, image)[0])
        assert not transform.get_params(50, 70).flip


def test_eval_crop_is_centred():
    image = torch.arange(10, dtype=torch.uint8).repeat(1, 10, 1)  # column index as value
    (out,) = PairTransform("crop", crop_size=4, train=False)(image)
    assert ((out + 1) * 127.5).round()[0, 0].tolist() == [3, 4, 5, 6]


def test_flip_mirrors_both_images():
    image = torch.arange(8, dtype=torch.uint8).repeat(3, 8, 1)
    transform = PairTransform("crop", crop_size=8)
    params = transform.get_params(8, 8)
    flipped = type(params)(resize=None, crop=None, flip=True)
    a, b = transform.apply([image, image * 2], flipped)
    assert ((a + 1) * 127.5).round()[0, 0].tolist() == list(range(7, -1, -1))
    assert ((b + 1) * 127.5).round()[0, 0].tolist() == list(range(14, -1, -2))


def test_crop_smaller_than_crop_size_suggests_a_fix():
    with pytest.raises(ValueError, match=r"a\.png is 20x30.*smaller than crop_size=32.*resize"):
        PairTransform("crop", crop_size=32)(_image(30, 20), name="a.png")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"preprocess": "zoom"}, r"preprocess='zoom'.*resize_and_crop"),
        ({"load_size": 0}, "load_size=0 must be a positive integer"),
        ({"crop_size": -1}, "crop_size=-1 must be a positive integer"),
        ({"size_multiple": 2.5}, "size_multiple=2.5"),
        ({"load_size": 100, "crop_size": 128}, "load_size=100 is smaller than crop_size=128"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        PairTransform(**kwargs)


def test_pair_sizes_must_match():
    with pytest.raises(ValueError, match="same height and width"):
        PairTransform()(_image(10, 10), _image(10, 12))
