"""LPIPS (Zhang et al. 2018) from local weights: a torchvision backbone and the published heads.

LPIPS, the learned perceptual image patch similarity, is the perceptual distance papers on
paired translation report beside L1/PSNR/SSIM/FID. Both images go through an ImageNet
classifier's convolutional layers; at each of its 5 (SqueezeNet: 7) stages the features are
unit-normalised over channels, their squared difference is weighted per channel by a linear
head (a 1x1 convolution fitted to human judgements of which of two distortions looks closer),
averaged over space, and the stages are summed. 0 for identical images; larger is more
different (about 0.1 to 0.7 for the distortions of the paper's dataset).

This is the formula of the ``lpips`` package (v0.1.4, ``lpips.LPIPS``), computed here:

* inputs in [-1, 1] are shifted and scaled by the package's constants (v0.1 only; v0.0 had
  no scaling, a bug the authors kept for comparability): ``(x - shift) / scale`` with
  ``shift = (-0.030, -0.088, -0.188)`` and ``scale = (0.458, 0.448, 0.450)``, ImageNet's
  mean and standard deviation in [-1, 1] units;
* the backbone is torchvision's ``alexnet`` / ``vgg16`` / ``squeezenet1_1`` ``features``, cut
  after the ReLUs the package taps (AlexNet: relu1-5; VGG-16: relu1_2, 2_2, 3_3, 4_3, 5_3);
* ``d = sum_l mean_hw( w_l . (f_l(x) / |f_l(x)| - f_l(y) / |f_l(y)|)^2 )`` with the norm over
  channels (plus 1e-10) and ``w_l`` the head of stage ``l``.

Nothing is downloaded. The heads (``lin0..4`` of ``weights/v0.1/alex.pth`` ..., a few KB) come
from the ``lpips`` package's files when it is installed (the ``lpips`` extra; it
is not imported) or from a file given; the backbone from torchvision's file in the torch hub
cache (``alexnet-owt-7be5be79.pth`` ..., what ``torchvision.models.alexnet(weights=
"IMAGENET1K_V1")`` stores, and what the package itself loads) or a file given. Both are read
with ``torch.load(weights_only=True)``: a pickle of Python objects is refused unread. With
those files, :func:`lpips_distance` gives the package's numbers (the tests compare them).
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import torch
from torch import nn

from pix2pix._extras import install_command
from pix2pix._weights_files import load_weights_file, sha256_prefix

#: Backbones, as the ``lpips`` package names them.
LPIPS_NETS = ("alex", "vgg", "squeeze")
#: Versions of the heads: 0.1 (the current one, with input scaling) and 0.0 (the first release).
LPIPS_VERSIONS = ("0.1", "0.0")

#: torchvision's weights files of each backbone in ``torch.hub.get_dir()/checkpoints``.
BACKBONE_GLOBS = {
    "alex": "alexnet-owt-*.pth",
    "vgg": "vgg16-*.pth",
    "squeeze": "squeezenet1_1-*.pth",
}
_TORCHVISION = {"alex": "alexnet", "vgg": "vgg16", "squeeze": "squeezenet1_1"}
# where the package cuts torchvision's ``features`` (the end index of each stage's slice)
_STAGE_ENDS = {
    "alex": (2, 5, 8, 10, 12),
    "vgg": (4, 9, 16, 23, 30),
    "squeeze": (2, 5, 8, 10, 11, 12, 13),
}
_CHANNELS = {
    "alex": (64, 192, 384, 256, 256),
    "vgg": (64, 128, 256, 512, 512),
    "squeeze": (64, 128, 256, 384, 384, 512, 512),
}
#: Least height and width each backbone's last stage accepts.
MIN_SIDE = {"alex": 31, "vgg": 16, "squeeze": 17}
# the package's ScalingLayer (v0.1): ImageNet mean and std in [-1, 1] units
_SHIFT = (-0.030, -0.088, -0.188)
_SCALE = (0.458, 0.448, 0.450)
_NORM_EPS = 1e-10  # the package's normalize_tensor


@dataclass(frozen=True)
class LpipsWeights:
    """Where the two parts of an LPIPS network come from.

    Attributes:
        net: ``"alex"``, ``"vgg"`` or ``"squeeze"``.
        backbone: torchvision's state dict of that classifier.
        heads: The linear heads (``lin0.model.1.weight`` ...) as the ``lpips`` package ships
            them.
        version: The heads' version, ``"0.1"`` or ``"0.0"``.
    """

    net: str
    backbone: Path
    heads: Path
    version: str = "0.1"


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name}={value!r} is not supported; choose one of {choices}.")


def package_heads(net: str = "alex", version: str = "0.1") -> Path | None:
    """The installed ``lpips`` package's heads file for ``net``, or ``None`` (not imported)."""
    spec = importlib.util.find_spec("lpips")
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        path = Path(folder) / "weights" / f"v{version}" / f"{net}.pth"
        if path.is_file():
            return path
    return None


