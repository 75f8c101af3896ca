import json

import pytest
import torch

from pix2pix.cli import SUBCOMMAND_MODULES, build_parser, main
from pix2pix.data import SyntheticPairs
from pix2pix.models import UNetGenerator


@pytest.fixture
def model_dir(tmp_path):
    torch.manual_seed(0)
    inference = {"direction": "BtoA", "crop_size": 32, "load_size": 36}
    return UNetGenerator(base_channels=4, num_downs=5).save_pretrained(
        tmp_path / "model", inference=inference
    )


@pytest.fixture
def data_dir(tmp_path):
    return SyntheticPairs(3, size=32).write(tmp_path / "test")


def test_evaluate_is_registered():
    assert "evaluate" in SUBCOMMAND_MODULES
    assert "evaluate" in build_parser().format_help()


def test_evaluate_writes_metrics_and_gallery(tmp_path, model_dir, data_dir, capsys):
    out = tmp_path / "eval"
    code = main(
        ["evaluate", "--model", str(model_dir), "--data", str(data_dir), "--output", str(out),
         "--json"]
    )  # fmt: skip
    assert code == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["count"] == 3 and printed["mode"] == "eval"
    assert printed["direction"] == "BtoA" and "per_image" not in printed
    written = json.loads((out / "metrics.json").read_text())
    assert written["l1"] == pytest.approx(printed["l1"])
    assert len(written["per_image"]) == 3
    assert (out / "gallery.png").is_file() and (out / "gallery.html").is_file()
    assert written["fid"] is None or "fid_note" in written


def test_evaluate_test_mode_and_direction_flags(model_dir, data_dir, capsys):
    args = ["evaluate", "--model", str(model_dir), "--data", str(data_dir), "--test-mode",
            "paper", "--json"]  # fmt: skip
    assert main([*args, "--seed", "3", "--num-gallery", "0", "--per-image"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["mode"] == "paper" and printed["seed"] == 3
    assert len(printed["per_image"]) == 3
    assert main([*args, "--direction", "AtoB"]) == 0
    assert json.loads(capsys.readouterr().out)["direction"] == "AtoB"


def test_evaluate_follows_the_recorded_mode_and_takes_dropout_for_a_pth(tmp_path, capsys):
    from reference import RefUnet, randomize

    torch.manual_seed(0)
    data = SyntheticPairs(2, size=64).write(tmp_path / "test")
    paper = UNetGenerator(base_channels=4, num_downs=6).save_pretrained(
        tmp_path / "paper", inference={"test_mode": "paper"}
    )
    assert main(["evaluate", "--model", str(paper), "--data", str(data), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["mode"] == "paper" and printed["seed"] == 0
    pth = tmp_path / "latest_net_G.pth"
    torch.save(randomize(RefUnet(3, 3, 6, ngf=4, dropout=False)).state_dict(), pth)
    args = ["evaluate", "--model", str(pth), "--data", str(data), "--json"]
    assert main([*args, "--dropout", "0"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["mode"] == "paper" and printed["model"]["config"]["dropout"] == 0.0
    assert main(["evaluate", "--model", str(paper), "--data", str(data), "--dropout", "0"]) == 2
    assert "dropout=0.0 is for a reference .pth" in capsys.readouterr().err


def test_evaluate_errors_are_one_line(tmp_path, model_dir, capsys):
    code = main(["evaluate", "--model", str(model_dir), "--data", str(tmp_path / "nope")])
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("pix2pix evaluate: error:") and "nope" in err
    assert main(["evaluate", "--model", str(tmp_path / "none"), "--data", str(tmp_path)]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_the_default_output_is_a_short_table(tmp_path, model_dir, data_dir, capsys):
    out = tmp_path / "eval"
    args = ["evaluate", "--model", str(model_dir), "--data", str(data_dir), "--output", str(out)]
    assert main(args) == 0
    printed = capsys.readouterr().out
    lines = printed.splitlines()
    assert len(lines) < 30, printed  # the JSON was 120+ lines
    assert lines[0].startswith(f"{model_dir} on {data_dir}: 3 pairs, BtoA")
    assert lines[1].startswith("mode: eval (eval mode")
    written = json.loads((out / "metrics.json").read_text())
    rows = {line.split()[0]: line for line in lines if line.startswith("  ")}
    # every mean ± std is the one in metrics.json, aligned on the "±"
    assert rows["L1"].split()[1:4] == [f"{written['l1']:.4f}", "±", f"{written['l1_std']:.4f}"]
    assert rows["PSNR"].split()[2:4] == [f"{written['psnr']:.2f}", "±"]
    assert rows["checkerboard"].split()[2:4] == [f"{written['checkerboard']:.2f}", "±"]
    assert len({row.index("±") for row in rows.values() if "±" in row}) == 1
    assert "FID [" in printed and "FID, KID not computed: needs Inception-v3" in printed
    assert str(out / "metrics.json") in printed and str(out / "gallery.png") in printed
    assert "1.png" not in printed  # no per-pair rows unless asked
    assert main([*args, "--per-image", "--num-gallery", "0"]) == 0
    per_pair = capsys.readouterr().out
    assert "pair" in per_pair and sum(".png" in line for line in per_pair.splitlines()) >= 3


def test_model_help_names_the_pretrained_registry(capsys):
    with pytest.raises(SystemExit):
        main(["evaluate", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "facades_label2photo" in text and "pix2pix models" in text and "--json" in text


def test_a_seed_for_the_eval_mode_is_refused(model_dir, data_dir, capsys):
    """--seed changes nothing in the eval mode: refused, not ignored (the model records eval)."""
    from pix2pix.evaluation import evaluate

    base = ["evaluate", "--model", str(model_dir), "--data", str(data_dir), "--seed", "2"]
    assert main([*base, "--test-mode", "eval"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "--seed 2 seeds the paper mode's dropout" in err
    assert main(base) == 2
    err = capsys.readouterr().err  # the mode the model records, found once it has loaded
    assert "seed 2 seeds the paper test mode's dropout, but the model runs in the eval" in err
    assert main([*base, "--test-mode", "paper", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["seed"] == 2
    with pytest.raises(ValueError, match="leave the seed out, or choose the paper test mode"):
        evaluate(model_dir, data_dir, seed=0, progress=False)
    assert evaluate(model_dir, data_dir, progress=False)["seed"] is None
