"""One model, one thread: every request's inference runs here, serialised or micro-batched.

A translator is not safe to call from several threads at once (the paper test mode switches
module modes and forks the RNG), and one model in memory must serve every client. So requests
queue for a single worker thread. While the model is busy, eval-mode requests pile up; the
worker takes those waiting together (up to ``max_batch`` of them, and up to ``max_batch_pixels``
pixels in all) and runs them as one batch, which gives each the result it would get alone (up
to float rounding) at a fraction of the cost. The pixel budget bounds the memory: activations
grow with the pixels in a batch, not with the count, so eight large images must not run
together where eight small ones may.
Paper-mode and tiled requests always run alone: the paper's test mode normalises each image with
its own statistics, one image at a time, so a batch would gain nothing.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from pix2pix.serve.errors import ApiError
from pix2pix.serve.options import TranslateOptions

logger = logging.getLogger(__name__)


@dataclass
class Result:
    """A translation and what it cost: the model's time for its batch, and the batch size."""

    image: Any
    seconds: float
    batch: int


@dataclass
class _Job:
    image: Any
    options: TranslateOptions
    future: Future[Result] = field(default_factory=Future)

    @property
    def group(self) -> tuple[Any, ...]:
        return (self.image.size, self.image.mode)

    @property
    def pixels(self) -> int:
        width, height = self.image.size
        return int(width) * int(height)


_STOP = object()


class InferenceWorker:
    """Run a translator on one background thread.

    Args:
        translator: The shared :class:`~pix2pix.Translator`.
        max_batch: The most eval-mode requests run together; 1 runs each alone.
        max_queue: Requests waiting beyond this are refused (503) instead of queued forever.
        max_batch_pixels: The most pixels (width x height, summed) run together; an image
            larger than this still runs, alone. ``None``: no limit but ``max_batch``.

    Examples:
        >>> worker = InferenceWorker(translator)  # doctest: +SKIP
        >>> worker.submit(image, TranslateOptions()).result().image  # doctest: +SKIP
    """

    def __init__(
        self,
        translator: Any,
        *,
        max_batch: int = 8,
        max_queue: int = 64,
        max_batch_pixels: int | None = None,
    ) -> None:
        self.translator = translator
        self.max_batch = max_batch
        self.max_queue = max_queue
        self.max_batch_pixels = max_batch_pixels
        self._queue: queue.Queue[Any] = queue.Queue()
        self._held: deque[_Job] = deque()  # taken from the queue, not batchable with the last
        self._thread = threading.Thread(target=self._loop, name="pix2pix-inference", daemon=True)
        self._thread.start()

    @property
    def alive(self) -> bool:
        """Whether the worker thread runs (``/healthz`` reports it)."""
        return self._thread.is_alive()

    def submit(self, image: Any, options: TranslateOptions) -> Future[Result]:
        """Queue one translation; the future holds a :class:`Result` or a ``ValueError``.

        Raises:
            ApiError: 503 when ``max_queue`` requests already wait, or the worker has stopped.
        """
        if not self.alive:
            raise ApiError(503, "The inference worker has stopped; restart the server.")
        if self._queue.qsize() >= self.max_queue:
            raise ApiError(
                503,
                f"The server is busy ({self.max_queue} requests waiting); retry shortly.",
                {"retry-after": "1"},
            )
        job = _Job(image, options)
        self._queue.put(job)
        return job.future

    def close(self, timeout: float = 10.0) -> None:
        """Finish the queued requests, then stop the thread."""
        self._queue.put(_STOP)
        self._thread.join(timeout)

    def _next(self, block: bool) -> Any:
        if self._held:
            return self._held.popleft()
        return self._queue.get() if block else self._queue.get_nowait()

    def _loop(self) -> None:
        while True:
            job = self._next(block=True)
            if job is _STOP:
                return
            jobs = [job]
            if job.options.batchable:
                budget = self.max_batch_pixels
                pixels = job.pixels
                while len(jobs) < self.max_batch:
                    try:
                        other = self._next(block=False)
                    except queue.Empty:
                        break
                    if (
                        other is _STOP
                        or not other.options.batchable
                        or (budget is not None and pixels + other.pixels > budget)
                    ):
                        self._held.appendleft(other)  # its turn comes next, in order
                        break
                    jobs.append(other)
                    pixels += other.pixels
            self._run(jobs)

    def _run(self, jobs: list[_Job]) -> None:
        live = [j for j in jobs if j.future.set_running_or_notify_cancel()]
        if not live:
            return
        if len(live) > 1:
            # same-sized images side by side, so the translator batches them in few runs
            live.sort(key=lambda j: j.group)
            start = time.perf_counter()
            try:
                outputs = self.translator.translate(
                    [j.image for j in live], test_mode="eval", batch_size=len(live)
                )
            except Exception:  # one bad image must not fail its neighbours: run them alone
                logger.debug("batch of %d failed; running alone", len(live), exc_info=True)
            else:
                seconds = time.perf_counter() - start
                for j, output in zip(live, outputs):
                    j.future.set_result(Result(output, seconds, len(live)))
                return
        for j in live:
            start = time.perf_counter()
            try:
                tile = j.options.tile
                output = self.translator.translate(
                    j.image,
                    tile=tile,
                    # a quarter of the tile, at most the library's 32 px: small tiles work too
                    tile_overlap=min(32, tile // 4) if tile else 32,
                    test_mode=j.options.test_mode,
                    seed=j.options.seed,
                )
            except Exception as e:  # handed to the request, which answers it
                j.future.set_exception(e)
            else:
                j.future.set_result(Result(output, time.perf_counter() - start, 1))
