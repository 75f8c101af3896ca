import argparse

import numpy as np
import pytest
import torch
from PIL import Image

from pix2pix.cli import build_parser, main
from pix2pix.models import UNetGenerator


@pytest.fixture
def model_dir(tmp_path):
    torch.manual_seed(0)
    UNetGenerator(base_channels=4, num_downs=5).save_pretrained(
        tmp_path / "model", inference={"direction": "BtoA"}
    )
    return tmp_path / "model"


def write(path, size=(40, 30), mode="RGB"):
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(len(str(path)))
    channels = {"RGB": 3, "L": 1}[mode]
    array = rng.integers(0, 256, (size[1], size[0], channels), dtype=np.uint8)
    Image.fromarray(array.squeeze(), mode).save(path)
    return path


def test_translate_files_and_folders(tmp_path, model_dir, capsys):
    write(tmp_path / "in" / "a.png", (40, 30))
    write(tmp_path / "in" / "b.JPG", (70, 33))
    (tmp_path / "in" / "notes.txt").write_text("not an image")
    single = write(tmp_path / "other" / "c.png", (16, 16), "L")
    code = main(
        [
            "translate",
            "--model",
            str(model_dir),
            str(tmp_path / "in"),
            str(single),
            "--output",
            str(tmp_path / "out"),
        ]
    )
    assert code == 0
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == ["a.png", "b.png", "c.png"]
    assert Image.open(tmp_path / "out" / "b.png").size == (70, 33)
    assert Image.open(tmp_path / "out" / "c.png").mode == "RGB"


def test_translate_aligned_uses_the_model_direction(tmp_path, model_dir, caplog):
    caplog.set_level("INFO", logger="pix2pix")
    pair = np.zeros((32, 64, 3), dtype=np.uint8)
    pair[:, 32:] = 255  # the B half is white
    Image.fromarray(pair).save(tmp_path / "pair.png")
    assert (
        main(
            [
                "translate",
                "--model",
                str(model_dir),
                str(tmp_path / "pair.png"),
                "--aligned",
                "--output",
                str(tmp_path / "o1"),
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "translate",
                "--model",
                str(model_dir),
                str(tmp_path / "pair.png"),
                "--aligned",
                "--direction",
                "AtoB",
                "--output",
                str(tmp_path / "o2"),
            ]
        )
        == 0
    )
    said = [r.getMessage() for r in caplog.records if "half of each pair" in r.getMessage()]
    assert said == [
        "translating the right (B) half of each pair, BtoA (the model's training direction)",
        "translating the left (A) half of each pair, AtoB (--direction)",
    ]
    b_to_a = np.asarray(Image.open(tmp_path / "o1" / "pair.png"))
    a_to_b = np.asarray(Image.open(tmp_path / "o2" / "pair.png"))
    assert b_to_a.shape == a_to_b.shape == (32, 32, 3)
    assert not np.array_equal(b_to_a, a_to_b)


