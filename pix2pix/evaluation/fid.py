"""FID and KID from locally available Inception-v3 weights (nothing is downloaded)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from pix2pix._weights_files import load_weights_file
from pix2pix.inference.images import to_display

#: File name pattern of torchvision's Inception-v3 weights in the torch hub cache.
INCEPTION_WEIGHTS_GLOB = "inception_v3_google-*.pth"


def find_inception_weights(path: str | os.PathLike[str] | None = None) -> Path | None:
    """The Inception-v3 weights to use for FID: ``path``, else torchvision's in the hub cache.

    Nothing is downloaded. Without ``path`` this looks for ``inception_v3_google-*.pth`` in
    ``torch.hub.get_dir()/checkpoints`` (where ``torchvision.models.inception_v3(weights=...)``
    stores them) and returns ``None`` when there is none.

    Raises:
        FileNotFoundError: If ``path`` is given but does not exist.

    Examples:
        >>> find_inception_weights()  # doctest: +SKIP
        PosixPath('/root/.cache/torch/hub/checkpoints/inception_v3_google-0cc3c7bd.pth')
    """
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(
                f"Inception weights not found: {path}. Pass the torchvision inception_v3 state "
                "dict file (inception_v3_google-*.pth), or leave fid_weights unset to skip FID."
            )
        return path
    matches = sorted((Path(torch.hub.get_dir()) / "checkpoints").glob(INCEPTION_WEIGHTS_GLOB))
    return matches[0] if matches else None


class InceptionFeatures(nn.Module):
    """torchvision's Inception-v3 up to its 2048-d average pool (the features FID uses)."""

    def __init__(self, weights: Path) -> None:
        super().__init__()
        from torchvision.models import inception_v3

        net = inception_v3(weights=None, aux_logits=True, init_weights=False)
        what = "torchvision inception_v3 weights"
        state = load_weights_file(
            weights,
            "--fid-weights",
            what,
            "Save the weights with torch.save(inception_v3(...).state_dict(), path).",
        )
        try:
            net.load_state_dict(state)
        except RuntimeError as error:
            first = (str(error).strip().splitlines() or [type(error).__name__])[0]
            raise ValueError(f"{weights} does not hold {what}: {first}") from None
        net.fc = nn.Identity()
        self.net = net.eval().requires_grad_(False)

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        images = to_display(images).to(next(self.net.parameters()).device)
        # the Google weights expect [-1, 1] at 299 px (what transform_input=True produces)
        images = F.interpolate(images, size=(299, 299), mode="bilinear", align_corners=False)
        return self.net(images * 2 - 1).double()


def _check_feature_sets(features_a: torch.Tensor, features_b: torch.Tensor) -> None:
    for name, features in (("features_a", features_a), ("features_b", features_b)):
        if features.dim() != 2 or features.shape[0] < 2:
            raise ValueError(
                f"{name} must be [N, D] with N >= 2; got shape {tuple(features.shape)}."
            )
    if features_a.shape[1] != features_b.shape[1]:
        raise ValueError(f"Feature sizes differ: {features_a.shape[1]} and {features_b.shape[1]}.")


def frechet_distance(features_a: torch.Tensor, features_b: torch.Tensor) -> float:
    """Fréchet distance between Gaussians fitted to two ``[N, D]`` feature sets (FID's formula).

    ``|mu_a - mu_b|^2 + tr(S_a) + tr(S_b) - 2 tr((S_a S_b)^(1/2))``, with unbiased covariances,
    computed in float64 by eigendecomposition (no SciPy).

    Raises:
        ValueError: If the feature sets have other shapes or fewer than two rows.

    Examples:
        >>> a = torch.randn(50, 4, dtype=torch.float64)
        >>> round(frechet_distance(a, a + 1.0), 6)  # same covariance: |shift|^2 = 4
        4.0
    """
    _check_feature_sets(features_a, features_b)
    a, b = features_a.double(), features_b.double()
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = torch.cov(a.T).reshape(a.shape[1], -1), torch.cov(b.T).reshape(b.shape[1], -1)
    # tr((S_a S_b)^(1/2)) = tr((S_a^(1/2) S_b S_a^(1/2))^(1/2)); the latter is symmetric PSD
    values, vectors = torch.linalg.eigh(cov_a)
    root_a = (vectors * values.clamp(min=0).sqrt()) @ vectors.T
    middle = root_a @ cov_b @ root_a
    trace_root = torch.linalg.eigvalsh((middle + middle.T) / 2).clamp(min=0).sqrt().sum()
    distance = (mu_a - mu_b).square().sum() + cov_a.trace() + cov_b.trace() - 2 * trace_root
    return float(distance)


