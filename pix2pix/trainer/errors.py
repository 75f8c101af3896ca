"""Errors the training loop raises."""

from __future__ import annotations

from pathlib import Path


class NonFiniteLossError(RuntimeError, FloatingPointError):
    """A loss became NaN or infinite; training stopped without writing a checkpoint.

    Examples:
        >>> try:  # doctest: +SKIP
        ...     trainer.fit()
        ... except NonFiniteLossError as error:
        ...     print(error.step, error.name)
        1234 G_L1
    """

    def __init__(self, step: int, name: str, value: float, last_checkpoint: Path | None) -> None:
        where = (
            f"the last good checkpoint is {last_checkpoint}"
            if last_checkpoint
            else "no checkpoint was written yet"
        )
        super().__init__(
            f"Loss {name} is {value} at step {step}; training stopped ({where}). Try a lower "
            "lr, precision='fp32', or check the data for NaNs."
        )
        self.step, self.name, self.value = step, name, value


class NonFiniteWeightError(NonFiniteLossError):
    """A parameter or buffer (e.g. a BatchNorm ``running_var``) became NaN or infinite.

    Checked at the log cadence and before every checkpoint and export, so a damaged model never
    reaches the disk; ``name`` is the tensor's name (``generator.encoder.1.norm.running_var``).
    """

    def __init__(self, step: int, name: str, value: float, last_checkpoint: Path | None) -> None:
        super().__init__(step, name, value, last_checkpoint)
        where = (
            f"the last good checkpoint is {last_checkpoint}"
            if last_checkpoint
            else "no checkpoint was written yet"
        )
        self.args = (
            f"Weight {name} is {value} at step {step}; training stopped ({where}). Try a lower "
            "lr, precision='fp32', or check the data for NaNs.",
        )


class RunFolderWriteError(RuntimeError):
    """Writing to the run folder failed (a full disk, a quota); the last checkpoint is intact.

    Examples:
        >>> try:  # doctest: +SKIP
        ...     trainer.fit()
        ... except RunFolderWriteError as error:
        ...     print(error)  # the file, the step, the last checkpoint, how to resume
    """
