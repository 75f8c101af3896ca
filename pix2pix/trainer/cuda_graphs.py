"""The CUDA-graph training step (``TrainerConfig.cuda_graphs``): one whole update, replayed.

At batch 1 a GPU spends most of a pix2pix step waiting for the host to launch its kernels
(hundreds of small ones). :class:`CudaGraphStep` captures one whole step, the same sequence as
:class:`~pix2pix.trainer.step.EagerStep` (G forward, D's update, G's update, both fused Adam
steps, the EMA), into one CUDA graph (:func:`torch.cuda.graph`); every later step copies its
batch into the graph's static input buffers and replays the graph: one launch, no host
synchronisation. ``torch.cuda.graph`` was chosen over ``torch.compile(mode="reduce-overhead")``
because the latter graphs only the compiled networks, not the optimiser steps and the EMA
between them.

How it behaves, and why:

* **Warm-up.** The first ``warmup_steps`` steps run eagerly on a side stream (real steps on real
  batches), so that lazy initialisation (cuDNN plans, cuBLAS workspaces, Adam's state) happens
  before the capture, as CUDA graphs require. The next step is captured, then replayed to make
  its own update (a capture records kernels without running them).
* **The same update, eager or replayed.** Warm-up steps, replays and eager steps all run
  :meth:`CudaGraphStep.update`, so they compute the same kernels on the same tensors: a run
  resumed in the middle (which warms up again) ends with the weights of an uninterrupted one.
* **What the graph fixes is checked every step, on the host.** The batch shape; the optimisers'
  settings, among them the learning rate that the schedulers change once an epoch; their state
  objects (``load_state_dict`` replaces them); where the parameters live. A change drops the
  graph and captures again at the next step (no second warm-up), so a graph never reads freed
  memory or a stale learning rate. Checking costs tens of microseconds, no device sync.
* **A batch of another shape** (the last, partial batch of an epoch when ``drop_last`` is off)
  runs eagerly through the same update; ``drop_last=True`` keeps every step in the graph.
* **Losses** come back as a copy of the graph's outputs (one small device copy per step), read
  only when the loop logs, like the eager step's: the non-finite checks on the losses and the
  weights run at the log cadence unchanged.
* **Optimisers** must be fused (``Adam(fused=True)``: ``configure_optimizers`` builds them so
  when ``cuda_graphs`` is on); their groups are ``capturable`` only while capturing, so a
  checkpoint holds what an eager run with fused Adam would write.
* **EMA.** Its decay enters the graph as a device scalar set before each step, so the warm-up
  ramp (``ema_warmup``) keeps working; the update is the EMA's own rule (a lerp per parameter,
  buffers copied).
* **Random numbers.** Dropout draws from the default CUDA generator, which PyTorch's graph-safe
  Philox advances at each replay exactly as an eager step would: the masks, and the RNG states
  that checkpoints save, are those of an eager run.
* **Not covered**: several processes (DDP) and ``precision="fp16"`` (its GradScaler) are refused
  with one line; fp32 and bf16 are. Validation, sample grids and checkpoints run eagerly between
  steps and see the same weights.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Protocol

import torch
from torch.optim import Optimizer

from pix2pix.trainer.ema import ExponentialMovingAverage
from pix2pix.trainer.step import EagerStep

if TYPE_CHECKING:
    from pix2pix.trainer.trainer import Trainer

Logs = dict[str, torch.Tensor]

#: Settings of an optimiser group that the graph does not fix (``capturable`` is switched on
#: only while capturing).
_NOT_BAKED = ("params", "capturable")


class Replayable(Protocol):
    """What :meth:`CudaGraphStep.record` returns: a ``torch.cuda.CUDAGraph``, or a test's fake."""

    def replay(self) -> None: ...


def check_graphable(trainer: Trainer) -> None:
    """Refuse, in one line each, what the CUDA-graph step cannot run.

    Raises:
        ValueError: Not on a CUDA device, several processes, or optimisers that are not fused.
    """
    if trainer.device.type != "cuda":
        raise ValueError(
            f"cuda_graphs=True needs a CUDA GPU, and this run trains on {trainer.device} "
            f"(torch.cuda.is_available() is {torch.cuda.is_available()}); run it on a GPU or "
            "turn cuda_graphs off."
        )
    if trainer.context.is_distributed:
        raise ValueError(
            f"cuda_graphs=True does not support several processes (DDP, world size "
            f"{trainer.context.world_size}): its gradient all-reduce is not captured; turn "
            "cuda_graphs off for multi-GPU runs."
        )
    for name in ("optimizer_g", "optimizer_d"):
        optimizer = getattr(trainer.state, name)
        groups = optimizer.param_groups if optimizer is not None else []
        if not groups or not all(g.get("fused") and "capturable" in g for g in groups):
            raise ValueError(
                f"cuda_graphs=True needs fused, capturable optimisers (torch.optim.Adam(..., "
                f"fused=True)), but configure_optimizers gave {name} = "
                f"{type(optimizer).__name__} without fused=True; build it fused."
            )


