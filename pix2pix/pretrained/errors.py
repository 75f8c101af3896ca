"""The errors of the downloader, in one leaf module so the manifest and the transfer share them.

Each names what failed and what to do; the CLI prints its message as one line.
"""

from __future__ import annotations


class DownloadError(RuntimeError):
    """A download failed; ``url`` names what was asked for.

    Every downloader error is one (:class:`OfflineError` aside, a ``FileNotFoundError``).

    Examples:
        >>> try:  # doctest: +SKIP
        ...     Translator.from_pretrained("facades_label2photo")
        ... except DownloadError as error:
        ...     print(error.url)
    """

    def __init__(self, message: str, *, url: str | None = None) -> None:
        super().__init__(message)
        self.url = url


class NetworkError(DownloadError):
    """The server could not be reached (no network, DNS failure, refused, timed out)."""


class HTTPStatusError(DownloadError):
    """The server answered with an error status (``status``)."""

    def __init__(self, message: str, *, url: str, status: int) -> None:
        super().__init__(message, url=url)
        self.status = status


class IntegrityError(DownloadError):
    """A file's size or sha256 differs from the expected or recorded one; it was deleted."""


class DiskSpaceError(DownloadError):
    """Not enough free space, before starting or while writing (the message names the path)."""


class RejectedFileError(DownloadError, ValueError):
    """A downloaded file failed the caller's check (it is not the archive or checkpoint it
    should be); it was deleted and nothing was recorded, so the next run downloads it again."""


class OfflineError(FileNotFoundError):
    """``PIX2PIX_OFFLINE=1`` and the entry is not in the cache.

    Examples:
        >>> import os
        >>> os.environ["PIX2PIX_OFFLINE"] = "1"  # doctest: +SKIP
        >>> resolve_model("facades_label2photo")  # doctest: +SKIP
        Traceback (most recent call last):
        OfflineError: ...
    """
