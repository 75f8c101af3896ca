"""Optional packages (the extras in ``pyproject.toml``): found without importing them.

A feature that needs an extra says so in one line, naming the ``pip install`` that brings it,
and says it before anything slow happens: :func:`require_extra` only asks the import system
whether the package is there (``importlib.util.find_spec``), which costs microseconds, where
importing TensorBoard or W&B costs seconds.
"""

from __future__ import annotations

import importlib.util


class MissingExtraError(ImportError, RuntimeError):
    """An optional package that a requested feature needs is not installed.

    A ``RuntimeError`` too, so the command line prints it as its one-line error.
    """


def require_extra(module: str, *, extra: str, purpose: str) -> None:
    """Raise :class:`MissingExtraError` unless ``module`` can be imported.

    Args:
        module: The importable name (``"tensorboard"``).
        extra: The pix2pix extra that installs it (``"tensorboard"``).
        purpose: What needs it, for the message (``"--logger tensorboard"``).

    Example:
        >>> require_extra("json", extra="none", purpose="reading JSON")
        >>> try:
        ...     require_extra("no_such_module", extra="x", purpose="a test")
        ... except MissingExtraError as error:
        ...     print(error)
        a test needs the no_such_module package, which is not installed: pip install "pix2pix[x]"
    """
    try:
        found = importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a broken parent package, or a module without a spec
        found = False
    if not found:
        raise MissingExtraError(
            f"{purpose} needs the {module} package, which is not installed: "
            f'pip install "pix2pix[{extra}]"'
        )