@torch.no_grad()
def ema_update(ema: ExponentialMovingAverage, model: torch.nn.Module, weight: torch.Tensor) -> None:
    """:meth:`ExponentialMovingAverage.update` with ``1 - decay`` as a device scalar, so that a
    graph can replay it with a new decay; the caller counts the update.

    The same arithmetic as the EMA's own update (a lerp per parameter, buffers copied).

    Examples:
        >>> g = torch.nn.Linear(2, 2)
        >>> ema = ExponentialMovingAverage(g, decay=0.9)
        >>> ema_update(ema, g, torch.tensor(0.1))
        >>> torch.equal(ema.module.weight, g.weight)
        True
    """
    for average, live in zip(ema.module.parameters(), model.parameters()):
        average.lerp_(live, weight)
    for average_buffer, buffer in zip(ema.module.buffers(), model.buffers()):
        average_buffer.copy_(buffer)


@contextlib.contextmanager
def capturable(optimizers: list[Optimizer]) -> Iterator[None]:
    """Mark the optimisers' groups ``capturable`` (Adam refuses a capture without it), and put
    the old value back after (for fused Adam the flag changes nothing else)."""
    groups = [group for optimizer in optimizers for group in optimizer.param_groups]
    saved = [group["capturable"] for group in groups]
    for group in groups:
        group["capturable"] = True
    try:
        yield
    finally:
        for group, value in zip(groups, saved):
            group["capturable"] = value


