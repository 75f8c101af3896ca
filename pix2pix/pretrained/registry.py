"""The official pretrained generators: plain data, one :class:`PretrainedEntry` per model.

Every fact carries its source in ``sources``; a fact we could not confirm from the canonical
repository (junyanz/pytorch-CycleGAN-and-pix2pix, "the canonical repo" below) is listed in
``inferred``, and the docs say so. No sha256 is recorded: the official server could not be
reached from the machines this was written on, and a hash is only ever recorded from the real
file (at its first download, in the cache manifest; see :mod:`pix2pix.pretrained.download`).

Sources, by short name:

* ``pix2pix-script``: the canonical repo's ``scripts/download_pix2pix_model.sh`` (the model
  names; ``URL=http://efrosgans.eecs.berkeley.edu/pix2pix/models-pytorch/$FILE.pth``).
* ``cyclegan-script``: its ``scripts/download_cyclegan_model.sh`` (read from a fork's unchanged
  copy, Eugeo101/pytorch-CycleGAN-and-pix2pix, as the index lacks the canonical file: the model
  names; ``URL=http://efrosgans.eecs.berkeley.edu/cyclegan/pretrained_models/$FILE.pth``).
* ``pix2pix-model``: its ``models/pix2pix_model.py`` (pix2pix sets ``netG='unet_256'``,
  ``norm='batch'``; dropout is on unless ``--no_dropout``).
* ``readme``: its ``README.md`` ("Apply a pre-trained model": facades is tested with
  ``--direction BtoA`` "as Facades dataset's A to B direction is photos to labels"; CycleGAN
  models are tested with ``--model test --no_dropout``; neither command passes ``--eval``).
* ``test``: its ``test.py`` and ``models/base_model.py``: the networks are put in eval mode only
  with ``--eval``; otherwise they run as built (train mode): dropout on and batch norm with the
  statistics of the test batch, whose size ``test.py`` fixes to 1. The paper says the same
  (section 3.3: "we apply dropout at test time, and we apply batch normalization using the
  statistics of the test batch"), and the author confirms the default is stochastic (the
  canonical repo's issue #835).
* ``bicyclegan``: junyanz/BicycleGAN (same authors), which downloads the same archives
  (``datasets/download_dataset.sh``: ``.../pix2pix/datasets/$FILE.tar.gz``) and runs them with a
  stated direction: ``scripts/test_maps.sh`` its map -> aerial model with ``DIRECTION='BtoA'``
  (so ``maps``' A is the aerial photo), ``scripts/test_edges2shoes.sh`` and
  ``train_edges2shoes.sh`` with ``'AtoB'`` (edges -> shoes), ``scripts/test_night2day.sh`` with
  ``'AtoB'`` (night -> day). This confirms the datasets' sides; each model's direction follows
  from its name.
* ``options``: its ``options/base_options.py`` defaults ``--load_size 286 --crop_size 256``,
  ``--input_nc 3 --output_nc 3``, ``--ngf 64``, ``--netG resnet_9blocks``, ``--norm instance``
  (the model's own options override netG and norm for pix2pix). Whether the published files
  were trained with these defaults is not stated; the converter checks the architecture from
  the weights themselves before anything is cached.
* ``data``: images are normalised with mean 0.5 and std 0.5 per channel, i.e. to [-1, 1], and
  the generators end in ``tanh`` (the canonical ``data/base_dataset.py`` and ``networks.py``, the
  convention this library's converter is tested against).
* ``cmp``: the CMP Facade Database (https://cmp.felk.cvut.cz/~tylecr1/facade/): 12 classes
  (facade, molding, cornice, pillar, window, door, sill, blind, balcony, shop, deco,
  background), as listed on its page and in its dataset cards.
* ``measured``: :mod:`pix2pix.palettes`: the label colours measured on the label halves of the
  facades archive's training images.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pix2pix.palettes import CMP_FACADE_COLOURS
from pix2pix.pretrained.cache import base_url, cyclegan_base_url

PIX2PIX_CITATION = (
    "Isola, Zhu, Zhou, Efros. Image-to-Image Translation with Conditional Adversarial "
    "Networks. CVPR 2017. https://arxiv.org/abs/1611.07004"
)
CYCLEGAN_CITATION = (
    "Zhu, Park, Isola, Efros. Unpaired Image-to-Image Translation using Cycle-Consistent "
    "Adversarial Networks. ICCV 2017. https://arxiv.org/abs/1703.10593"
)
LICENSE_NOTE = (
    "Weights published by the authors of the canonical repo with its code (BSD-style license); "
    "no separate license for the weights is stated, and the training data keep their own terms "
    "(cite the dataset too). Not legal advice: check before commercial use."
)


@dataclass(frozen=True)
class PaletteClass:
    """One class of a label map: its name and the RGB colour that encodes it.

    Examples:
        >>> PaletteClass("window", (1, 128, 254)).color
        (1, 128, 254)
    """

    name: str
    color: tuple[int, int, int]


# The CMP facade classes in the order of the database's label indices (1 = background ...
# 12 = shop), in the colours of the pix2pix facades label maps: rows 5c of MATLAB's jet(64),
# measured on the label halves of facades/train (see pix2pix.palettes for how). Names: source
# ``cmp``.
CMP_FACADE_PALETTE: tuple[PaletteClass, ...] = tuple(
    PaletteClass(name, colour) for name, colour in CMP_FACADE_COLOURS
)

UNET_256: Mapping[str, Any] = {
    "model_type": "UNetGenerator",
    "in_channels": 3,
    "out_channels": 3,
    "base_channels": 64,
    "num_downs": 8,
    "norm": "batch",
    "dropout": 0.5,
}
RESNET_9: Mapping[str, Any] = {
    "model_type": "ResNetGenerator",
    "in_channels": 3,
    "out_channels": 3,
    "base_channels": 64,
    "n_blocks": 9,
    "norm": "instance",
    "dropout": 0.0,
}


@dataclass(frozen=True)
class PretrainedEntry:
    """A pretrained generator: where it is, what it loads as, what it expects.

    Examples:
        >>> from pix2pix.pretrained import get_pretrained
        >>> get_pretrained("facades_label2photo").kind
        'pix2pix'

    Attributes:
        name: The registry name (what ``resolve_model`` and ``pix2pix models`` take).
        kind: ``"pix2pix"`` (paired, U-Net) or ``"cyclegan"`` (unpaired, ResNet).
        task: What it translates, in words (``"label map -> photo"``).
        architecture: Our model config it must convert into (``model_type`` and constructor
            arguments); the download is refused if it converts into anything else.
        url_template: ``{base}`` (``PIX2PIX_DOWNLOAD_URL``), ``{cyclegan_base}``
            (``PIX2PIX_CYCLEGAN_URL``) and ``{file}`` are filled in.
        file: The file's name on the server, without ``.pth`` (default: ``name``).
        dataset: The dataset it was trained on (a ``pix2pix download`` name where there is one).
        direction: ``"AtoB"``/``"BtoA"``: which half of the dataset's aligned ``A|B`` images is
            the input; ``None`` for unpaired (CycleGAN) data.
        crop_size: The input size it was trained at (square).
        load_size: The resize before the random crop in training.
        value_range: Input and output value range.
        palette: For label-map inputs, the classes and their colours.
        test_mode: The mode its authors ran it in (:mod:`pix2pix.inference.modes`): ``"paper"``
            (dropout on, each image's own batch statistics) or ``"eval"``.
        citation: What to cite.
        license: The license note.
        sha256: The expected sha256 of the file, only where computed from the real file.
        size: The expected size in bytes, likewise.
        sources: For each fact (field name), where it comes from.
        inferred: The fields whose values are not confirmed by a source.
    """

    name: str
    kind: str
    task: str
    architecture: Mapping[str, Any]
    url_template: str
    file: str | None = None
    dataset: str | None = None
    direction: str | None = None
    crop_size: int = 256
    load_size: int = 286
    value_range: tuple[float, float] = (-1.0, 1.0)
    palette: tuple[PaletteClass, ...] | None = None
    test_mode: str = "paper"
    citation: str = PIX2PIX_CITATION
    license: str = LICENSE_NOTE
    sha256: str | None = None
    size: int | None = None
    sources: Mapping[str, str] = field(default_factory=dict)
    inferred: tuple[str, ...] = ()

    @property
    def in_channels(self) -> int:
        """Channels of the input image."""
        return int(self.architecture.get("in_channels", 3))

    @property
    def out_channels(self) -> int:
        """Channels of the output image."""
        return int(self.architecture.get("out_channels", 3))

    def url(self) -> str:
        """The download URL, with the base URLs of the environment filled in."""
        return self.url_template.format(
            base=base_url(), cyclegan_base=cyclegan_base_url(), file=self.file or self.name
        )

    def inference(self) -> dict[str, Any]:
        """The ``inference`` settings saved with the converted model (JSON values).

        :class:`~pix2pix.Translator` and ``pix2pix translate`` read the direction and sizes from
        them, so a registry model needs no flags; the rest documents the model in its card.
        """
        settings: dict[str, Any] = {
            "preprocess": "resize_and_crop",
            "load_size": self.load_size,
            "crop_size": self.crop_size,
            "in_channels": self.in_channels,
            "out_channels": self.out_channels,
            "value_range": list(self.value_range),
            "test_mode": self.test_mode,
            "pretrained": self.name,
            "kind": self.kind,
            "task": self.task,
            "source_url": self.url(),
            "citation": self.citation,
            "license_note": self.license,
        }
        if self.direction is not None:
            settings["direction"] = self.direction
        if self.dataset is not None:
            settings["dataset"] = self.dataset
        if self.palette is not None:
            settings["palette"] = [{"name": c.name, "color": list(c.color)} for c in self.palette]
        if self.inferred:
            settings["inferred"] = list(self.inferred)
        return settings


_PIX2PIX_URL = "{base}/models-pytorch/{file}.pth"
_CYCLEGAN_URL = "{cyclegan_base}/pretrained_models/{file}.pth"

_PIX2PIX_SOURCES = {
    "name": "pix2pix-script",
    "url_template": "pix2pix-script",
    "architecture": "pix2pix-model (unet_256, batch norm, dropout); 3 -> 3 channels and 64 base "
    "channels are the canonical defaults (options)",
    "crop_size": "options (--crop_size 256), the paper's 256x256",
    "load_size": "options (--load_size 286)",
    "value_range": "data",
    "test_mode": "test and readme (the README's test.py commands have no --eval: dropout on and "
    "batch norm with the statistics of each one-image test batch, as the paper says)",
}


def _pix2pix(
    name: str,
    task: str,
    dataset: str,
    direction: str,
    direction_source: str | None,
    *,
    palette: tuple[PaletteClass, ...] | None = None,
    extra_sources: Mapping[str, str] | None = None,
    extra_inferred: tuple[str, ...] = (),
) -> PretrainedEntry:
    sources = dict(_PIX2PIX_SOURCES)
    sources["dataset"] = "pix2pix-script (the model name) and datasets/download_pix2pix_dataset.sh"
    inferred = list(extra_inferred)
    if direction_source is None:
        sources["direction"] = (
            "INFERRED from the model and dataset names (A is the first-named side of the "
            "dataset's aligned images)"
        )
        inferred.append("direction")
    else:
        sources["direction"] = direction_source
    sources.update(extra_sources or {})
    return PretrainedEntry(
        name=name,
        kind="pix2pix",
        task=task,
        architecture=UNET_256,
        url_template=_PIX2PIX_URL,
        dataset=dataset,
        direction=direction,
        palette=palette,
        sources=sources,
        inferred=tuple(inferred),
    )


_MAPS_SIDES = (
    "bicyclegan (scripts/test_maps.sh runs its map -> aerial model on the same maps archive with "
    "DIRECTION='BtoA': A is the aerial photo, B the map)"
)

_PIX2PIX_ENTRIES = (
    _pix2pix(
        "facades_label2photo",
        "CMP facade label map -> photo",
        "facades",
        "BtoA",
        "readme (--direction BtoA: facades' A is the photo, B the label map)",
        palette=CMP_FACADE_PALETTE,
        extra_sources={
            "palette": "class names: cmp; colours: measured on the facades label maps "
            "(pix2pix.palettes: rows 5c of MATLAB's jet(64), a median 5.5 RGB units from a "
            "label pixel of facades/train); their order follows the CMP label indices over jet "
            "and agrees with where each colour lies in the label maps"
        },
    ),
    _pix2pix("sat2map", "aerial photo -> map", "maps", "AtoB", _MAPS_SIDES),
    _pix2pix("map2sat", "map -> aerial photo", "maps", "BtoA", _MAPS_SIDES),
    _pix2pix(
        "edges2shoes",
        "edge map -> shoe photo",
        "edges2shoes",
        "AtoB",
        "bicyclegan (scripts/test_edges2shoes.sh and train_edges2shoes.sh: DIRECTION='AtoB', "
        "edges -> shoes, on the same edges2shoes archive)",
    ),
    _pix2pix(
        "day2night",
        "daytime photo -> night photo",
        "night2day",
        "BtoA",
        "bicyclegan (scripts/test_night2day.sh: DIRECTION='AtoB' is night -> day on the same "
        "night2day archive, so day -> night is BtoA)",
    ),
)

_CYCLEGAN_SOURCES = {
    "name": "cyclegan-script",
    "url_template": "cyclegan-script",
    "architecture": "readme (--no_dropout) and options (resnet_9blocks, instance norm, ngf 64: "
    "the canonical defaults for cycle_gan)",
    "crop_size": "options (--crop_size 256)",
    "load_size": "options (--load_size 286)",
    "value_range": "data",
    "task": "INFERRED from the model name",
    "test_mode": "readme (--model test --no_dropout, no --eval: train mode), which gives the same "
    "result as eval mode here: instance norm always uses each image's own statistics and there "
    "is no dropout. Recorded as eval, the mode that can batch images",
}

# (registry name, file on the server, task in words). Names the pix2pix models already use
# (sat2map, map2sat, facades_label2photo) get a "cyclegan_" prefix so both stay reachable.
_CYCLEGAN_MODELS = (
    ("apple2orange", "apple2orange", "apple -> orange"),
    ("orange2apple", "orange2apple", "orange -> apple"),
    ("summer2winter_yosemite", "summer2winter_yosemite", "Yosemite summer -> winter"),
    ("winter2summer_yosemite", "winter2summer_yosemite", "Yosemite winter -> summer"),
    ("horse2zebra", "horse2zebra", "horse -> zebra"),
    ("zebra2horse", "zebra2horse", "zebra -> horse"),
    ("monet2photo", "monet2photo", "Monet painting -> photo"),
    ("style_monet", "style_monet", "photo -> Monet style"),
    ("style_cezanne", "style_cezanne", "photo -> Cezanne style"),
    ("style_ukiyoe", "style_ukiyoe", "photo -> Ukiyo-e style"),
    ("style_vangogh", "style_vangogh", "photo -> Van Gogh style"),
    ("cyclegan_sat2map", "sat2map", "aerial photo -> map (CycleGAN, unpaired)"),
    ("cyclegan_map2sat", "map2sat", "map -> aerial photo (CycleGAN, unpaired)"),
    ("cityscapes_photo2label", "cityscapes_photo2label", "street photo -> Cityscapes labels"),
    ("cityscapes_label2photo", "cityscapes_label2photo", "Cityscapes labels -> street photo"),
    ("facades_photo2label", "facades_photo2label", "facade photo -> label map"),
    (
        "cyclegan_facades_label2photo",
        "facades_label2photo",
        "facade label map -> photo (CycleGAN, unpaired)",
    ),
    ("iphone2dslr_flower", "iphone2dslr_flower", "iPhone flower photo -> DSLR look"),
)

_CYCLEGAN_ENTRIES = tuple(
    PretrainedEntry(
        name=name,
        kind="cyclegan",
        task=task,
        architecture=RESNET_9,
        url_template=_CYCLEGAN_URL,
        file=file,
        citation=CYCLEGAN_CITATION,
        test_mode="eval",
        sources=_CYCLEGAN_SOURCES,
        inferred=("task", "architecture.base_channels", "architecture.n_blocks"),
    )
    for name, file, task in _CYCLEGAN_MODELS
)

REGISTRY: dict[str, PretrainedEntry] = {
    entry.name: entry for entry in (*_PIX2PIX_ENTRIES, *_CYCLEGAN_ENTRIES)
}
"""Every known entry by name; :func:`pix2pix.pretrained.register_pretrained` adds to it."""
