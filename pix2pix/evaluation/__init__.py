"""Evaluate a trained generator on a paired test set: L1, PSNR, SSIM, a gallery, and FID.

:func:`evaluate` translates every source image of a test folder (or dataset), compares each
output with its target using :mod:`pix2pix.metrics` (images in [-1, 1], so L1 is in those units
and PSNR/SSIM use ``data_range=2``), and returns per-metric means and standard deviations. With
``output_dir`` it also writes ``metrics.json`` and a gallery (:func:`write_gallery`) of the first
pairs: ``gallery.png``, one row per pair of source | output | target, and ``gallery.html``.

Two test modes (:mod:`pix2pix.inference.modes`), by default the one the model records, and
every result says which one it used:

* ``"paper"``: the paper's test mode, dropout on and each image normalised with its own
  batch-norm statistics (section 3.3), as the canonical ``test.py`` runs. Pair ``i`` uses
  dropout seed ``seed + i``, so the numbers repeat.
* ``"eval"``: no dropout, running batch-norm statistics (``test.py --eval``).

Both give the same numbers on every run and for every ``batch_size``.

FID needs Inception-v3 weights, and LPIPS (:mod:`pix2pix.evaluation.lpips`) a torchvision
backbone and the ``lpips`` package's linear heads, which this library does not ship or download;
neither is computed unless its files are found (see :func:`evaluate`'s ``fid_weights`` and
``lpips_weights``). The result says so in ``fid_note`` / ``lpips_note`` rather than leaving the
key out. The checkerboard statistic (:mod:`pix2pix.evaluation.checkerboard`) and the blur-aware
statistics (:mod:`pix2pix.evaluation.blur`) need no weights.
"""

from pix2pix.evaluation.checkerboard import checkerboard
from pix2pix.evaluation.fid import find_inception_weights
from pix2pix.evaluation.gallery import GalleryRow, write_gallery
from pix2pix.evaluation.lpips import find_lpips_weights, lpips_distance
from pix2pix.evaluation.score import evaluate

__all__ = [
    "GalleryRow",
    "checkerboard",
    "evaluate",
    "find_inception_weights",
    "find_lpips_weights",
    "lpips_distance",
    "write_gallery",
]