def find_lpips_weights(
    net: str = "alex",
    backbone: str | os.PathLike[str] | None = None,
    heads: str | os.PathLike[str] | None = None,
    version: str = "0.1",
) -> LpipsWeights | None:
    """The files for LPIPS: the given ones, else torchvision's in the hub cache and the package's.

    Nothing is downloaded. Without ``backbone`` this looks for torchvision's file of ``net``
    (:data:`BACKBONE_GLOBS`) in ``torch.hub.get_dir()/checkpoints``; without ``heads``, in the
    installed ``lpips`` package. ``None`` when either is missing.

    Raises:
        FileNotFoundError: If ``backbone`` or ``heads`` is given but does not exist.
        ValueError: For an unknown ``net`` or ``version``.

    Examples:
        >>> find_lpips_weights("alex")  # doctest: +SKIP
        LpipsWeights(net='alex', backbone=PosixPath('/root/.cache/torch/hub/checkpoints/alexnet-owt-7be5be79.pth'), heads=PosixPath('.../lpips/weights/v0.1/alex.pth'), version='0.1')
    """  # noqa: E501
    _check_choice("lpips_net", net, LPIPS_NETS)
    _check_choice("lpips_version", version, LPIPS_VERSIONS)
    given = {}
    for name, path, fix in (
        ("backbone", backbone, f"torchvision's {_TORCHVISION[net]} state dict"),
        ("heads", heads, f"the lpips package's weights/v{version}/{net}.pth"),
    ):
        if path is not None:
            if not Path(path).is_file():
                raise FileNotFoundError(
                    f"LPIPS {name} weights not found: {path}. Pass {fix}, or leave it unset "
                    "to look in the usual place."
                )
            given[name] = Path(path)
    found_backbone = given.get("backbone")
    if found_backbone is None:
        matches = sorted((Path(torch.hub.get_dir()) / "checkpoints").glob(BACKBONE_GLOBS[net]))
        found_backbone = matches[0] if matches else None
    found_heads = given.get("heads") or package_heads(net, version)
    if found_backbone is None or found_heads is None:
        return None
    return LpipsWeights(net, found_backbone, found_heads, version)


def missing_note(net: str = "alex", version: str = "0.1") -> str:
    """The one line that says why LPIPS was not computed: what is missing and how to get it."""
    where = Path(torch.hub.get_dir()) / "checkpoints" / BACKBONE_GLOBS[net]
    missing = []
    if not any(where.parent.glob(where.name)):
        missing.append(
            f"torchvision's {_TORCHVISION[net]} weights (looked for {where}; pass "
            "lpips_weights=PATH, CLI --lpips-weights PATH)"
        )
    if package_heads(net, version) is None:
        missing.append(
            f"the LPIPS linear heads ({install_command('lpips')}, or lpips_heads=PATH, CLI "
            "--lpips-heads PATH)"
        )
    return f"not computed: needs {' and '.join(missing)}. Nothing is downloaded."


