"""pix2pixHD's perceptual loss: L1 between VGG19 features of the output and of the target.

pix2pixHD (Wang et al. 2018, section 3.3, "VGG feature matching loss") and SPADE (``lambda_vgg``)
add this to the generator's loss: both images go through the convolutional layers of an
ImageNet VGG19, and the L1 distances of their activations after ``relu1_1``, ``relu2_1``,
``relu3_1``, ``relu4_1`` and ``relu5_1`` are summed with weights 1/32, 1/16, 1/8, 1/4 and 1
(deeper features, which say more about content than about pixels, count most). Both papers use
a weight of 10 beside their GAN loss.

This is pix2pixHD's ``VGGLoss`` (``models/networks.py``) computed here:

* the backbone is torchvision's ``vgg19`` ``features`` up to ``relu5_1`` (its first 30 layers,
  cut at 2, 7, 12, 21 and 30 as pix2pixHD's ``Vgg19`` slices), frozen;
* images in [-1, 1] go in **as they are**, as in pix2pixHD and SPADE: torchvision's VGG was
  trained on ImageNet-normalised inputs, but [-1, 1] is nearly that up to a factor of about
  2.2 (ImageNet's mean is within 0.19 of 0 in these units), and keeping pix2pixHD's inputs keeps
  its weight of 10 meaning what it means there. ``normalize=True`` feeds the ImageNet
  normalisation instead (for a term of one's own; the trainer's ``lambda_vgg`` uses the
  pix2pixHD form);
* the target's features are a target, computed without a graph.

Nothing is downloaded. The weights are torchvision's file in the torch hub cache
(``vgg19-dcbb9e9d.pth``, 548 MB, what ``torchvision.models.vgg19(weights="IMAGENET1K_V1")``
stores) or a file given, read with ``torch.load(weights_only=True)``: a pickle of Python objects
is refused unread. Only the 13 convolutions up to ``conv5_1`` are kept (12.9 M parameters,
52 MB in float32); a file holding just those (``VGG19Features().state_dict()``) is enough.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from pix2pix._weights_files import load_weights_file

#: File name pattern of torchvision's VGG19 weights in ``torch.hub.get_dir()/checkpoints``.
VGG19_WEIGHTS_GLOB = "vgg19-*.pth"
#: Where torchvision downloads them from.
VGG19_WEIGHTS_URL = "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth"
#: The command that puts them in the torch hub cache.
VGG19_DOWNLOAD_COMMAND = (
    "python -c \"import torchvision; torchvision.models.vgg19(weights='IMAGENET1K_V1')\""
)
#: pix2pixHD's weights of the relu1_1, relu2_1, relu3_1, relu4_1 and relu5_1 features.
LAYER_WEIGHTS = (1.0 / 32, 1.0 / 16, 1.0 / 8, 1.0 / 4, 1.0)
#: Least height and width: relu5_1 comes after four 2x2 poolings.
MIN_SIDE = 16

# VGG19 (configuration "E" of Simonyan and Zisserman) up to conv5_1; "M" is a 2x2 max pooling
_LAYOUT: tuple[int | str, ...] = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M",
                                  512, 512, 512, 512, "M", 512)  # fmt: skip
# the end index (in torchvision's ``features``) of each slice: after relu1_1, ..., relu5_1
_SLICE_ENDS = (2, 7, 12, 21, 30)
# ImageNet's mean and standard deviation, for normalize=True (torchvision's constants)
_MEAN = (0.485, 0.456, 0.406)
_STD = (0.229, 0.224, 0.225)
_WHAT = "torchvision vgg19 weights"
_HOW_TO_SAVE = (
    "Save them with torch.save(torchvision.models.vgg19(weights='IMAGENET1K_V1').state_dict(), "
    "path)."
)


def _layers() -> nn.Sequential:
    """torchvision's ``vgg19().features[:30]``, with its indices (``features.28.weight``)."""
    layers: list[nn.Module] = []
    channels = 3
    for item in _LAYOUT:
        if item == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            assert isinstance(item, int)
            layers += [nn.Conv2d(channels, item, kernel_size=3, padding=1), nn.ReLU(inplace=True)]
            channels = item
    return nn.Sequential(*layers)