def kernel_inception_distance(features_a: torch.Tensor, features_b: torch.Tensor) -> float:
    """Kernel Inception Distance (Binkowski et al. 2018): the unbiased squared MMD of two sets.

    With the cubic polynomial kernel ``k(x, y) = (x . y / d + 1) ** 3`` (``d`` the feature
    size): ``mean_{i != j} k(a_i, a_j) + mean_{i != j} k(b_i, b_j) - 2 mean_{i, j} k(a_i, b_j)``
    over the whole sets, in float64. Unlike FID it is an unbiased estimate, so it does not
    grow as the number of images shrinks (FID on ~100 images is dominated by that bias); it can
    be slightly negative when the two sets come from one distribution.

    Raises:
        ValueError: If the feature sets have other shapes or fewer than two rows.

    Examples:
        >>> rng = torch.Generator().manual_seed(0)
        >>> a, b = torch.randn(2, 200, 8, dtype=torch.float64, generator=rng)
        >>> abs(kernel_inception_distance(a, b)) < 0.1 < kernel_inception_distance(a, b + 1)
        True
    """
    _check_feature_sets(features_a, features_b)
    a, b = features_a.double(), features_b.double()
    dim = a.shape[1]
    k_aa = (a @ a.T / dim + 1) ** 3
    k_bb = (b @ b.T / dim + 1) ** 3
    k_ab = (a @ b.T / dim + 1) ** 3
    m, n = a.shape[0], b.shape[0]
    same_a = (k_aa.sum() - k_aa.diagonal().sum()) / (m * (m - 1))
    same_b = (k_bb.sum() - k_bb.diagonal().sum()) / (n * (n - 1))
    return float(same_a + same_b - 2 * k_ab.mean())


def fid_entries(
    features: dict[str, list[torch.Tensor]], weights: Path | None, count: int
) -> dict[str, Any]:
    """``fid``/``fid_note`` and ``kid``/``kid_note`` for an evaluation result (same condition)."""
    if weights is None:
        where = Path(torch.hub.get_dir()) / "checkpoints" / INCEPTION_WEIGHTS_GLOB
        note = (
            f"not computed: needs Inception-v3 weights, not found at {where}; pass "
            "fid_weights=PATH (CLI: --fid-weights PATH) with torchvision's inception_v3 "
            "state dict. Nothing is downloaded."
        )
        return {"fid": None, "fid_note": note, "kid": None, "kid_note": note}
    if count < 2:
        return {
            "fid": None,
            "fid_note": "not computed: FID needs at least two pairs.",
            "kid": None,
            "kid_note": "not computed: KID needs at least two pairs.",
        }
    outputs, targets = torch.cat(features["output"]), torch.cat(features["target"])
    value = frechet_distance(outputs, targets)
    return {
        "kid": kernel_inception_distance(outputs, targets),
        "kid_note": (
            "outputs vs targets, the same Inception-v3 pool features as FID; unbiased squared "
            f"MMD with the cubic polynomial kernel over all {count} images (x 1000 is the "
            "usual reporting scale)."
        ),
        "fid": value,
        "fid_note": (
            f"outputs vs targets, torchvision Inception-v3 pool features from {weights}, "
            f"{count} images at 299 px. Not comparable with published FIDs (which use the "
            "TensorFlow Inception graph and tens of thousands of images)."
        ),
    }