class LPIPSNetwork(nn.Module):
    """The LPIPS network: a torchvision backbone cut into stages, and a linear head per stage.

    Args:
        net: ``"alex"`` (default, the package's), ``"vgg"`` or ``"squeeze"``.
        weights: The files to load (:func:`find_lpips_weights`). ``None`` leaves the backbone
            randomly initialised and every head weight 1 (the paper's uncalibrated "baseline"
            variant): for tests, never for numbers to report.
        version: The heads' version when ``weights`` is ``None`` (``weights.version`` otherwise).

    Raises:
        ValueError: One line naming the file when a weights file is a pickle of Python objects
            (refused unread) or does not hold the expected tensors.

    Examples:
        >>> _ = torch.manual_seed(0)
        >>> network = LPIPSNetwork("alex")  # random backbone: a smoke test only
        >>> x = torch.rand(2, 3, 64, 64) * 2 - 1
        >>> lpips_distance(x, x, network).tolist()
        [0.0, 0.0]
    """

    shift: torch.Tensor  # the v0.1 input scaling, buffers that follow .to(device)
    scale: torch.Tensor

    def __init__(
        self, net: str = "alex", weights: LpipsWeights | None = None, version: str = "0.1"
    ) -> None:
        super().__init__()
        if weights is not None:
            net, version = weights.net, weights.version
        _check_choice("lpips_net", net, LPIPS_NETS)
        _check_choice("lpips_version", version, LPIPS_VERSIONS)
        import torchvision.models

        build = getattr(torchvision.models, _TORCHVISION[net])
        if weights is None:
            classifier = build(weights=None)
        else:
            # built empty, then given the file's tensors (assign): no initialisation of the
            # ~60-140 M parameters only to overwrite them; keys and shapes are still checked
            with torch.device("meta"):
                classifier = build(weights=None)
            what = f"torchvision {_TORCHVISION[net]} weights"
            state = load_weights_file(
                weights.backbone,
                "--lpips-weights",
                what,
                f"Save them with torch.save(torchvision.models.{_TORCHVISION[net]}(...)"
                ".state_dict(), path).",
            )
            try:
                classifier.load_state_dict(state, assign=True)
            except RuntimeError as error:
                first = (str(error).strip().splitlines() or [type(error).__name__])[0]
                raise ValueError(f"{weights.backbone} does not hold {what}: {first}") from None
        self.net, self.version = net, version
        self.min_side = MIN_SIDE[net]
        features = classifier.features
        starts = (0, *_STAGE_ENDS[net][:-1])
        self.stages = nn.ModuleList(
            nn.Sequential(*features[start:end]) for start, end in zip(starts, _STAGE_ENDS[net])
        )
        heads = [nn.Conv2d(c, 1, 1, bias=False) for c in _CHANNELS[net]]
        self.heads = nn.ModuleList(heads)
        if weights is None:
            for head in heads:
                nn.init.ones_(head.weight)
        else:
            self._load_heads(weights.heads, heads)
        self.register_buffer("shift", torch.tensor(_SHIFT).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("scale", torch.tensor(_SCALE).view(1, 3, 1, 1), persistent=False)
        self.eval().requires_grad_(False)

    def _load_heads(self, path: Path, heads: list[nn.Conv2d]) -> None:
        state = load_weights_file(
            path,
            "--lpips-heads",
            f"LPIPS linear heads for {self.net}",
            f"Use the lpips package's weights/v{self.version}/{self.net}.pth.",
        )
        expected = {f"lin{i}.model.1.weight": head.weight for i, head in enumerate(heads)}
        shapes = {key: tuple(value.shape) for key, value in state.items()}
        wanted = {key: tuple(value.shape) for key, value in expected.items()}
        if shapes != wanted:
            raise ValueError(
                f"{path} does not hold the LPIPS linear heads of this backbone: expected "
                f"{wanted}, found {shapes}. Pass the lpips package's heads for the same net."
            )
        with torch.no_grad():
            for key, weight in expected.items():
                weight.copy_(state[key])

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """LPIPS of each pair of ``[N, 3, H, W]`` images in [-1, 1], ``[N]`` float32."""
        if self.version == "0.1":
            x, y = (x - self.shift) / self.scale, (y - self.shift) / self.scale
        distance = torch.zeros(x.shape[0], device=x.device, dtype=x.dtype)
        for stage, head in zip(self.stages, self.heads):
            x, y = stage(x), stage(y)
            nx = x / (x.square().sum(1, keepdim=True).sqrt() + _NORM_EPS)
            ny = y / (y.square().sum(1, keepdim=True).sqrt() + _NORM_EPS)
            distance = distance + head((nx - ny).square()).mean(dim=(1, 2, 3))
        return distance


def lpips_distance(
    output: torch.Tensor, target: torch.Tensor, network: LPIPSNetwork
) -> torch.Tensor:
    """Per pair: the LPIPS distance between ``output`` and ``target`` (``[N, C, H, W]``), ``[N]``.

    Images are in [-1, 1]; one-channel images are repeated to three, as LPIPS needs RGB.
    Computed on the network's device, without gradients, in float32; returned on the CPU as
    float64. 0 for identical images, larger when they differ more (see the module docstring).

    Raises:
        ValueError: If the shapes differ, an image is not 1 or 3 channels, or an image is
            smaller than the backbone accepts (``network.min_side`` a side).

    Examples:
        >>> network = LPIPSNetwork("squeeze")  # random backbone: a smoke test only
        >>> clean = torch.rand(1, 3, 32, 32) * 2 - 1
        >>> noisy = clean + 0.2 * torch.randn(1, 3, 32, 32)
        >>> bool(lpips_distance(noisy, clean, network) > 0), float(lpips_distance(clean, clean, network))
        (True, 0.0)
    """  # noqa: E501
    if output.shape != target.shape or output.dim() != 4:
        raise ValueError(
            "output and target must be [N, C, H, W] of the same shape; got "
            f"{tuple(output.shape)} and {tuple(target.shape)}."
        )
    if output.shape[1] not in (1, 3):
        raise ValueError(f"LPIPS needs 1 or 3 channels; got {output.shape[1]}.")
    if min(output.shape[-2:]) < network.min_side:
        raise ValueError(
            f"LPIPS with the {network.net} backbone needs images of at least "
            f"{network.min_side} px a side; got {tuple(output.shape[-2:])}."
        )
    device = network.shift.device
    pair = [image.to(device, torch.float32).expand(-1, 3, -1, -1) for image in (output, target)]
    with torch.no_grad():
        return network(*pair).double().cpu()


def describe(weights: LpipsWeights) -> dict[str, Any]:
    """What produced an LPIPS number: backbone, version and files, for the result."""
    try:
        package = metadata.version("lpips")
    except metadata.PackageNotFoundError:
        package = None
    import torchvision

    return {
        "net": weights.net,
        "version": weights.version,
        "backbone": f"torchvision {_TORCHVISION[weights.net]}",
        "backbone_file": str(weights.backbone),
        "backbone_sha256": sha256_prefix(weights.backbone),
        "heads_file": str(weights.heads),
        "heads_sha256": sha256_prefix(weights.heads),
        "lpips_package": package,
        "torchvision": torchvision.__version__,
    }


def lpips_entries(
    values: list[float], weights: LpipsWeights | None, net: str, skipped: str | None = None
) -> dict[str, Any]:
    """``lpips``, ``lpips_std``, ``lpips_note`` and ``lpips_setup`` for an evaluation result."""
    if weights is None:
        note = missing_note(net)
        return {"lpips": None, "lpips_std": None, "lpips_note": note, "lpips_setup": None}
    setup = describe(weights)
    if skipped is not None or not values:
        note = skipped or "not computed: no pairs."
        return {"lpips": None, "lpips_std": None, "lpips_note": note, "lpips_setup": setup}
    series = torch.tensor(values, dtype=torch.float64)
    note = (
        f"outputs vs targets at the evaluated size, LPIPS v{weights.version} with the "
        f"{weights.net} backbone ({setup['backbone']}, {weights.backbone.name}, sha256 "
        f"{setup['backbone_sha256']}) and the linear heads of {weights.heads}; mean over "
        f"{len(values)} images, lower is closer. The same as the lpips package's "
        f"LPIPS(net='{weights.net}', version='{weights.version}') with those weights."
    )
    return {
        "lpips": float(series.mean()),
        "lpips_std": float(series.std()) if len(values) > 1 else 0.0,
        "lpips_note": note,
        "lpips_setup": setup,
    }
