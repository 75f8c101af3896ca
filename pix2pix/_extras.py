"""Optional packages (the extras in ``pyproject.toml``): found without importing them.

A feature that needs an extra says so in one line, naming the ``pip install`` that brings it
(:func:`install_command`), and says it before anything slow happens: :func:`require_extra`
only asks the import system whether the package is there (``importlib.util.find_spec``),
which costs microseconds, where importing TensorBoard or W&B costs seconds.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import re


class MissingExtraError(ImportError, RuntimeError):
    """An optional package that a requested feature needs is not installed.

    A ``RuntimeError`` too, so the command line prints it as its one-line error.
    """


def install_command(extra: str) -> str:
    """The ``pip install`` that brings pix2pix's optional ``extra``.

    Its packages as this installation's metadata lists them: pix2pix is installed from its
    checkout, not from PyPI, so ``pip install "pix2pix[extra]"`` would find nothing there, or
    someone else's package of that name. Without the metadata (a source tree on ``sys.path``),
    the checkout's own command.

    Examples:
        >>> install_command("no-such-extra")
        'pip install ".[no-such-extra]" in the pix2pix checkout'
    """
    try:
        requirements = importlib.metadata.requires("pix2pix") or []
    except importlib.metadata.PackageNotFoundError:
        requirements = []
    marker = re.compile(rf"""^(.*?);\s*extra\s*==\s*["']{re.escape(extra)}["']\s*$""")
    packages = [m.group(1).strip() for r in requirements if (m := marker.match(r))]
    if not packages:
        return f'pip install ".[{extra}]" in the pix2pix checkout'
    return "pip install " + " ".join(f'"{package}"' for package in packages)


def require_extra(module: str, *, extra: str, purpose: str) -> None:
    """Raise :class:`MissingExtraError` unless ``module`` can be imported.

    Args:
        module: The importable name (``"tensorboard"``).
        extra: The pix2pix extra that installs it (``"tensorboard"``).
        purpose: What needs it, for the message (``"--logger tensorboard"``).

    Examples:
        >>> require_extra("json", extra="none", purpose="reading JSON")
        >>> try:
        ...     require_extra("no_such_module", extra="x", purpose="a test")
        ... except MissingExtraError as error:
        ...     print(error)  # doctest: +ELLIPSIS
        a test needs the no_such_module package, which is not installed: pip install ".[x]" in ...
    """
    try:
        found = importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a broken parent package, or a module without a spec
        found = False
    if not found:
        raise MissingExtraError(
            f"{purpose} needs the {module} package, which is not installed: "
            f"{install_command(extra)}"
        )
