import json

import torch

from pix2pix.models import load_pretrained

from helpers import load_example


def test_custom_trainer_runs_and_logs_its_extra_term(tmp_path):
    example = load_example("custom_trainer")
    final = example.main(["--steps", "2", "--size", "32", "--width", "4",
                          "--output", str(tmp_path / "run")])  # fmt: skip
    assert load_pretrained(final).config["num_downs"] == 5
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").open()]
    assert all(r["G_TV"] > 0 for r in records)


def test_total_variation_known_values():
    example = load_example("custom_trainer")
    flat = torch.zeros(1, 3, 4, 4)
    assert float(example.total_variation(flat)) == 0.0
    stripes = torch.tensor([[0.0, 1.0, 0.0, 1.0]]).expand(4, 4)[None, None]
    assert float(example.total_variation(stripes)) == 1.0  # every horizontal step is 1