def find_vgg19_weights(path: str | os.PathLike[str] | None = None) -> Path | None:
    """The VGG19 weights to use: ``path``, else torchvision's file in the torch hub cache.

    Nothing is downloaded. Without ``path`` this looks for :data:`VGG19_WEIGHTS_GLOB` in
    ``torch.hub.get_dir()/checkpoints``; ``None`` when there is none.

    Raises:
        FileNotFoundError: If ``path`` is given and is not a file (one line).

    Examples:
        >>> find_vgg19_weights()  # doctest: +SKIP
        PosixPath('/root/.cache/torch/hub/checkpoints/vgg19-dcbb9e9d.pth')
    """
    if path is not None:
        if not Path(path).is_file():
            raise FileNotFoundError(
                f"VGG19 weights not found: {path}. Pass torchvision's vgg19 state dict file "
                f"(vgg19-dcbb9e9d.pth from {VGG19_WEIGHTS_URL}), or leave vgg_weights unset to "
                "use the one in torch's hub cache."
            )
        return Path(path)
    matches = sorted((Path(torch.hub.get_dir()) / "checkpoints").glob(VGG19_WEIGHTS_GLOB))
    return matches[0] if matches else None


def missing_weights_message() -> str:
    """The one line that says the VGG19 weights are missing: where it looked, how to get them."""
    where = Path(torch.hub.get_dir()) / "checkpoints" / VGG19_WEIGHTS_GLOB
    return (
        f"The VGG perceptual loss (lambda_vgg) needs torchvision's VGG19 weights (548 MB), not "
        f"found at {where}; download them once with {VGG19_DOWNLOAD_COMMAND} (or from "
        f"{VGG19_WEIGHTS_URL}), or pass vgg_weights=PATH (CLI --vgg-weights PATH). pix2pix "
        "downloads nothing."
    )