def test_translate_errors_are_one_line(tmp_path, model_dir, capsys):
    code = main(
        [
            "translate",
            "--model",
            str(model_dir),
            str(tmp_path / "missing.png"),
            "--output",
            str(tmp_path / "out"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert err.strip().count("\n") == 0 and "Input not found" in err and "missing.png" in err
    write(tmp_path / "x.png")
    code = main(
        [
            "translate",
            "--model",
            str(tmp_path / "nomodel"),
            str(tmp_path / "x.png"),
            "--output",
            str(tmp_path / "out"),
        ]
    )
    assert code == 2 and "nomodel" in capsys.readouterr().err


def test_help_lists_translate(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "translate" in capsys.readouterr().out


def test_translate_fast_options_run_and_stay_close(tmp_path, model_dir):
    src = write(tmp_path / "x.png", (64, 32))
    assert (
        main(["translate", "--model", str(model_dir), str(src), "--output", str(tmp_path / "a")])
        == 0
    )
    assert (
        main(
            [
                "translate",
                "--model",
                str(model_dir),
                str(src),
                "--dtype",
                "bf16",
                "--tile",
                "32",
                "--tile-overlap",
                "8",
                "--output",
                str(tmp_path / "b"),
            ]
        )
        == 0
    )
    a = np.asarray(Image.open(tmp_path / "a" / "x.png")).astype(int)
    b = np.asarray(Image.open(tmp_path / "b" / "x.png")).astype(int)
    assert a.shape == b.shape == (32, 64, 3)
    assert np.abs(a - b).mean() < 8  # bf16 and tiling change the result only slightly


def test_translate_batch_size_writes_the_same_images(tmp_path, model_dir, capsys):
    for i, size in enumerate([(32, 32), (32, 32), (48, 32), (32, 32), (32, 32)]):
        write(tmp_path / "in" / f"{i}.png", size)
    outputs = {}
    for batch_size in (1, 2):
        out = tmp_path / f"out{batch_size}"
        args = ["translate", "--model", str(model_dir), str(tmp_path / "in"), "--output", str(out)]
        assert main([*args, "--batch-size", str(batch_size)]) == 0
        outputs[batch_size] = {p.name: np.asarray(Image.open(p), dtype=int) for p in out.iterdir()}
    assert sorted(outputs[2]) == [f"{i}.png" for i in range(5)]
    for name, image in outputs[1].items():
        assert np.abs(image - outputs[2][name]).max() <= 1, name
    assert (
        main(
            [
                "translate",
                "--model",
                str(model_dir),
                str(tmp_path / "in"),
                "--output",
                str(tmp_path / "x"),
                "--batch-size",
                "0",
            ]
        )
        != 0
    )
    assert "--batch-size 0 must be at least 1" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()  # refused before anything was loaded or written


def test_translate_help_names_registry_models_and_explains_every_option(capsys):
    # issue 27: --model never mentioned registry names; --dtype and --tile-overlap had no help
    for command in ("translate", "evaluate", "serve", "export"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        help_text = " ".join(capsys.readouterr().out.split())
        assert "a registry name such as facades_label2photo (see `pix2pix models`" in help_text
        assert "Hugging Face Hub id" in help_text
    subcommands = next(
        a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)
    )
    for command in ("translate", "export"):
        actions = subcommands.choices[command]._actions
        assert [a.dest for a in actions if not a.help] == [], command


def test_translate_follows_the_recorded_mode_and_its_flags(tmp_path, caplog):
    from pix2pix import Translator

    from reference import RefUnet, randomize

    torch.manual_seed(0)
    image = write(tmp_path / "in" / "a.png", (64, 64))
    model = UNetGenerator(base_channels=4, num_downs=6)  # a dropout block
    paper = model.save_pretrained(tmp_path / "paper", inference={"test_mode": "paper"})

    def run(model_path, *flags):
        out = tmp_path / f"out{len(list(tmp_path.glob('out*')))}"
        assert main(["translate", "--model", str(model_path), str(image), "--output", str(out),
                     *flags]) == 0  # fmt: skip
        return np.asarray(Image.open(out / "a.png"))

    array = np.asarray(Image.open(image))
    translator = Translator(model, device="cpu")
    assert np.array_equal(run(paper), translator(array, test_mode="paper", seed=0))
    assert np.array_equal(run(paper, "--seed", "4"), translator(array, test_mode="paper", seed=4))
    assert np.array_equal(run(paper, "--test-mode", "eval"), translator(array))
    # a canonical .pth: the paper mode, saying what it assumed; --dropout 0 says otherwise
    pth = tmp_path / "latest_net_G.pth"
    ref = randomize(RefUnet(3, 3, 6, ngf=4, dropout=False))
    torch.save(ref.state_dict(), pth)
    with caplog.at_level("WARNING"):
        run(pth)
    assert "dropout=0.5 (the canonical default) was assumed" in caplog.text
    assert "--dropout 0" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING"):
        told = run(pth, "--dropout", "0")
    assert "assumed" not in caplog.text
    canonical = Translator.from_pretrained(pth, dropout=0.0, device="cpu")(array)
    assert np.array_equal(told, canonical)


def test_translate_aligned_without_a_recorded_direction_says_which_half(tmp_path, caplog):
    caplog.set_level("INFO", logger="pix2pix")
    UNetGenerator(base_channels=4, num_downs=5).save_pretrained(tmp_path / "bare")
    Image.fromarray(np.zeros((32, 64, 3), dtype=np.uint8)).save(tmp_path / "pair.png")
    args = ["translate", "--model", str(tmp_path / "bare"), str(tmp_path / "pair.png")]
    assert main([*args, "--aligned", "--output", str(tmp_path / "out")]) == 0
    assert (
        "translating the left (A) half of each pair, AtoB (the model records no direction; "
        "--direction BtoA for the right half)" in caplog.text
    )


@pytest.mark.parametrize(
    ("flags", "says"),
    [
        (["--direction", "BtoA"], "--direction BtoA picks the half of A|B pairs"),
        (["--tile-overlap", "8"], "--tile-overlap 8 is for translating in tiles; add --tile"),
        (["--test-mode", "eval", "--seed", "3"], "but --test-mode eval has no dropout"),
        # the model records no mode, so it runs in eval: the seed would change nothing
        (["--seed", "3"], "but the model's test mode (eval) has no dropout"),
    ],
)
def test_a_flag_that_would_change_nothing_is_refused_in_one_line(
    tmp_path, model_dir, capsys, monkeypatch, flags, says
):
    """Reviewer: --direction without --aligned, --tile-overlap without --tile and --seed in the
    eval mode were accepted and silently ignored."""
    image = write(tmp_path / "in" / "a.png")
    if "--test-mode" in flags or "--seed" not in flags:  # refused before the model loads
        from pix2pix.inference import Translator

        monkeypatch.setattr(Translator, "from_pretrained", None)
    out = tmp_path / "out"
    args = ["translate", "--model", str(model_dir), str(image), "--output", str(out), *flags]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and says in err
    assert not out.exists()


def test_flags_that_go_together_still_run(tmp_path, model_dir):
    image = write(tmp_path / "in" / "a.png", (64, 32))
    args = ["translate", "--model", str(model_dir), str(image), "--aligned", "--direction", "AtoB"]
    assert (
        main([*args, "--tile", "32", "--tile-overlap", "8", "--output", str(tmp_path / "o")]) == 0
    )
    assert Image.open(tmp_path / "o" / "a.png").size == (32, 32)
