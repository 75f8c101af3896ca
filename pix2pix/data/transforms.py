"""Joint preprocessing of image pairs: resize, random crop, flip and scaling to [-1, 1].

The two images of a pair get *one* draw of the random parameters, so a pixel of the source and
the pixel at the same place in the target stay aligned (the paper's "random jitter", section
6.2: resize to 286x286, random crop back to 256x256, mirror). The work happens on ``uint8``
tensors (the fast antialiased bicubic kernel of ``F.interpolate``, channels-last) and the
conversion to float comes last, on the cropped pixels only; 16-bit images are resized in
float32 so they keep their full range.

``preprocess`` follows the reference implementation's ``--preprocess`` option:

| `preprocess` | `train=True` | `train=False` |
|---|---|---|
| `"resize_and_crop"` | resize to load_size², random crop_size² crop | resize to crop_size² |
| `"crop"` | random crop_size² crop | center crop_size² crop |
| `"scale_width"` | width to load_size, height by aspect (at least crop_size) | same as training |
| `"scale_width_and_crop"` | scale_width, random crop_size² crop | width to crop_size, centre crop |
| `"none"` | each side resized to the nearest multiple of size_multiple | same as training |

With ``flip=True`` and ``train=True`` both images are mirrored left-right with probability 0.5.
``train=False`` never flips and draws no random numbers. Resizing is bicubic with antialiasing
(Pillow's filter, as the reference's ``transforms.Resize(..., BICUBIC)`` on PIL images).

Two resize backends (``resize=``, :data:`RESIZE_CHOICES`):

* ``"torch"`` (default, fast): ``F.interpolate(..., mode="bicubic", antialias=True)`` on uint8,
  then ``x * 2/255 - 1``. Against the canonical PIL + torchvision pipeline with the same crop
  offsets and flip it differs by at most 1 grey level on ~0.3% of the resized pixels (2 after a
  whole jitter: the two kernels round differently, and a crop can catch both differences), and
  by ~1.2e-7 from the ``ToTensor``-then-``Normalize`` arithmetic alone. It is what makes the
  loader about twice as fast as the reference's.
* ``"pil"`` (pixel-exact): Pillow's ``Image.resize(..., BICUBIC)`` (what
  ``torchvision.transforms.Resize`` calls on a PIL image), the same crop and flip, and
  ``x / 255`` then ``(x - 0.5) / 0.5`` in float32 (``ToTensor`` then ``Normalize``): equal, bit
  for bit, to the canonical pipeline. 8-bit images only; slower (see docs/src/results.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from pix2pix._checks import check_choice, check_positive_int
from pix2pix.constants import LUMA_WEIGHTS, PREPROCESS_CHOICES

_CHANNEL_NAMES = {1: "gray", 2: "gray + alpha", 3: "RGB", 4: "RGBA"}

#: Resize backends of :class:`PairTransform`: fast torch kernels, or Pillow's (pixel-exact).
RESIZE_CHOICES = ("torch", "pil")
_PIL_MODES = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}


def max_value(image: torch.Tensor) -> float:
    """The value that means "white" for ``image``'s dtype: 255 for uint8, 65535 for uint16."""
    if image.dtype == torch.uint8:
        return 255.0
    if image.dtype == torch.uint16:
        return 65535.0
    raise ValueError(f"Expected a uint8 or uint16 image tensor, got {image.dtype}.")


def match_channels(
    image: torch.Tensor, channels: int, *, name: str = "image", argument: str = "channels"
) -> torch.Tensor:
    """Give a ``[C, H, W]`` image ``channels`` channels.

    The rule: gray -> RGB replicates the gray channel; RGB -> gray is the ITU-R BT.601 luminance
    ``0.299 R + 0.587 G + 0.114 B`` (as Pillow's ``convert("L")``); alpha is dropped when the
    target has none (as the reference's ``convert("RGB")`` does; it is not composited); gray +
    alpha -> RGBA replicates the gray. Adding an alpha channel that is not there, or any other
    count, is an error.

    Args:
        image: ``uint8`` or ``uint16`` pixels, channels first.
        channels: The channel count wanted.
        name: What to call the image in errors (its file path).
        argument: The argument that asked for ``channels``, quoted in errors.

    Returns:
        A tensor with ``channels`` channels (possibly a view of ``image``).

    Raises:
        ValueError: If the conversion is impossible, naming the image and both counts.

    Examples:
        >>> match_channels(torch.zeros(1, 4, 4, dtype=torch.uint8), 3).shape
        torch.Size([3, 4, 4])
    """
    have = image.shape[0]
    if have == channels:
        return image
    if channels == 1 and have == 2:
        return image[:1]
    if channels == 1 and have in (3, 4):
        weights = torch.tensor(LUMA_WEIGHTS, dtype=torch.float32).view(3, 1, 1)
        luma = (image[:3].to(torch.float32) * weights).sum(dim=0, keepdim=True)
        return luma.round_().clamp_(0, max_value(image)).to(image.dtype)
    if channels == 3 and have in (1, 2):
        return image[:1].expand(3, -1, -1)
    if channels == 3 and have == 4:
        return image[:3]
    if channels == 4 and have == 2:
        return torch.cat([image[:1].expand(3, -1, -1), image[1:]])
    kind = _CHANNEL_NAMES.get(have, "unusual")
    raise ValueError(
        f"{name} has {have} channel(s) ({kind}) but {argument}={channels}. Set {argument}={have} "
        "or convert the images; pix2pix converts gray <-> RGB and drops alpha, but cannot invent "
        "an alpha channel or other channel counts."
    )


