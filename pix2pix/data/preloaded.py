"""Opt-in: training pairs decoded and resized once, then only cropped and flipped per item.

The paper's jitter (resize to 286, random 256 crop, mirror) has one deterministic part, the
resize, and a cheap random part. :class:`PreloadedPairs` runs the deterministic part once for
every pair through the dataset's own code path (reading, A|B split, direction, channels, the
same resize and the same conversion to [-1, 1]), keeps the results as two float32 tensors on a
device of your choice, and per item only crops and flips them. The crop and flip are drawn by
the dataset's own :meth:`~pix2pix.data.PairTransform.get_params`, from the same global torch
generator and in the same order as :class:`~pix2pix.data.PairedImageDataset` draws them, and
cropping, mirroring and the elementwise scaling to [-1, 1] commute; so for the same seed the
items are equal, bit for bit, to the file-reading dataset's (``tests/test_data_preloaded.py``).

What it is for: keeping the data pipeline off the critical path of a fast GPU training step at
batch 1 (hundreds of steps per second), where decoding a JPEG and resizing it in the training
process would cost as much as the step. What it costs: memory, ``N x (C_in + C_out) x load² x
4`` bytes (facades: 400 pairs at 286 px, 785 MB), and the time to read every pair once.

Limits: ``preprocess="resize_and_crop"`` with ``train=True`` only (the paper's jitter; the other
modes resize each image to its own size). Items on a CUDA device need ``num_workers=0`` and no
pinned memory: a DataLoader that pins (``pin_memory=True``, as :class:`~pix2pix.trainer.Trainer`
does on a GPU) fails on CUDA tensors with torch's "only dense CPU tensors can be pinned". Drive
:meth:`~pix2pix.trainer.Trainer.training_step` from your own loop there (as
``benchmarks/paper_recipe.py`` does), or keep the pairs on the CPU (``device="cpu"``).
"""

from __future__ import annotations

import copy
from typing import Any, cast

import torch
from torch.utils.data import Dataset, Subset

from pix2pix.data.paired import PairedImageDataset
from pix2pix.data.transforms import PairTransform


def _unwrap(data: Any) -> tuple[PairedImageDataset, list[int]]:
    """The :class:`PairedImageDataset` behind ``data`` and the indices of ``data`` in it."""
    if isinstance(data, Subset) and isinstance(data.dataset, PairedImageDataset):
        return data.dataset, [int(i) for i in data.indices]
    if isinstance(data, PairedImageDataset):
        return data, list(range(len(data)))
    raise ValueError(
        f"PreloadedPairs needs a PairedImageDataset or a Subset of one; got {type(data).__name__}."
    )


class PreloadedPairs(Dataset):
    """A PairedImageDataset's training pairs, resized once and kept in memory, cut per item.

    Items are ``{"source", "target", "path"}`` dicts equal to ``data[i]``'s for the same global
    torch RNG state (the same crop and flip, the same pixels), with the tensors on ``device``.

    Args:
        data: A training :class:`~pix2pix.data.PairedImageDataset` (``train=True``,
            ``preprocess="resize_and_crop"``) or a :class:`torch.utils.data.Subset` of one.
        device: Where the resized pairs live and the items are cut: ``"cpu"`` or a GPU.

    Raises:
        ValueError: For another kind of dataset, another ``preprocess``, or ``train=False``.

    Examples:
        >>> from pix2pix.data import SyntheticPairs
        >>> folder = SyntheticPairs(2, size=40).write("pairs")
        >>> fast = PreloadedPairs(PairedImageDataset(folder, load_size=36, crop_size=32))
        >>> fast.sources.shape, fast[0]["source"].shape
        (torch.Size([2, 3, 36, 36]), torch.Size([3, 32, 32]))
        >>> on_gpu = PreloadedPairs(train, device="cuda")  # doctest: +SKIP
    """

    def __init__(self, data: PairedImageDataset | Subset, *, device: str | torch.device = "cpu"):
        base, indices = _unwrap(data)
        transform = base.transform
        if transform.preprocess != "resize_and_crop" or not transform.train:
            raise ValueError(
                f"PreloadedPairs stores pairs resized to load_size and crops them per item, so "
                f"it needs preprocess='resize_and_crop' with train=True; {base.root} has "
                f"preprocess={transform.preprocess!r}, train={transform.train}. Use the "
                "PairedImageDataset itself for other settings."
            )
        self.transform = transform  # draws each item's crop and flip, as the dataset does
        self.device = torch.device(device)
        self.config: dict[str, Any] = dict(base.config)  # what the model sees (Trainer reads it)
        size = transform.load_size
        # The deterministic part through the dataset's own code: its evaluation transform with
        # crop_size = load_size resizes to load_size and draws nothing.
        resized = copy.copy(base)
        resized.transform = PairTransform(
            "resize_and_crop",
            load_size=size,
            crop_size=size,
            flip=False,
            train=False,
            size_multiple=transform.size_multiple,
            resize=transform.resize,
        )
        self.paths: list[str] = []
        self.sources = torch.empty(0)
        self.targets = torch.empty(0)
        for slot, index in enumerate(indices):
            item = resized[index]
            # every item has the same shape: load_size square, in_channels / out_channels
            source, target = cast(torch.Tensor, item["source"]), cast(torch.Tensor, item["target"])
            if slot == 0:
                self.sources = torch.empty((len(indices), *source.shape), device=self.device)
                self.targets = torch.empty((len(indices), *target.shape), device=self.device)
            self.sources[slot].copy_(source)
            self.targets[slot].copy_(target)
            self.paths.append(str(item["path"]))

    @property
    def load_size(self) -> int:
        return self.transform.load_size

    @property
    def crop_size(self) -> int:
        return self.transform.crop_size

    @property
    def nbytes(self) -> int:
        """Bytes held by the stored pairs."""
        return sum(t.numel() * t.element_size() for t in (self.sources, self.targets))

    def __len__(self) -> int:
        return len(self.paths)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({len(self)} pairs at {self.load_size} px on {self.device}, "
            f"{self.nbytes / 2**20:.0f} MiB, transform={self.transform})"
        )

    def __getitem__(self, index: int) -> dict[str, Any]:
        """The pair at ``index``, randomly cropped to ``crop_size`` and maybe mirrored."""
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} is out of range for {len(self)} pairs")
        index %= len(self)
        size, path = self.load_size, self.paths[index]
        params = self.transform.get_params(size, size, name=path)
        assert params.crop is not None  # resize_and_crop with train=True always crops
        top, left, height, width = params.crop
        out = {}
        for key, stored in (("source", self.sources), ("target", self.targets)):
            crop = stored[index, :, top : top + height, left : left + width]
            # a new tensor either way: an item must not be a view a caller could write through
            out[key] = (
                crop.flip(-1) if params.flip else crop.clone(memory_format=torch.contiguous_format)
            )
        return {**out, "path": path}
