"""``pix2pix evaluate``: score a trained model on a paired test folder; a summary or the JSON."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from pix2pix.cli.options import MODEL_HELP
from pix2pix.cli.test_mode import add_test_mode_arguments, refuse_seed_without_dropout


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``evaluate`` subcommand."""
    parser = subparsers.add_parser(
        "evaluate",
        help="score a trained model on a paired test folder (L1, PSNR, SSIM, LPIPS, gallery)",
        description="Translate the source half of every pair in --data and compare the result "
        "with the target: mean and standard deviation of L1, PSNR, SSIM, LPIPS (with its "
        "weights), the blur-aware statistics and the checkerboard statistic, in the test mode "
        "the model records (paper: dropout on, each image's own batch statistics, seeded; "
        "eval: running statistics) unless --test-mode. Images are scored at the model's training "
        "crop size (saved with it by the trainer), else at their own size. Prints a short "
        "table (--json: every number as JSON instead). With --output, writes metrics.json, "
        "gallery.png and gallery.html there (with --save-images also every pair in images/ and "
        "a sortable page of them, index.html).",
    )
    parser.add_argument(
        "--model",
        required=True,
        help=MODEL_HELP,
    )
    parser.add_argument("--data", required=True, help="test folder of pairs (facades/test)")
    parser.add_argument(
        "--direction",
        choices=["AtoB", "BtoA"],
        default=None,
        help="which half is the source (default: the model's training direction, else AtoB)",
    )
    parser.add_argument("--output", default=None, help="folder for metrics.json and the gallery")
    add_test_mode_arguments(
        parser, seed_help="dropout seed of the paper mode: pair i uses SEED + i"
    )
    parser.add_argument(
        "--num-gallery",
        type=int,
        default=8,
        help="pairs in gallery.png, spread from the best to the worst L1, median included "
        "(8; 0 = none)",
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        default=1,
        help="images per forward pass (1; the results do not depend on it: the paper mode "
        "translates each image alone)",
    )
    parser.add_argument("--device", default="auto", help="auto (default), cpu, cuda, cuda:1 ...")
    parser.add_argument(
        "--fid-weights",
        default=None,
        help="torchvision inception_v3 weights (.pth) for FID; default: the torch hub cache if "
        "it holds them, else FID is skipped (nothing is downloaded)",
    )
    parser.add_argument(
        "--lpips-net",
        choices=["alex", "vgg", "squeeze"],
        default="alex",
        help="LPIPS backbone (alex, the lpips package's default)",
    )
    parser.add_argument(
        "--lpips-weights",
        default=None,
        metavar="PATH",
        help="torchvision's state dict of the LPIPS backbone (alexnet-owt-*.pth ...); default: "
        "the torch hub cache if it holds it, else LPIPS is skipped (nothing is downloaded)",
    )
    parser.add_argument(
        "--lpips-heads",
        default=None,
        metavar="PATH",
        help="the LPIPS linear heads (v0.1); default: the installed lpips package's "
        "(the lpips extra)",
    )
    parser.add_argument(
        "--gallery-from",
        metavar="METRICS_JSON",
        default=None,
        help="show the gallery pairs of an earlier evaluation (its metrics.json), to compare "
        "models on the same pairs",
    )
    parser.add_argument(
        "--save-images",
        action="store_true",
        help="write every pair to OUTPUT/images (NAME_real_A.png, NAME_fake_B.png, "
        "NAME_real_B.png) and a page of every pair, OUTPUT/index.html, paged and sortable",
    )
    parser.add_argument(
        "--sort",
        default=None,
        metavar="METRIC",
        help="sort the page of every pair by this metric (l1, psnr, ssim, ...; default: "
        "data order)",
    )
    parser.add_argument(
        "--worst-first",
        action="store_true",
        help="sort the page worst first (highest L1, lowest PSNR ...; default metric l1)",
    )
    parser.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="show a progress bar on stderr (default: on)",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="print the result as JSON on stdout instead of the table (what --output writes "
        "to metrics.json, without every pair's values unless --per-image)",
    )
    parser.add_argument(
        "--per-image",
        action="store_true",
        help="also print every pair's metrics (a table, or in the JSON with --json); "
        "metrics.json always has them",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Evaluate, write the files, print the summary (or the JSON); returns the exit code."""
    from pix2pix.evaluation import evaluate
    from pix2pix.evaluation.score import json_ready
    from pix2pix.evaluation.summary import format_summary

    refuse_seed_without_dropout(args, args.test_mode)  # before the model loads
    result = evaluate(
        args.model,
        args.data,
        direction=args.direction,
        test_mode=args.test_mode,
        seed=args.seed,
        dropout=args.dropout,
        num_gallery=args.num_gallery,
        output_dir=args.output,
        batch_size=args.batch_size,
        device=args.device,
        fid_weights=args.fid_weights,
        lpips_net=args.lpips_net,
        lpips_weights=args.lpips_weights,
        lpips_heads=args.lpips_heads,
        progress=args.progress,
        save_images=args.save_images,
        sort=args.sort or ("l1" if args.worst_first else None),
        worst_first=args.worst_first,
        gallery_names=_gallery_names(args.gallery_from),
    )
    if args.json:
        # per-image lines would bury the rest on a terminal; metrics.json keeps them
        shown = {k: v for k, v in result.items() if args.per_image or k != "per_image"}
        print(json.dumps(json_ready(shown), indent=2))
        return 0
    print(format_summary(result, per_image=args.per_image))
    if not args.output:
        print("(--output DIR writes metrics.json and a gallery; --json prints every number.)")
    return 0


def _gallery_names(path: str | None) -> list[str] | None:
    """The ``gallery`` list of an earlier evaluation's ``metrics.json``."""
    if path is None:
        return None
    file = Path(path)
    if file.is_dir():
        file = file / "metrics.json"
    if not file.is_file():
        raise FileNotFoundError(f"--gallery-from {path}: no metrics.json there.")
    try:
        names = json.loads(file.read_text()).get("gallery")
    except (json.JSONDecodeError, UnicodeDecodeError, AttributeError) as error:
        raise ValueError(
            f"--gallery-from {path}: not an evaluation's metrics.json ({error})."
        ) from None
    if not isinstance(names, list) or not names:
        raise ValueError(
            f"--gallery-from {path}: it lists no gallery pairs (evaluate it again with "
            "--output and --num-gallery > 0)."
        )
    return [str(name) for name in names]
