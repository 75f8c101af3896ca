"""Hugging Face Hub loading and pushing, without network: a hand-built cache and a fake HfApi."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import ClassVar

import pytest
import torch

from pix2pix import Translator, load_pretrained
from pix2pix._extras import install_command
from pix2pix.hub import download_pretrained, looks_like_repo_id, push_to_hub
from pix2pix.models import PatchGANDiscriminator, UNetGenerator

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def fake_cache(cache, repo_id, model, inference=None):
    """The layout huggingface_hub writes: models--owner--name/{refs/main, snapshots/<commit>/}."""
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    model.save_pretrained(repo / "snapshots" / COMMIT, inference=inference)
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(COMMIT)
    return repo / "snapshots" / COMMIT


@pytest.fixture
def offline_cache(tmp_path, monkeypatch):
    """An offline Hugging Face cache in tmp_path, set as the process-wide default.

    huggingface_hub reads HF_HUB_CACHE and HF_HUB_OFFLINE into constants when imported, so the
    environment alone would not reach an already imported module: patch both.
    """
    constants = pytest.importorskip("huggingface_hub.constants")
    cache = tmp_path / "hf-cache"
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    return cache


def test_repo_ids_are_told_from_local_paths(tmp_path, monkeypatch):
    assert looks_like_repo_id("owner/name") and looks_like_repo_id("my-org/facades_v1.2")
    for path in ("name", "a/b/c", "./owner/name", "/abs/path", "owner/", "/owner", "o/n.pth"):
        assert not looks_like_repo_id(path), path
    assert not looks_like_repo_id(Path("owner/name"))  # a Path is always local
    monkeypatch.chdir(tmp_path)
    (tmp_path / "owner" / "name").mkdir(parents=True)
    assert not looks_like_repo_id("owner/name")  # it exists here


def test_from_pretrained_loads_a_repo_from_the_offline_cache(offline_cache, unet):
    fake_cache(offline_cache, "owner/facades", unet, inference={"direction": "BtoA"})
    t = Translator.from_pretrained("owner/facades", device="cpu")
    assert t.direction == "BtoA"
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    assert torch.equal(t(x), Translator(unet, device="cpu")(x))
    model = load_pretrained("owner/facades")
    assert type(model) is UNetGenerator and model.config == unet.config
    assert type(UNetGenerator.from_pretrained("owner/facades")) is UNetGenerator


def test_download_pretrained_with_an_explicit_cache_dir_and_revision(tmp_path, monkeypatch, unet):
    constants = pytest.importorskip("huggingface_hub.constants")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    snapshot = fake_cache(tmp_path / "elsewhere", "owner/facades", unet)
    folder = download_pretrained("owner/facades", cache_dir=tmp_path / "elsewhere")
    assert folder == snapshot.resolve() and (folder / "README.md").is_file()
    assert download_pretrained("owner/facades", revision=COMMIT, cache_dir=tmp_path / "elsewhere")


def test_offline_and_not_cached_is_a_clear_file_not_found(offline_cache):
    with pytest.raises(FileNotFoundError, match=r"owner/missing is not in the Hugging Face cache"):
        Translator.from_pretrained("owner/missing")
    # a discriminator repo is refused like a local discriminator folder, naming the repo id
    fake_cache(offline_cache, "owner/critic", PatchGANDiscriminator(base_channels=4))
    with pytest.raises(ValueError, match="owner/critic holds a PatchGANDiscriminator"):
        Translator.from_pretrained("owner/critic")


def test_environment_variables_are_honoured_in_a_fresh_process(tmp_path, unet):
    pytest.importorskip("huggingface_hub")
    fake_cache(tmp_path / "home" / "hub", "owner/facades", unet, inference={"direction": "BtoA"})
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    env.update(HF_HOME=str(tmp_path / "home"), HF_HUB_OFFLINE="1")
    code = (
        "from pix2pix import Translator\n"
        "print(Translator.from_pretrained('owner/facades', device='cpu').direction)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "BtoA"


def test_missing_huggingface_hub_gives_install_hints(tmp_path, monkeypatch, unet):
    monkeypatch.setitem(sys.modules, "huggingface_hub", None)  # makes the import fail
    hint = re.escape(install_command("hub"))
    with pytest.raises(ImportError, match=rf"needs huggingface_hub: {hint}$"):
        download_pretrained("owner/name")
    with pytest.raises(ImportError, match=rf"needs huggingface_hub: {hint}$"):
        push_to_hub(unet, "owner/name")
    # a string that may be a Hub id or a mistyped folder: both readings are answered
    with pytest.raises(FileNotFoundError, match=rf"No model found at owner/name.*{hint}$"):
        Translator.from_pretrained("owner/name")
    # local paths keep their own messages and never need the Hub
    with pytest.raises(FileNotFoundError, match="does not exist"):
        Translator.from_pretrained(tmp_path / "nowhere")
    monkeypatch.chdir(tmp_path)
    unet.save_pretrained("owner/name")
    assert type(Translator.from_pretrained("owner/name").generator) is UNetGenerator


class FakeHfApi:
    """Records what push_to_hub would send; no network."""

    calls: ClassVar[list] = []

    def __init__(self, token=None):
        self.token = token

    def create_repo(self, repo_id, *, private=False, exist_ok=False, repo_type=None):
        self.calls.append(("create_repo", repo_id, private, exist_ok, repo_type, self.token))
        return f"https://huggingface.co/{repo_id}"

    def upload_folder(self, *, repo_id, folder_path, commit_message, repo_type=None):
        folder = Path(folder_path)
        files = {p.name: p.read_bytes() for p in folder.iterdir()}
        self.calls.append(("upload_folder", repo_id, commit_message, files))
        return f"https://huggingface.co/{repo_id}/commit/{COMMIT}"


@pytest.fixture
def fake_api(monkeypatch):
    hf = pytest.importorskip("huggingface_hub")
    FakeHfApi.calls = []
    monkeypatch.setattr(hf, "HfApi", FakeHfApi)
    return FakeHfApi


def test_push_to_hub_uploads_config_weights_and_card(fake_api, unet, tmp_path):
    url = unet.push_to_hub("me/facades", inference={"direction": "BtoA"}, private=True, token="t")
    assert url == f"https://huggingface.co/me/facades/commit/{COMMIT}"
    create, (upload, repo_id, message, files) = fake_api.calls
    assert create == ("create_repo", "me/facades", True, True, "model", "t")
    assert (upload, repo_id, message) == ("upload_folder", "me/facades", "Upload pix2pix model")
    assert sorted(files) == ["README.md", "config.json", "model.safetensors"]
    assert json.loads(files["config.json"])["inference"] == {"direction": "BtoA"}
    card = files["README.md"].decode()
    assert 'Translator.from_pretrained("me/facades")' in card and "`BtoA`" in card
    # what was uploaded loads back to the same weights
    (tmp_path / "up").mkdir()
    for name, data in files.items():
        (tmp_path / "up" / name).write_bytes(data)
    loaded = load_pretrained(tmp_path / "up")
    assert all(
        torch.equal(a, b) for a, b in zip(loaded.state_dict().values(), unet.state_dict().values())
    )


def test_translator_push_to_hub_keeps_its_settings(fake_api, unet):
    t = Translator(unet, device="cpu", inference={"direction": "AtoB", "crop_size": 32})
    t.push_to_hub("me/t", commit_message="v1")
    _, repo_id, message, files = fake_api.calls[-1]
    assert (repo_id, message) == ("me/t", "v1")
    assert json.loads(files["config.json"])["inference"] == {"direction": "AtoB", "crop_size": 32}
    with pytest.raises(ValueError, match="inference= is only for models"):
        push_to_hub(t, "me/t", inference={"direction": "BtoA"})
    with pytest.raises(ValueError, match="repo_id='not a repo' must look like 'owner/name'"):
        push_to_hub(unet, "not a repo")