def resize(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bicubic, antialiased resize of ``[C, H, W]`` or ``[N, C, H, W]`` pixels to ``size``.

    ``uint8`` stays ``uint8`` (rounded and clamped by the kernel, within 2 levels of Pillow's
    BICUBIC); ``uint16`` is resized in float32 and rounded back; float stays float.

    Examples:
        >>> resize(torch.zeros(3, 256, 256, dtype=torch.uint8), (286, 286)).shape
        torch.Size([3, 286, 286])
    """
    batch = image if image.dim() == 4 else image.unsqueeze(0)
    # The uint8 antialiased kernel is about twice as fast on channels-last input.
    batch = batch.contiguous(memory_format=torch.channels_last)
    if batch.dtype == torch.uint8:
        out = F.interpolate(batch, size=size, mode="bicubic", antialias=True, align_corners=False)
    else:
        out = F.interpolate(
            batch.to(torch.float32), size=size, mode="bicubic", antialias=True, align_corners=False
        )
        if batch.dtype == torch.uint16:
            out = out.round_().clamp_(0, 65535).to(torch.uint16)
    return out if image.dim() == 4 else out.squeeze(0)


def pil_resize(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Pillow's bicubic resize of ``uint8`` ``[C, H, W]`` or ``[N, C, H, W]`` pixels to ``size``.

    Exactly ``Image.resize((width, height), Image.BICUBIC)``, which the canonical pipeline's
    ``transforms.Resize(size, BICUBIC)`` runs on PIL images.

    Raises:
        ValueError: For images that are not ``uint8`` (Pillow has no 16-bit colour resize).

    Examples:
        >>> pil_resize(torch.zeros(3, 256, 256, dtype=torch.uint8), (286, 286)).shape
        torch.Size([3, 286, 286])
    """
    from PIL import Image

    if image.dtype != torch.uint8:
        raise ValueError(
            f"resize='pil' handles 8-bit images only; got {image.dtype}. Use resize='torch' for "
            "16-bit images."
        )
    batch = image if image.dim() == 4 else image.unsqueeze(0)
    height, width = size
    out = []
    for item in batch:
        array = item.permute(1, 2, 0).contiguous().numpy()
        if array.shape[2] == 1:
            array = array[:, :, 0]
        pil = Image.fromarray(array, mode=_PIL_MODES[item.shape[0]])
        resized = np.asarray(pil.resize((width, height), Image.Resampling.BICUBIC))
        tensor = torch.from_numpy(resized.copy())
        out.append(tensor.unsqueeze(0) if tensor.dim() == 2 else tensor.permute(2, 0, 1))
    result = torch.stack(out)
    return result if image.dim() == 4 else result[0]


def to_float_exact(image: torch.Tensor) -> torch.Tensor:
    """``uint8`` pixels to float32 in [-1, 1] as ``ToTensor()`` then ``Normalize(0.5, 0.5)``.

    ``x / 255``, then ``(x - 0.5) / 0.5``, each rounded to float32 as torchvision does (within
    ~1.2e-7 of :func:`to_float`'s single multiply-add).

    Examples:
        >>> to_float_exact(torch.tensor([[[0, 255]]], dtype=torch.uint8))
        tensor([[[-1.,  1.]]])
    """
    return image.contiguous().to(torch.float32).div(max_value(image)).sub(0.5).div(0.5)


def to_float(image: torch.Tensor) -> torch.Tensor:
    """Scale ``uint8``/``uint16`` pixels to a new contiguous float32 tensor in [-1, 1].

    Examples:
        >>> to_float(torch.tensor([[[0, 255]]], dtype=torch.uint8))
        tensor([[[-1.,  1.]]])
    """
    out = torch.empty(image.shape, dtype=torch.float32)
    out.copy_(image)  # one pass for the dtype change and the layout change
    return out.mul_(2.0 / max_value(image)).sub_(1.0)


def scale_width_size(
    height: int, width: int, target_width: int, min_height: int
) -> tuple[int, int]:
    """The reference's ``__scale_width``: width to ``target_width``, height by aspect ratio.

    The height is at least ``min_height`` (the crop size) and truncated, as the reference does.
    """
    if width == target_width and height >= min_height:
        return height, width
    return int(max(target_width * height / width, min_height)), target_width


def round_to_multiple(value: int, multiple: int) -> int:
    """The nearest multiple of ``multiple`` (at least ``multiple``); halves round to even."""
    return max(multiple, round(value / multiple) * multiple)


@dataclass(frozen=True)
class JitterParams:
    """One draw of the preprocessing parameters, applied identically to both images of a pair.

    Attributes:
        resize: ``(height, width)`` to resize to first, or ``None`` to keep the size.
        crop: ``(top, left, height, width)`` of the crop after resizing, or ``None``.
        flip: Whether to mirror left-right last.

    Examples:
        >>> params = JitterParams(resize=(286, 286), crop=(10, 20, 256, 256), flip=True)
        >>> params.flip
        True
    """

    resize: tuple[int, int] | None
    crop: tuple[int, int, int, int] | None
    flip: bool


class PairTransform:
    """The joint preprocessing of a pair (see the module docstring for each ``preprocess``).

    Random numbers come from ``torch`` (the global generator unless one is passed), so a
    ``DataLoader`` with a seeded ``generator`` reproduces the same jitter in every worker.

    Args:
        preprocess: One of :data:`PREPROCESS_CHOICES`.
        load_size: Size to resize to before cropping (the paper's 286).
        crop_size: Size of the crop (the paper's 256).
        flip: Mirror both images with probability 0.5 when training.
        train: ``False`` gives the deterministic evaluation transform.
        size_multiple: For ``"none"``: sides are rounded to a multiple of this (the generator's
            ``size_multiple``, 256 for the paper's U-Net).
        resize: ``"torch"`` (fast, default) or ``"pil"``: Pillow's resize and torchvision's
            arithmetic, equal bit for bit to the canonical pipeline (8-bit images only).

    Examples:
        >>> t = PairTransform(load_size=72, crop_size=64)
        >>> image = torch.zeros(3, 50, 50, dtype=torch.uint8)
        >>> a, b = t(image, image)
        >>> a.shape, float(a.min())
        (torch.Size([3, 64, 64]), -1.0)
    """

    def __init__(
        self,
        preprocess: str = "resize_and_crop",
        *,
        load_size: int = 286,
        crop_size: int = 256,
        flip: bool = True,
        train: bool = True,
        size_multiple: int = 256,
        resize: str = "torch",
    ) -> None:
        check_choice("preprocess", preprocess, PREPROCESS_CHOICES)
        check_choice("resize", resize, RESIZE_CHOICES)
        check_positive_int(load_size=load_size, crop_size=crop_size, size_multiple=size_multiple)
        if preprocess in ("resize_and_crop", "scale_width_and_crop") and load_size < crop_size:
            raise ValueError(
                f"load_size={load_size} is smaller than crop_size={crop_size}; with "
                f"preprocess={preprocess!r} the image is resized to load_size and then cropped, "
                "so load_size must be >= crop_size."
            )
        self.preprocess = preprocess
        self.load_size = load_size
        self.crop_size = crop_size
        self.flip = bool(flip)
        self.train = bool(train)
        self.size_multiple = size_multiple
        self.resize = resize

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(preprocess={self.preprocess!r}, load_size={self.load_size}, "
            f"crop_size={self.crop_size}, flip={self.flip}, train={self.train}, "
            f"size_multiple={self.size_multiple}"
            + ("" if self.resize == "torch" else f", resize={self.resize!r}")
            + ")"
        )

    def _random_crop(
        self, height: int, width: int, generator: torch.Generator | None
    ) -> tuple[int, int, int, int]:
        size = self.crop_size
        top = int(torch.randint(0, height - size + 1, (1,), generator=generator))
        left = int(torch.randint(0, width - size + 1, (1,), generator=generator))
        return top, left, size, size

    def _center_crop(self, height: int, width: int) -> tuple[int, int, int, int]:
        size = self.crop_size
        return (height - size) // 2, (width - size) // 2, size, size

    def get_params(
        self,
        height: int,
        width: int,
        *,
        generator: torch.Generator | None = None,
        name: str = "image",
    ) -> JitterParams:
        """Draw the parameters for an image pair of size ``height`` x ``width``.

        Args:
            height: Height of the images.
            width: Width of the images.
            generator: Torch generator to draw from (default: the global one).
            name: What to call the image in errors (its file path).

        Raises:
            ValueError: With ``"crop"``, if the image is smaller than ``crop_size``.
        """
        size, crop_size, mode = (height, width), self.crop_size, self.preprocess
        resize_to: tuple[int, int] | None = None
        crop = None
        if mode == "resize_and_crop":
            if self.train:
                resize_to = (self.load_size, self.load_size)
                crop = self._random_crop(self.load_size, self.load_size, generator)
            else:
                resize_to = (crop_size, crop_size)
        elif mode == "crop":
            if height < crop_size or width < crop_size:
                raise ValueError(
                    f"{name} is {width}x{height} (width x height), smaller than "
                    f"crop_size={crop_size} with preprocess='crop'. Use a smaller crop_size, or "
                    "preprocess='resize_and_crop' (or 'scale_width_and_crop') to resize first."
                )
            if self.train:
                crop = self._random_crop(height, width, generator)
            else:
                crop = self._center_crop(height, width)
        elif mode == "scale_width":
            resize_to = scale_width_size(height, width, self.load_size, crop_size)
        elif mode == "scale_width_and_crop":
            if self.train:
                resize_to = scale_width_size(height, width, self.load_size, crop_size)
                crop = self._random_crop(*resize_to, generator)
            else:
                resize_to = scale_width_size(height, width, crop_size, crop_size)
                crop = self._center_crop(*resize_to)
        else:  # "none"
            resize_to = (
                round_to_multiple(height, self.size_multiple),
                round_to_multiple(width, self.size_multiple),
            )
        flip = False
        if self.train and self.flip:
            flip = bool(torch.rand((), generator=generator) < 0.5)
        return JitterParams(resize=None if resize_to == size else resize_to, crop=crop, flip=flip)

    def apply(self, images: Sequence[torch.Tensor], params: JitterParams) -> list[torch.Tensor]:
        """Apply ``params`` to each ``[C, H, W]`` ``uint8``/``uint16`` image; float32 in [-1, 1]."""
        if self.resize == "pil":
            return [self._apply_exact(image, params) for image in images]
        if len(images) > 1 and all(
            image.shape == images[0].shape and image.dtype == images[0].dtype for image in images
        ):
            # Same shape: stack as NHWC (= channels-last NCHW, the layout the resize kernel
            # likes) and transform both images in one pass.
            batch = torch.stack([image.permute(1, 2, 0) for image in images]).permute(0, 3, 1, 2)
            return list(self._apply_batch(batch, params).unbind(0))
        return [self._apply_batch(image.unsqueeze(0), params)[0] for image in images]

    @staticmethod
    def _apply_exact(image: torch.Tensor, params: JitterParams) -> torch.Tensor:
        # the canonical order: PIL resize, crop, flip, ToTensor, Normalize
        if params.resize is not None:
            image = pil_resize(image, params.resize)
        if params.crop is not None:
            top, left, height, width = params.crop
            image = image[:, top : top + height, left : left + width]
        if params.flip:
            image = image.flip(-1)
        return to_float_exact(image)

    @staticmethod
    def _apply_batch(batch: torch.Tensor, params: JitterParams) -> torch.Tensor:
        if params.resize is not None:
            batch = resize(batch, params.resize)
        if params.crop is not None:
            top, left, height, width = params.crop
            batch = batch[:, :, top : top + height, left : left + width]
        if params.flip:
            batch = batch.flip(-1)
        return to_float(batch)

    def __call__(
        self,
        *images: torch.Tensor,
        generator: torch.Generator | None = None,
        name: str = "image",
    ) -> tuple[torch.Tensor, ...]:
        """Draw one set of parameters and apply it to every image (all the same height/width).

        Raises:
            ValueError: If the images differ in height or width, or are too small to crop.
        """
        sizes = {tuple(image.shape[-2:]) for image in images}
        if len(sizes) != 1:
            raise ValueError(
                f"{name}: the images of a pair must have the same height and width; got "
                f"{sorted(sizes)}."
            )
        height, width = images[0].shape[-2:]
        params = self.get_params(height, width, generator=generator, name=name)
        return tuple(self.apply(images, params))
