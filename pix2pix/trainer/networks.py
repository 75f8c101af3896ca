"""The networks as a training step calls them: plain modules, and their DDP / compiled handles.

Training runs G through DDP and/or ``torch.compile`` when those are on, and D through one of
two handles: the one its own update needs (DDP/compile), and a frozen one without DDP for the
generator's update (D is frozen there, and a DDP forward whose backward yields no D gradients
would leave DDP waiting for them). :class:`Networks` builds the handles once and hands out the
right D for the update in progress, so a loss never picks a handle itself.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, cast

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from pix2pix.models.base import ModelMixin
from pix2pix.trainer.config import TrainerConfig
from pix2pix.trainer.distributed import DistributedContext


class Networks:
    """G and D, placed on their device, with the handles training calls them through.

    Attributes:
        generator: The plain generator (``SyncBatchNorm`` when asked, never wrapped).
        discriminator: The plain discriminator.

    Examples:
        >>> from pix2pix.models import create_model
        >>> nets = Networks(create_model("unet_128", base_channels=4),
        ...                 create_model("patchgan", base_channels=4))
        >>> nets.place(TrainerConfig(), torch.device("cpu"))
        >>> nets.wrap(TrainerConfig(), DistributedContext())
        >>> nets.generate(torch.zeros(1, 3, 128, 128)).shape
        torch.Size([1, 3, 128, 128])
    """

    def __init__(self, generator: nn.Module, discriminator: nn.Module) -> None:
        for role, model in (("generator", generator), ("discriminator", discriminator)):
            # found now, not at the first checkpoint an hour into the run
            if not isinstance(model, ModelMixin):
                raise ValueError(
                    f"The {role} is a {type(model).__name__}, which the trainer cannot "
                    "checkpoint: models must subclass pix2pix.models.ModelMixin (which gives "
                    "them config.json + model.safetensors)."
                )
        self.generator = generator
        self.discriminator = discriminator
        self._g_train: nn.Module = generator  # G, wrapped in DDP/compile when those are on
        self._d_train: nn.Module = discriminator  # D for its own update (DDP/compile)
        self._d_frozen: nn.Module = discriminator  # D without DDP, for the generator's update
        self._d_active: nn.Module = discriminator  # the D handle of the update running now

    def place(self, config: TrainerConfig, device: torch.device) -> None:
        """Move both networks to ``device`` (channels-last when asked), in training mode."""
        memory_format = torch.channels_last if config.channels_last else torch.preserve_format
        for module in (self.generator, self.discriminator):
            # Module.to takes memory_format= with device= at run time; torch's overloads omit it
            module.to(device=device, memory_format=memory_format).train()  # type: ignore[call-overload]

    def wrap(self, config: TrainerConfig, context: DistributedContext) -> None:
        """Build the training handles: SyncBatchNorm, DDP and ``torch.compile`` as asked."""
        if context.is_distributed and config.sync_batchnorm:
            self.generator = nn.SyncBatchNorm.convert_sync_batchnorm(self.generator)
            self.discriminator = nn.SyncBatchNorm.convert_sync_batchnorm(self.discriminator)
        self._g_train, self._d_train = self.generator, self.discriminator
        if context.is_distributed:
            device = context.device
            ids = [device.index] if device.type == "cuda" else None
            self._g_train = DistributedDataParallel(self.generator, device_ids=ids)
            self._d_train = DistributedDataParallel(self.discriminator, device_ids=ids)
        self._d_frozen = self.discriminator
        if config.compile:
            unwrapped = self._d_train is self.discriminator
            # torch.compile of a Module returns a Module (OptimizedModule); its stubs say Callable
            self._g_train = cast(nn.Module, torch.compile(self._g_train))
            self._d_train = cast(nn.Module, torch.compile(self._d_train))
            self._d_frozen = (
                self._d_train if unwrapped else cast(nn.Module, torch.compile(self.discriminator))
            )
        self._d_active = self._d_frozen

    @property
    def compiled(self) -> bool:
        """Whether the training handles are ``torch.compile``'d."""
        return type(self._g_train).__name__ == "OptimizedModule"

    def generate(self, source: torch.Tensor) -> torch.Tensor:
        """G's output for ``source``, through the handle training uses."""
        return self._g_train(source)

    def discriminate(self, pair: torch.Tensor, **kwargs: Any) -> Any:
        """D's prediction on ``pair`` through the handle of the update running now."""
        return self._d_active(pair, **kwargs)

    @contextlib.contextmanager
    def discriminator_update(self) -> Iterator[None]:
        """D as its own update needs it (DDP/compile) while the block runs."""
        with self._active(self._d_train):
            yield

    @contextlib.contextmanager
    def generator_update(self) -> Iterator[None]:
        """D frozen and without DDP, for the generator's update, while the block runs."""
        with self._active(self._d_frozen):
            yield

    @contextlib.contextmanager
    def _active(self, handle: nn.Module) -> Iterator[None]:
        previous, self._d_active = self._d_active, handle
        try:
            yield
        finally:
            self._d_active = previous
