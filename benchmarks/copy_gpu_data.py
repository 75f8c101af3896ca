"""Copy the dataset pairs the GPU runs need into a git-ignored folder of the checkout.

The GPU machine gets the working tree and the paths named in ``carry`` (64 MiB in all), not the
``../shared`` folder beside the checkout, so the pairs travel as a copy:

* ``facades/train`` (400 pairs) and ``facades/test`` (106 pairs), 512x256 JPEGs;
* ``maps/train`` (the 100 shared pairs, 1200x600; the suite holds out the last 20 as its test).

``benchmarks/gpu_suite.py`` and ``benchmarks/paper_recipe.py`` read this folder (``--data``).
The files are copied byte for byte (about 35 MiB; ``--splits facades/train facades/test`` for
the facades recipe alone, about 24 MiB, when the working tree leaves less room). The folder must be ignored by git (the
repository's ``.gitignore`` lists ``gpu-data/``; or ``echo /gpu-data/ >> .git/info/exclude``),
and named in the device call's ``carry``.

Run: ``python benchmarks/copy_gpu_data.py [--source ../shared/datasets] [--dest gpu-data]
[--splits ...]``
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SPLITS = ("facades/train", "facades/test", "maps/train")
CARRY_LIMIT_MIB = 64


def copy_pairs(
    source: Path, dest: Path, limit: int | None = None, splits: tuple[str, ...] = SPLITS
) -> dict[str, int]:
    """Copy each of ``splits`` (the first ``limit`` files of each when given)."""
    counts = {}
    for split in splits:
        src = source / split
        if not src.is_dir():
            raise FileNotFoundError(f"{src} is missing; see ../shared/datasets/README.md")
        files = sorted(
            (p for p in src.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png")),
            key=lambda p: (len(p.stem), p.stem),  # natural order for 1.jpg ... 400.jpg
        )
        if limit:
            files = files[:limit]
        out = dest / split
        if out.exists():
            shutil.rmtree(out)
        out.mkdir(parents=True)
        for path in files:
            shutil.copyfile(path, out / path.name)
        counts[split] = len(files)
    return counts


def is_ignored(path: Path) -> bool:
    """Whether git ignores ``path`` (so it travels only when carried, and is never committed)."""
    result = subprocess.run(
        ["git", "check-ignore", "-q", str(path)], cwd=ROOT, capture_output=True, check=False
    )
    return result.returncode == 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", default=str(ROOT.parent / "shared" / "datasets"))
    parser.add_argument("--dest", default=str(ROOT / "gpu-data"))
    parser.add_argument("--limit", type=int, default=None, help="at most this many per split")
    parser.add_argument("--splits", nargs="+", choices=SPLITS, default=list(SPLITS))
    args = parser.parse_args(argv)
    dest = Path(args.dest)
    counts = copy_pairs(Path(args.source), dest, args.limit, tuple(args.splits))
    mib = sum(p.stat().st_size for p in dest.rglob("*") if p.is_file()) / 2**20
    print(f"copied {counts} into {dest} ({mib:.1f} MiB)")
    if mib > CARRY_LIMIT_MIB * 0.8:
        print(f"warning: {mib:.1f} MiB is close to the {CARRY_LIMIT_MIB} MiB carry limit")
    if not is_ignored(dest):
        print(
            f"warning: git does not ignore {dest}; add 'gpu-data/' to .gitignore "
            "(or .git/info/exclude) before carrying it",
            file=sys.stderr,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
