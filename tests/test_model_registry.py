"""Models by name (issue 24): every registered architecture gets these tests by registering."""

import pytest
import torch

from pix2pix.models import create_model, list_models, load_pretrained, register_model
from pix2pix.models.registry import model_kind

from helpers import count


def test_the_paper_models_by_name_have_the_reference_parameter_counts():
    assert count(create_model("unet_256")) == 54_413_955
    assert count(create_model("patchgan", in_channels=6)) == 2_768_705
    assert count(create_model("unet_128")) == 41_828_995
    assert count(create_model("resnet_9blocks")) == 11_378_179


def test_the_registry_lists_the_canonical_names():
    assert list_models("generator") == ["resnet_6blocks", "resnet_9blocks", "unet_128", "unet_256"]
    assert list_models("discriminator") == ["multiscale", "patchgan", "pixel"]
    assert list_models() == sorted(list_models("generator") + list_models("discriminator"))


def test_names_errors_and_registration_are_checked():
    with pytest.raises(ValueError, match="Unknown model 'unet_512'; registered models are"):
        create_model("unet_512")
    with pytest.raises(ValueError, match=r"create_model\('resnet_9blocks'\).*num_downs"):
        create_model("resnet_9blocks", num_downs=3)
    with pytest.raises(ValueError, match="kind='encoder' is not allowed"):
        register_model(kind="encoder")
    with pytest.raises(ValueError, match="'unet_256' is registered already"):
        register_model(kind="generator", name="unet_256")(lambda **kw: None)
    assert "<lambda>" not in list_models()


def _tiny(name):
    """The registered model at a tiny width, and an input it takes."""
    if model_kind(name) == "generator":
        model = create_model(name, base_channels=4)
        channels = 3
    else:
        model = create_model(name, base_channels=4, in_channels=6)
        channels = 6
    side = max(32, getattr(model, "min_input_size", 1))
    side = -(-side // model.size_multiple) * model.size_multiple
    return model, torch.rand(2, channels, side, side) * 2 - 1


@pytest.mark.parametrize("name", list_models())
def test_every_registered_model_runs_learns_and_round_trips(name, tmp_path):
    torch.manual_seed(0)
    model, x = _tiny(name)
    assert isinstance(model.size_multiple, int) and model.size_multiple >= 1
    out = model(x)
    outputs = out if isinstance(out, list) else [out]
    if model_kind(name) == "generator":
        assert out.shape == (2, 3, *x.shape[-2:]) and out.abs().max() <= 1
    assert all(torch.isfinite(o).all() for o in outputs)
    sum(o.mean() for o in outputs).backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.any()]
    assert not missing, f"no gradient reaches {missing}"
    # flat, readable keys; a save/load round trip gives the same model
    assert all(not k.startswith("model.") for k in model.state_dict())
    model.eval()
    model.save_pretrained(tmp_path / name)
    loaded = load_pretrained(tmp_path / name).eval()
    assert type(loaded) is type(model) and loaded.config == model.config
    with torch.no_grad():
        a, b = model(x), loaded(x)
    for left, right in zip(a if isinstance(a, list) else [a], b if isinstance(b, list) else [b]):
        assert torch.equal(left, right)