class VGG19Features(nn.Module):
    """VGG19's convolutional layers up to ``relu5_1``, frozen: the five features of the loss.

    Args:
        weights: A file of torchvision's ``vgg19`` state dict (or of just its ``features.0``
            to ``features.28`` tensors). ``None`` leaves the layers randomly initialised: for
            tests and cost measurements, never for training.

    Raises:
        ValueError: One line naming the file when it is a pickle of Python objects (refused
            unread) or does not hold VGG19's tensors.

    Examples:
        >>> network = VGG19Features()  # random weights: a smoke test only
        >>> [tuple(f.shape) for f in network(torch.zeros(1, 3, 32, 32))][::2]
        [(1, 64, 32, 32), (1, 256, 8, 8), (1, 512, 2, 2)]
    """

    def __init__(self, weights: str | os.PathLike[str] | None = None) -> None:
        super().__init__()
        if weights is None:
            self.features = _layers()
        else:
            # built empty, then given the file's tensors: no initialisation only to overwrite it
            with torch.device("meta"):
                self.features = _layers()
            self._load(Path(weights))
        self.eval().requires_grad_(False)

    def _load(self, path: Path) -> None:
        state = load_weights_file(path, "--vgg-weights", _WHAT, _HOW_TO_SAVE)
        wanted = {f"features.{key}": value for key, value in self.features.state_dict().items()}
        found = {}
        for key, param in wanted.items():
            value = state.get(key)
            if value is None or value.shape != param.shape or not value.is_floating_point():
                have = "missing" if value is None else f"{value.dtype} {tuple(value.shape)}"
                raise ValueError(
                    f"{path} does not hold {_WHAT}: {key} is {have}, expected float "
                    f"{tuple(param.shape)}. {_HOW_TO_SAVE}"
                )
            found[key.removeprefix("features.")] = value.float()
        self.features.load_state_dict(found, assign=True)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The activations after relu1_1, relu2_1, relu3_1, relu4_1 and relu5_1 of ``x``."""
        outputs = []
        start = 0
        for end in _SLICE_ENDS:
            for index in range(start, end):
                x = self.features[index](x)
            outputs.append(x)
            start = end
        return outputs


def load_vgg19_features(path: str | os.PathLike[str] | None = None) -> VGG19Features:
    """:class:`VGG19Features` with the weights of ``path``, or of torchvision's cached file.

    Raises:
        FileNotFoundError: One line naming where it looked and how to get the weights, when
            none are found (:func:`missing_weights_message`), or when ``path`` is not a file.
        ValueError: When the file is a pickle or holds other tensors (one line).
    """
    found = find_vgg19_weights(path)
    if found is None:
        raise FileNotFoundError(missing_weights_message())
    return VGG19Features(found)


def _as_rgb(images: torch.Tensor, side: str) -> torch.Tensor:
    if images.dim() != 4 or images.shape[1] not in (1, 3):
        raise ValueError(
            f"The VGG loss needs [N, 1 or 3, H, W] images; {side} is {tuple(images.shape)}."
        )
    if min(images.shape[-2:]) < MIN_SIDE:
        raise ValueError(
            f"The VGG loss needs images of at least {MIN_SIDE} px a side; {side} is "
            f"{tuple(images.shape[-2:])}."
        )
    return images.expand(-1, 3, -1, -1)


def vgg_loss(
    fake: torch.Tensor,
    real: torch.Tensor,
    network: VGG19Features,
    *,
    layer_weights: Sequence[float] = LAYER_WEIGHTS,
    normalize: bool = False,
) -> torch.Tensor:
    """pix2pixHD's VGG loss: ``sum_i w_i * L1(phi_i(fake), phi_i(real))`` over five features.

    Args:
        fake: The generator's outputs ``[N, C, H, W]`` in [-1, 1] (C is 1 or 3; one channel is
            repeated to three), with their graph.
        real: The targets, the same shape; their features are computed without a graph.
        network: The frozen VGG19 (:func:`load_vgg19_features`).
        layer_weights: One weight per feature (pix2pixHD's :data:`LAYER_WEIGHTS`).
        normalize: Feed ImageNet-normalised images, as torchvision's VGG was trained on,
            instead of pix2pixHD's [-1, 1] (see the module docstring).

    Returns:
        A scalar tensor (0 when the images are equal).

    Raises:
        ValueError: For images that are not 1 or 3 channels, smaller than :data:`MIN_SIDE`,
            of different shapes, or a wrong number of ``layer_weights``.

    Examples:
        >>> network = VGG19Features()  # random weights: a smoke test only
        >>> x = torch.rand(1, 3, 32, 32) * 2 - 1
        >>> float(vgg_loss(x, x, network)), bool(vgg_loss(x, x.flip(-1), network) > 0)
        (0.0, True)
    """
    if fake.shape != real.shape:
        raise ValueError(
            f"fake and real must have the same shape; got {tuple(fake.shape)} and "
            f"{tuple(real.shape)}."
        )
    if len(layer_weights) != len(_SLICE_ENDS):
        raise ValueError(
            f"layer_weights={tuple(layer_weights)!r} must hold {len(_SLICE_ENDS)} weights, one "
            "per feature (relu1_1 ... relu5_1)."
        )
    fake, real = _as_rgb(fake, "fake"), _as_rgb(real, "real")
    if normalize:
        mean = torch.tensor(_MEAN, device=fake.device).view(1, 3, 1, 1)
        std = torch.tensor(_STD, device=fake.device).view(1, 3, 1, 1)
        fake, real = ((fake + 1) / 2 - mean) / std, ((real + 1) / 2 - mean) / std
    fake_features = network(fake)
    with torch.no_grad():  # a target: no graph, no memory for one
        real_features = network(real)
    total = torch.zeros((), device=fake.device)
    for weight, fake_feature, real_feature in zip(layer_weights, fake_features, real_features):
        total = total + weight * F.l1_loss(fake_feature, real_feature)
    return total


class VGGLoss(nn.Module):
    """The module twin of :func:`vgg_loss`: holds the network; ``forward`` only delegates.

    Args:
        network: The frozen VGG19 (:func:`load_vgg19_features`); moves with the module.
        layer_weights: One weight per feature (pix2pixHD's :data:`LAYER_WEIGHTS`).
        normalize: ImageNet-normalised inputs instead of pix2pixHD's [-1, 1].

    Examples:
        >>> loss = VGGLoss(VGG19Features())  # random weights: a smoke test only
        >>> x = torch.rand(1, 3, 32, 32) * 2 - 1
        >>> float(loss(x, x))
        0.0
    """

    def __init__(
        self,
        network: VGG19Features,
        *,
        layer_weights: Sequence[float] = LAYER_WEIGHTS,
        normalize: bool = False,
    ) -> None:
        super().__init__()
        self.network = network
        self.layer_weights = tuple(layer_weights)
        self.normalize = normalize

    def forward(self, fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        """``vgg_loss(fake, real, self.network, ...)``."""
        return vgg_loss(
            fake,
            real,
            self.network,
            layer_weights=self.layer_weights,
            normalize=self.normalize,
        )
