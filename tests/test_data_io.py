"""Image reading and writing: bit depth, channels, EXIF orientation, file listing, errors."""

import numpy as np
import pytest
from PIL import Image

from pix2pix.data.io import (
    is_image_file,
    list_images,
    natural_sort_key,
    pil_to_array,
    read_image,
    write_image,
)

EXIF_ORIENTATION = 0x0112


def _gradient(height, width, channels, dtype=np.uint8):
    top = np.iinfo(dtype).max
    ramp = np.linspace(0, top, height * width * channels).reshape(height, width, channels)
    return ramp.round().astype(dtype)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("a.jpg", True),
        ("a.JPG", True),
        ("a.JpEg", True),
        ("a.png", True),
        ("a.BMP", True),
        ("a.tif", True),
        ("a.TIFF", True),
        ("a.webp", True),
        ("a.gif", False),
        ("a.txt", False),
        ("jpg", False),
    ],
)
def test_is_image_file_accepts_the_extensions_in_any_case(name, expected):
    assert is_image_file(name) is expected


def test_natural_sort_orders_numbers_by_value():
    names = ["10.jpg", "2.jpg", "1.jpg", "b.png", "a10.png", "a9.png"]
    assert sorted(names, key=natural_sort_key) == [
        "1.jpg",
        "2.jpg",
        "10.jpg",
        "a9.png",
        "a10.png",
        "b.png",
    ]


def test_list_images_is_natural_sorted_flat_and_skips_others(tmp_path):
    for name in ["10.png", "2.PNG", "1.jpeg", ".hidden.png", "notes.txt"]:
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "0.png").write_bytes(b"")
    assert [p.name for p in list_images(tmp_path)] == ["1.jpeg", "2.PNG", "10.png"]


def test_list_images_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope"):
        list_images(tmp_path / "nope")


@pytest.mark.parametrize("channels", [1, 2, 3, 4])
def test_png_round_trip_8bit(tmp_path, channels):
    array = _gradient(6, 9, channels)
    write_image(tmp_path / "x.png", array)
    out = read_image(tmp_path / "x.png")
    assert out.dtype == np.uint8 and out.shape == (6, 9, channels)
    np.testing.assert_array_equal(out, array)
    assert out.flags.writeable


@pytest.mark.parametrize("channels", [1, 2, 3, 4])
def test_16bit_png_keeps_full_range(tmp_path, channels):
    # Pillow reduces 16-bit colour PNGs to 8 bits; read_image must not.
    array = _gradient(5, 7, channels, np.uint16)
    write_image(tmp_path / "x.png", array)
    out = read_image(tmp_path / "x.png")
    assert out.dtype == np.uint16
    np.testing.assert_array_equal(out, array)
    # Real 16-bit precision, not 8-bit values stretched by 257:
    assert out.max() == 65535 and np.any(out % 257 != 0)


def test_16bit_gray_png_written_by_pillow(tmp_path):
    array = np.array([[0, 1000, 40000, 65535]], dtype=np.uint16)
    Image.fromarray(array).save(tmp_path / "g.png")
    out = read_image(tmp_path / "g.png")
    assert out.dtype == np.uint16
    np.testing.assert_array_equal(out[:, :, 0], array)


def test_palette_and_bilevel_images_become_plain_arrays():
    palette = Image.new("P", (3, 2))
    palette.putpalette([255, 0, 0] * 256)
    assert pil_to_array(palette).shape == (2, 3, 3)
    assert pil_to_array(palette)[0, 0].tolist() == [255, 0, 0]
    assert pil_to_array(Image.new("1", (3, 2), 1)).tolist() == [[[255]] * 3] * 2


def test_exif_orientation_is_applied(tmp_path):
    # Stored 40 wide x 20 tall, red left / blue right; orientation 6 means "rotate 90 degrees
    # clockwise to display", so the displayed image is 20 wide x 40 tall, red on top.
    stored = np.zeros((20, 40, 3), np.uint8)
    stored[:, :20] = (255, 0, 0)
    stored[:, 20:] = (0, 0, 255)
    image = Image.fromarray(stored)
    exif = image.getexif()
    exif[EXIF_ORIENTATION] = 6
    image.save(tmp_path / "rotated.jpg", exif=exif, quality=95)
    out = read_image(tmp_path / "rotated.jpg")
    assert out.shape == (40, 20, 3)
    assert out[5, 10, 0] > 200 and out[5, 10, 2] < 60  # top is red
    assert out[35, 10, 2] > 200 and out[35, 10, 0] < 60  # bottom is blue


def test_corrupt_file_error_names_it(tmp_path):
    (tmp_path / "broken.jpg").write_bytes(b"this is not a jpeg")
    with pytest.raises(ValueError, match=r"broken\.jpg.*corrupt"):
        read_image(tmp_path / "broken.jpg")


def test_truncated_file_error_names_it(tmp_path):
    Image.fromarray(_gradient(64, 64, 3)).save(tmp_path / "full.jpg")
    data = (tmp_path / "full.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 3])
    with pytest.raises(ValueError, match=r"cut\.jpg"):
        read_image(tmp_path / "cut.jpg")


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"ghost\.png"):
        read_image(tmp_path / "ghost.png")


def test_write_image_refuses_what_the_format_cannot_hold(tmp_path):
    with pytest.raises(ValueError, match="only be written as PNG"):
        write_image(tmp_path / "x.jpg", np.zeros((4, 4, 3), np.uint16))
    with pytest.raises(ValueError, match="no alpha"):
        write_image(tmp_path / "x.jpg", np.zeros((4, 4, 4), np.uint8))
    with pytest.raises(ValueError, match="1-4 channels"):
        write_image(tmp_path / "x.png", np.zeros((4, 4, 5), np.uint8))
