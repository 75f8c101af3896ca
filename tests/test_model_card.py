import json

from pix2pix import Translator
from pix2pix.models import PatchGANDiscriminator, UNetGenerator
from pix2pix.models.card import model_card


def front_matter(card):
    assert card.startswith("---\n")
    block = card.split("---\n")[1]
    return block.splitlines()


def test_save_pretrained_writes_a_card_with_config_direction_data_and_metrics(tmp_path):
    g = UNetGenerator(base_channels=4, num_downs=5)
    inference = {
        "direction": "BtoA",
        "preprocess": "resize_and_crop",
        "load_size": 286,
        "crop_size": 256,
        "dataset": "facades (CMP Facade Database)",
        "metrics": {"psnr": 21.345678, "ssim": 0.71},
        "seed": 7,
    }
    g.save_pretrained(tmp_path / "m", inference=inference)
    card = (tmp_path / "m" / "README.md").read_text()
    meta = front_matter(card)
    assert "library_name: pix2pix" in meta
    assert 'license: "unknown"' in meta
    assert "pipeline_tag: image-to-image" in meta
    assert meta[meta.index("tags:") + 1 :] == ["- pix2pix", "- image-to-image", "- gan"]
    assert "# pix2pix generator: UNetGenerator" in card
    assert f"| Parameters | {sum(p.numel() for p in g.parameters()):,} |" in card
    assert "| num_downs | `5` |" in card and "| norm | `batch` |" in card
    assert "Direction: `BtoA` (trained to translate B images into A images)" in card
    assert "- load_size: `286`" in card and "- crop_size: `256`" in card
    assert "- seed: `7`" in card  # unknown inference keys are still shown
    assert "## Training data\n\nfacades (CMP Facade Database)\n" in card
    assert "| psnr | 21.35 |" in card and "| ssim | 0.71 |" in card
    assert 'Translator.from_pretrained("path/to/this/folder")' in card
    # the card is for people: config.json stays the machine-readable source
    assert json.loads((tmp_path / "m" / "config.json").read_text())["inference"] == inference


def test_card_without_inference_settings_omits_unknown_sections():
    config = {"model_type": "UNetGenerator", "pix2pix_version": "0.1.0", **UNetGenerator().config}
    card = model_card(config, num_parameters=54_413_955)
    assert "Direction: not recorded" in card
    assert "## Training data" not in card and "## Metrics" not in card
    assert "| Parameters | 54,413,955 |" in card
    # the card never builds a model to count (that made models <-> card an import cycle)
    assert "Parameters" not in model_card(config)
    assert "library 0.1.0." in card


def test_card_for_a_repo_a_license_and_a_discriminator():
    config = {
        "model_type": "UNetGenerator",
        **UNetGenerator(base_channels=4, num_downs=5).config,
        "inference": {"license": "cc-by-4.0", "metrics": "FID 42 on the val split"},
    }
    card = model_card(config, num_parameters=10, repo_id="owner/facades")
    assert 'license: "cc-by-4.0"' in front_matter(card)
    assert 'Translator.from_pretrained("owner/facades")' in card
    assert "## Metrics\n\nFID 42 on the val split\n" in card
    d = PatchGANDiscriminator(base_channels=4)
    count = sum(p.numel() for p in d.parameters())
    card = model_card({"model_type": "PatchGANDiscriminator", **d.config}, num_parameters=count)
    assert "pipeline_tag" not in card and "# pix2pix discriminator" in card
    assert 'load_pretrained("path/to/this/folder")' in card
    assert f"| Parameters | {sum(p.numel() for p in d.parameters()):,} |" in card
    # a config this version cannot build still gets a card, without the count
    assert "Parameters" not in model_card({"model_type": "FutureNet", "width": 3})


def test_values_cannot_break_the_markdown_table_or_front_matter():
    config = {
        "model_type": "UNetGenerator",
        "norm": "a|b\nc",
        "inference": {"license": "x: y # z"},
    }
    card = model_card(config, num_parameters=1)
    assert "| norm | `a\\|b c` |" in card
    assert 'license: "x: y # z"' in front_matter(card)


def test_translator_save_pretrained_writes_the_card(tmp_path):
    t = Translator(UNetGenerator(base_channels=4, num_downs=5), inference={"direction": "AtoB"})
    t.save_pretrained(tmp_path / "t")
    assert "Direction: `AtoB`" in (tmp_path / "t" / "README.md").read_text()