class CudaGraphStep:
    """The training step captured once into a CUDA graph and replayed (see the module's notes).

    ``Trainer.setup()`` installs it as ``trainer.step_function`` when ``config.cuda_graphs`` is
    on; it takes and returns what :class:`~pix2pix.trainer.step.EagerStep` does.

    Args:
        trainer: A set-up trainer on a CUDA device, one process, fused optimisers.
        warmup_steps: Eager steps before the first capture.

    Attributes:
        captures: Graphs captured so far (the first, then one per learning-rate change or
            reload).
        replays: Steps run by replaying a graph.
        eager_steps: Steps run eagerly (warm-up, and batches of another shape).

    Examples:
        >>> config = TrainerConfig(device="cuda", cuda_graphs=True)  # doctest: +SKIP
        >>> trainer = Trainer(g, d, config); trainer.setup()  # doctest: +SKIP
        >>> type(trainer.step_function).__name__  # doctest: +SKIP
        'CudaGraphStep'
    """

    def __init__(self, trainer: Trainer, *, warmup_steps: int = 3) -> None:
        check_graphable(trainer)
        self.trainer = trainer
        self.eager = EagerStep(trainer)
        self.warmup_steps = warmup_steps
        self.captures = self.replays = self.eager_steps = 0
        self.graph: Replayable | None = None
        self._warmed = 0
        self._shape: tuple[torch.Size, torch.Size] | None = None  # the batches the graph takes
        self._inputs: tuple[torch.Tensor, torch.Tensor] | None = None  # static input buffers
        self._outputs: torch.Tensor | None = None  # the losses, stacked, written by the graph
        self._names: list[str] = []
        self._fixed: tuple[Any, ...] | None = None  # what a graph fixes, as of the last step
        self._parameters = [p for module in self._modules() for p in module.parameters()]
        self._ema_weight: torch.Tensor | None = None  # 1 - decay, on the device
        self._ema_updates: int | None = None  # the EMA's update count, mirrored on the host

    # ------------------------------------------------------------------ one step
    def __call__(self, source: torch.Tensor, target: torch.Tensor) -> Logs:
        """One step; returns the losses as detached 0-dim device tensors (no host sync)."""
        if self._fixed is not None and self._is_stale():
            self.release()
        self._fixed = self._fixed_now()
        shape = (source.shape, target.shape)
        if self._shape is None and source.shape[0] >= self.trainer.config.batch_size:
            self._shape = shape  # a full batch (a resumed run may start on a partial one)
        if shape != self._shape:
            return self._eager(source, target)  # the last, partial batch of an epoch
        if self.graph is None:
            if self._warmed < self.warmup_steps:
                self._warmed += 1
                with self.side_stream():
                    return self._eager(source, target)
            self._capture(source, target)
        return self._replay(source, target)

    def update(self, source: torch.Tensor, target: torch.Tensor) -> Logs:
        """What each step computes, eager or captured: :class:`EagerStep`'s two updates, then
        the EMA with its decay from the device scalar :meth:`_before` sets."""
        trainer = self.trainer
        with trainer.autocast():
            fake = trainer.generate(source)
        losses = self.eager.discriminator_update(source, target, fake)
        losses.update(self.eager.generator_update(source, target, fake))
        if trainer.state.ema is not None and self._ema_weight is not None:
            ema_update(trainer.state.ema, trainer.generator, self._ema_weight)
        return losses

    def _eager(self, source: torch.Tensor, target: torch.Tensor) -> Logs:
        self._before()
        losses = self.update(source, target)
        self._after()
        self.eager_steps += 1
        return losses

    def _replay(self, source: torch.Tensor, target: torch.Tensor) -> Logs:
        if self.graph is None or self._inputs is None or self._outputs is None:
            raise RuntimeError("No graph was captured.")
        self._inputs[0].copy_(source)
        self._inputs[1].copy_(target)
        self._before()
        self.graph.replay()
        self._after()
        self.replays += 1
        # a copy: the graph overwrites its outputs at the next replay, and the loop keeps each
        # step's losses until it logs
        return dict(zip(self._names, self._outputs.clone().unbind()))

    def _before(self) -> None:
        """Set the EMA's decay for this step (a device fill, no sync)."""
        ema = self.trainer.state.ema
        if ema is None:
            return
        if self._ema_weight is None or self._ema_updates is None:
            # once, and after each release: reading the count waits for the device
            self._ema_updates = int(ema.num_updates)
            first = next(ema.module.parameters())
            self._ema_weight = torch.zeros((), dtype=first.dtype, device=first.device)
        self._ema_weight.fill_(1.0 - ema.current_decay())

    def _after(self) -> None:
        """Count the EMA update (its buffer and host mirror; a device fill, no sync)."""
        ema = self.trainer.state.ema
        if ema is not None and self._ema_updates is not None:
            self._ema_updates += 1
            ema.set_num_updates(self._ema_updates)

    # ------------------------------------------------------------------ capture
    def _capture(self, source: torch.Tensor, target: torch.Tensor) -> None:
        """Capture :meth:`update` on static copies of the batch; record what it fixed."""
        if self._inputs is None:
            self._inputs = (torch.empty_like(source), torch.empty_like(target))
        self._before()  # the EMA's device scalar exists before the graph reads it
        inputs, optimizers = self._inputs, self._optimizers()

        def step() -> torch.Tensor:
            losses = self.update(*inputs)
            self._names = list(losses)
            return torch.stack([value.float() for value in losses.values()])

        for optimizer in optimizers:
            # gradients are allocated from the graph's memory pool during the capture
            optimizer.zero_grad(set_to_none=True)
        with capturable(optimizers):
            self.graph, self._outputs = self.record(step)
        self.captures += 1
        self.trainer.logger.debug("Captured the training step as CUDA graph %d.", self.captures)

    def record(self, step: Callable[[], torch.Tensor]) -> tuple[Replayable, torch.Tensor]:
        """Capture ``step`` into a CUDA graph; returns the graph and ``step``'s (static) output.

        ``thread_local``: a DataLoader's pin-memory thread may allocate pinned memory meanwhile.
        """
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph, capture_error_mode="thread_local"):
            output = step()
        return graph, output

    @contextlib.contextmanager
    def side_stream(self) -> Iterator[None]:
        """Run the block on a side stream, ordered after and before the current stream's work
        (warm-up must not run on the stream being captured later)."""
        current = torch.cuda.current_stream()
        stream = torch.cuda.Stream()
        stream.wait_stream(current)
        with torch.cuda.stream(stream):
            yield
        current.wait_stream(stream)

    def release(self) -> None:
        """Drop the graph (the next step captures again) and the gradients in its memory."""
        self.graph, self._outputs = None, None
        for optimizer in self._optimizers():
            optimizer.zero_grad(set_to_none=True)
        self._ema_updates = None  # a reload may have changed the EMA's count

    # ------------------------------------------------------------------ what a graph fixes
    def _optimizers(self) -> list[Optimizer]:
        state = self.trainer.state
        return [o for o in (state.optimizer_d, state.optimizer_g) if o is not None]

    def _modules(self) -> list[torch.nn.Module]:
        trainer = self.trainer
        ema = trainer.state.ema
        return [trainer.generator, trainer.discriminator, *([ema.module] if ema else [])]

    def _fixed_now(self) -> tuple[Any, ...]:
        optimizers = self._optimizers()
        settings = tuple(
            tuple((k, v) for k, v in group.items() if k not in _NOT_BAKED)
            for optimizer in optimizers
            for group in optimizer.param_groups
        )
        states = tuple(optimizer.state for optimizer in optimizers)
        storage = tuple(p.data_ptr() for p in self._parameters)
        return settings, states, storage

    def _is_stale(self) -> bool:
        """Whether the learning rates, optimiser states or addresses changed since the last step."""
        if self._fixed is None:
            return True
        settings, states, storage = self._fixed_now()
        old_settings, old_states, old_storage = self._fixed
        # the states by identity: comparing dicts of tensors by value would sync (and fail)
        same_states = all(a is b for a, b in zip(states, old_states))
        return settings != old_settings or not same_states or storage != old_storage
