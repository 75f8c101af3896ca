"""The shared downloader, the safe tar extractor and the standard datasets, all offline.

Every download goes to a LocalServer on 127.0.0.1 started by the fixtures below.
"""

import argparse
import dataclasses
import hashlib
import io
import json
import os
import tarfile

import pytest
from PIL import Image

from pix2pix.data import PairedImageDataset
from pix2pix.data import download as data_download
from pix2pix.data.download import (
    CITYSCAPES_MESSAGE,
    dataset_is_complete,
    download_dataset,
    open_standard_dataset,
)
from pix2pix.pretrained import cache as cache_module
from pix2pix.pretrained import download as download_module
from pix2pix.pretrained.archive import UnsafeArchiveError, safe_extract
from pix2pix.pretrained.download import (
    DiskSpaceError,
    HTTPStatusError,
    IntegrityError,
    Manifest,
    NetworkError,
    OfflineError,
    RejectedFileError,
    fetch,
)

from http_server import LocalServer


@pytest.fixture
def cache(tmp_path, monkeypatch):
    home = tmp_path / "cache"
    monkeypatch.setenv("PIX2PIX_HOME", str(home))
    monkeypatch.delenv("PIX2PIX_OFFLINE", raising=False)
    monkeypatch.setattr(download_module, "RETRIES", 2)
    monkeypatch.setattr(download_module, "BACKOFF_SECONDS", 0.0)
    monkeypatch.setattr(download_module, "CONNECT_TIMEOUT", 5.0)
    monkeypatch.setattr(download_module, "READ_TIMEOUT", 5.0)
    return home


@pytest.fixture
def server(cache, monkeypatch):
    with LocalServer() as running:
        monkeypatch.setenv("PIX2PIX_DOWNLOAD_URL", running.url)
        yield running


def payload(size=300_000, seed=1):
    return bytes((i * 7 + seed) % 251 for i in range(size))


# ------------------------------------------------------------------------------ cache settings


def test_cache_dir_follows_the_conventions(tmp_path, monkeypatch):
    monkeypatch.delenv("PIX2PIX_HOME", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_module.cache_dir() == tmp_path / "home" / ".cache" / "pix2pix"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_module.cache_dir() == tmp_path / "xdg" / "pix2pix"
    monkeypatch.setenv("PIX2PIX_HOME", str(tmp_path / "mine"))
    assert cache_module.cache_dir() == tmp_path / "mine"


def test_base_url_and_offline_come_from_the_environment(monkeypatch):
    monkeypatch.delenv("PIX2PIX_DOWNLOAD_URL", raising=False)
    assert cache_module.base_url() == "http://efrosgans.eecs.berkeley.edu/pix2pix"
    monkeypatch.setenv("PIX2PIX_DOWNLOAD_URL", "http://mirror.example/p2p/")
    assert cache_module.base_url() == "http://mirror.example/p2p"
    for value, expected in [("1", True), ("true", True), ("0", False), ("", False)]:
        monkeypatch.setenv("PIX2PIX_OFFLINE", value)
        assert cache_module.is_offline() is expected


# ------------------------------------------------------------------------------ the downloader


def test_first_download_records_hash_and_a_cache_hit_makes_no_request(server, cache, tmp_path):
    data = payload()
    server.files["/f.bin"] = data
    target = cache / "downloads" / "f.bin"
    assert fetch(server.url + "/f.bin", target, progress=False) == target
    assert target.read_bytes() == data
    assert not target.with_name("f.bin.part").exists()
    record = Manifest().get("downloads/f.bin")
    assert record["sha256"] == hashlib.sha256(data).hexdigest()
    assert record["size"] == len(data)
    fetch(server.url + "/f.bin", target, progress=False)
    assert server.count("/f.bin") == 1


def test_a_file_changed_after_its_first_download_is_deleted(server, cache):
    server.files["/f.bin"] = payload()
    target = cache / "downloads" / "f.bin"
    fetch(server.url + "/f.bin", target, progress=False)
    target.write_bytes(b"tampered" + target.read_bytes()[8:])
    with pytest.raises(IntegrityError, match="sha256") as error:
        fetch(server.url + "/f.bin", target, progress=False)
    assert "manifest.json" in str(error.value)
    assert not target.exists()


def test_a_redownload_is_checked_against_the_first_one(server, cache):
    server.files["/f.bin"] = payload(seed=1)
    target = cache / "downloads" / "f.bin"
    fetch(server.url + "/f.bin", target, progress=False)
    target.unlink()
    server.files["/f.bin"] = payload(seed=2)  # the server now sends other bytes
    with pytest.raises(IntegrityError, match="first download"):
        fetch(server.url + "/f.bin", target, progress=False)
    assert not target.exists()
    assert not target.with_name("f.bin.part").exists()


def test_wrong_expected_hash_deletes_the_file(server, cache):
    server.files["/f.bin"] = payload()
    target = cache / "downloads" / "f.bin"
    with pytest.raises(IntegrityError, match="expected 0000"):
        fetch(server.url + "/f.bin", target, sha256="0" * 64, progress=False)
    assert not target.exists() and not target.with_name("f.bin.part").exists()
    assert Manifest().get("downloads/f.bin") is None


def killed_attempt(server, target, data, at, monkeypatch):
    """A first download that stops after ``at`` bytes and is not retried, like a killed one."""
    server.files["/f.bin"] = data
    server.drop_after["/f.bin"] = at
    monkeypatch.setattr(download_module, "RETRIES", 0)
    with pytest.raises(NetworkError, match="resumes next time"):
        fetch(server.url + "/f.bin", target, progress=False)
    monkeypatch.setattr(download_module, "RETRIES", 2)
    assert target.with_name("f.bin.part").stat().st_size == at


def test_resume_after_a_partial_file_asks_only_for_the_rest(server, cache, monkeypatch):
    data = payload()
    target = cache / "downloads" / "f.bin"
    killed_attempt(server, target, data, 100_000, monkeypatch)
    fetch(server.url + "/f.bin", target, sha256=hashlib.sha256(data).hexdigest(), progress=False)
    assert target.read_bytes() == data
    assert server.requests[-1] == ("/f.bin", "bytes=100000-")
    assert server.if_ranges[-1] == '"' + hashlib.sha256(data).hexdigest()[:16] + '"'
    assert not target.with_name("f.bin.part.json").exists()  # the validator goes with the .part


def test_a_file_changed_between_attempts_is_not_spliced(server, cache, monkeypatch):
    # issue 23, item 5: a 206 without If-Range glued the old file's start to the new one's end
    old, new = payload(seed=1), payload(seed=2)
    target = cache / "downloads" / "f.bin"
    killed_attempt(server, target, old, 120_000, monkeypatch)
    server.files["/f.bin"] = new
    fetch(server.url + "/f.bin", target, progress=False)
    assert target.read_bytes() == new
    assert Manifest().get("downloads/f.bin")["sha256"] == hashlib.sha256(new).hexdigest()


def test_a_server_ignoring_if_range_is_caught_by_its_etag(server, cache, monkeypatch):
    old, new = payload(seed=1), payload(seed=2)
    target = cache / "downloads" / "f.bin"
    killed_attempt(server, target, old, 120_000, monkeypatch)
    server.files["/f.bin"] = new
    server.ignore_if_range = True  # answers 206 with the new file's rest and its new ETag
    fetch(server.url + "/f.bin", target, progress=False)
    assert target.read_bytes() == new
    assert [r for _, r in server.requests[-2:]] == ["bytes=120000-", None]


def test_a_partial_file_of_unknown_version_starts_over(server, cache):
    data = payload()
    server.files["/f.bin"] = data
    target = cache / "downloads" / "f.bin"
    target.parent.mkdir(parents=True)
    target.with_name("f.bin.part").write_bytes(b"?" * 1000)  # no validator beside it
    fetch(server.url + "/f.bin", target, progress=False)
    assert target.read_bytes() == data
    assert server.requests == [("/f.bin", None)]


def test_without_validators_a_dropped_download_starts_over(server, cache):
    data = payload()
    server.files["/f.bin"] = data
    server.validators = False
    server.drop_after["/f.bin"] = 120_000
    target = cache / "downloads" / "f.bin"
    fetch(server.url + "/f.bin", target, progress=False)
    assert target.read_bytes() == data
    assert [r for _, r in server.requests] == [None, None]


def test_a_server_ignoring_range_restarts_cleanly(server, cache):
    data = payload()
    server.files["/f.bin"] = data
    server.ignore_range = True
    target = cache / "downloads" / "f.bin"
    target.parent.mkdir(parents=True)
    target.with_name("f.bin.part").write_bytes(data[:1000])
    fetch(server.url + "/f.bin", target, progress=False)
    assert target.read_bytes() == data


def test_a_connection_dropped_mid_file_is_resumed(server, cache):
    data = payload()
    server.files["/f.bin"] = data
    server.drop_after["/f.bin"] = 120_000
    target = cache / "downloads" / "f.bin"
    fetch(server.url + "/f.bin", target, progress=False)
    assert target.read_bytes() == data
    assert [r for _, r in server.requests] == [None, "bytes=120000-"]


def test_http_404_names_the_url_and_status(server, cache):
    target = cache / "downloads" / "missing.bin"
    with pytest.raises(HTTPStatusError, match="404") as error:
        fetch(server.url + "/missing.bin", target, progress=False)
    assert server.url + "/missing.bin" in str(error.value)
    assert error.value.status == 404
    assert server.count("/missing.bin") == 1  # a 404 is not retried
    assert not target.exists()


def test_no_server_says_so_and_where_to_put_the_file(cache):
    # a port nothing listens on: connection refused, retried, then a message for people
    with LocalServer() as gone:
        url = gone.url + "/f.bin"
    target = cache / "downloads" / "f.bin"
    with pytest.raises(NetworkError) as error:
        fetch(url, target, progress=False)
    message = str(error.value)
    assert url in message and str(target) in message and "by hand" in message


def test_offline_mode_uses_only_the_cache(server, cache, monkeypatch):
    server.files["/f.bin"] = payload()
    target = cache / "downloads" / "f.bin"
    monkeypatch.setenv("PIX2PIX_OFFLINE", "1")
    with pytest.raises(OfflineError, match="PIX2PIX_OFFLINE=1"):
        fetch(server.url + "/f.bin", target, progress=False)
    assert server.requests == []
    monkeypatch.delenv("PIX2PIX_OFFLINE")
    fetch(server.url + "/f.bin", target, progress=False)
    monkeypatch.setenv("PIX2PIX_OFFLINE", "1")
    assert fetch(server.url + "/f.bin", target, progress=False) == target
    assert server.count("/f.bin") == 1


def test_disk_space_is_checked_before_starting(server, cache, monkeypatch):
    server.files["/f.bin"] = payload()
    monkeypatch.setattr(download_module, "DISK_MARGIN_BYTES", 1 << 60)
    target = cache / "downloads" / "f.bin"
    with pytest.raises(DiskSpaceError, match="Not enough disk space") as error:
        fetch(server.url + "/f.bin", target, progress=False)
    assert str(target.parent) in str(error.value)
    assert not target.exists()


# ------------------------------------------------------------------------------ safe extraction


def add_file(tar, name, data=b"x"):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def add_link(tar, name, target, kind=tarfile.SYMTYPE):
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    tar.addfile(info)


def make_tar(path, build):
    with tarfile.open(path, "w:gz") as tar:
        build(tar)
    return path


@pytest.mark.parametrize(
    ("build", "needle"),
    [
        (lambda t: (add_file(t, "ok/1.jpg"), add_file(t, "../escape.txt")), "'../escape.txt'"),
        (lambda t: add_file(t, "ok/../../escape.txt"), "ok/../../escape.txt"),
        (lambda t: add_file(t, "/tmp/absolute-escape.txt"), "absolute"),
        (lambda t: add_link(t, "ok/link", "../../.."), "'ok/link'"),
        (lambda t: add_link(t, "ok/link", "/etc"), "'ok/link'"),
        (lambda t: add_link(t, "ok/hard", "../outside", tarfile.LNKTYPE), "'ok/hard'"),
    ],
)
def test_malicious_members_are_refused_and_nothing_is_written_outside(tmp_path, build, needle):
    work = tmp_path / "work"
    work.mkdir()
    archive = make_tar(tmp_path / "evil.tar.gz", build)
    target = work / "data"
    before = sorted(p.name for p in tmp_path.rglob("*"))
    with pytest.raises(UnsafeArchiveError, match="refused") as error:
        safe_extract(archive, target)
    assert needle in str(error.value)
    assert not target.exists()
    assert sorted(p.name for p in tmp_path.rglob("*")) == before
    assert not os.path.exists("/tmp/absolute-escape.txt")


def test_a_symlink_out_then_a_write_through_it_is_refused(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()

    def build(tar):
        add_link(tar, "data/link", str(outside))
        add_file(tar, "data/link/pwned.txt")

    archive = make_tar(tmp_path / "evil.tar.gz", build)
    with pytest.raises(UnsafeArchiveError):
        safe_extract(archive, tmp_path / "target")
    assert list(outside.iterdir()) == []


def test_device_files_are_refused(tmp_path):
    def build(tar):
        info = tarfile.TarInfo("dev/null")
        info.type = tarfile.CHRTYPE
        tar.addfile(info)

    with pytest.raises(UnsafeArchiveError, match="device file"):
        safe_extract(make_tar(tmp_path / "dev.tar.gz", build), tmp_path / "target")


def test_an_unpacked_size_beyond_the_limit_is_refused(tmp_path):
    archive = make_tar(tmp_path / "big.tar.gz", lambda t: add_file(t, "a/big.bin", b"0" * 5000))
    with pytest.raises(UnsafeArchiveError, match="'a/big.bin'"):
        safe_extract(archive, tmp_path / "target", max_bytes=4096)
    assert not (tmp_path / "target").exists()


def test_prefix_stripping_drops_the_archive_top_folder(tmp_path):
    def build(tar):
        add_file(tar, "facades/train/1.jpg", b"one")
        add_file(tar, "facades/test/2.jpg", b"two")

    target = safe_extract(
        make_tar(tmp_path / "ok.tar.gz", build), tmp_path / "out", strip_prefix="facades"
    )
    assert (target / "train" / "1.jpg").read_bytes() == b"one"
    assert (target / "test" / "2.jpg").read_bytes() == b"two"


@pytest.mark.parametrize("kind", [tarfile.SYMTYPE, tarfile.LNKTYPE])
def test_links_are_refused_even_when_they_point_inside(tmp_path, kind):
    # the official dataset archives hold no links; a link's text cannot tell where it leads
    def build(tar):
        add_file(tar, "facades/train/1.jpg", b"one")
        add_link(tar, "facades/train/alias.jpg", "1.jpg", kind)

    with pytest.raises(UnsafeArchiveError, match="'facades/train/alias.jpg' is a .* link"):
        safe_extract(make_tar(tmp_path / "ok.tar.gz", build), tmp_path / "out")
    assert not (tmp_path / "out").exists()


def symlink_chain_archive(depth=30):
    """Issue 23, item 1: ``p -> .`` makes ``p/p/.../passwd.jpg -> ../x31/etc/passwd`` look
    inside the folder while it leads to /etc/passwd once ``p`` is on disk."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for split in ("train", "val", "test"):
            add_file(tar, f"facades/{split}/1.jpg", jpeg((0, 0, 0)))
        add_link(tar, "facades/train/p", ".")
        add_link(
            tar, "facades/train/" + "p/" * depth + "passwd.jpg", "../" * (depth + 1) + "etc/passwd"
        )
    return buffer.getvalue()


def test_a_symlink_chain_leading_out_is_refused_by_download(server, tmp_path, capsys):
    from pix2pix.cli import main

    server.files["/datasets/facades.tar.gz"] = symlink_chain_archive()
    code = main(["download", "facades", "--root", str(tmp_path / "data"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2
    assert "'facades/train/p' is a symbolic link" in err and "refused" in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "data" / "facades").exists()


def header_bomb(path, kind, size=4 << 20):
    """Issue 23, item 2: one member whose long name (GNU) or pax header declares ``size`` bytes;
    tarfile used to read it whole into memory and the error line echoed it."""
    if kind == "gnu":
        info, fmt = tarfile.TarInfo("facades/train/" + "a" * size + ".jpg"), tarfile.GNU_FORMAT
    else:
        info, fmt = tarfile.TarInfo("facades/train/1.jpg"), tarfile.PAX_FORMAT
        info.pax_headers = {"comment": "a" * size}
    info.size = 1
    with tarfile.open(path, "w:gz", format=fmt) as tar:
        tar.addfile(info, io.BytesIO(b"x"))
    return path


@pytest.mark.parametrize("kind", ["gnu", "pax"])
def test_a_header_bomb_is_refused_before_it_is_read(tmp_path, kind):
    import tracemalloc

    archive = header_bomb(tmp_path / "bomb.tar.gz", kind)
    assert archive.stat().st_size < 64 << 10  # 4 MiB of header in a few KB of gzip
    tracemalloc.start()
    try:
        with pytest.raises(UnsafeArchiveError, match="header bomb") as error:
            safe_extract(archive, tmp_path / "target")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20, f"peak {peak:,} bytes: the header was read"
    assert len(str(error.value)) < 400
    assert not (tmp_path / "target").exists()


def test_long_names_are_cut_in_messages_and_refused_over_the_limit(tmp_path):
    # 3 KiB of name in a pax header is within the header limit, but ".." must still be named
    name = "x/" + "../" * 1000 + "escape.txt"
    archive = make_tar(tmp_path / "long.tar.gz", lambda t: add_file(t, name))
    with pytest.raises(UnsafeArchiveError, match="climbs out") as error:
        safe_extract(archive, tmp_path / "target")
    assert len(str(error.value)) < 400 and "(3,012 characters)" in str(error.value)
    too_long = "x/" + "a" * 5000
    archive = make_tar(tmp_path / "long2.tar.gz", lambda t: add_file(t, too_long))
    with pytest.raises(UnsafeArchiveError, match="longer than 4,096 bytes"):
        safe_extract(archive, tmp_path / "target")


def test_extended_headers_are_bounded_in_total(tmp_path):
    def build(tar):
        for i in range(4):
            info = tarfile.TarInfo(f"a/{i}.jpg")
            info.pax_headers = {"comment": "c" * 1000}
            tar.addfile(info, io.BytesIO(b""))

    with tarfile.open(tmp_path / "many.tar", "w", format=tarfile.PAX_FORMAT) as tar:
        build(tar)
    safe_extract(tmp_path / "many.tar", tmp_path / "ok")  # the default limit is far away
    with pytest.raises(UnsafeArchiveError, match="more than 3,000 bytes in all"):
        safe_extract(tmp_path / "many.tar", tmp_path / "target", max_header_bytes=3000)
    assert not (tmp_path / "target").exists()


def test_a_header_bomb_download_prints_one_short_line(server, tmp_path, capsys):
    from pix2pix.cli import main

    archive = header_bomb(tmp_path / "bomb.tar.gz", "gnu", size=2 << 20)
    server.files["/datasets/facades.tar.gz"] = archive.read_bytes()
    code = main(["download", "facades", "--root", str(tmp_path / "data"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "GNU long name of 2,097,1" in err and "header bomb" in err
    assert len(err) < 500 and len(err.strip().splitlines()) == 1


def test_a_damaged_archive_leaves_no_target(tmp_path):
    archive = make_tar(tmp_path / "ok.tar.gz", lambda t: add_file(t, "a/1.jpg", payload(50_000)))
    data = archive.read_bytes()
    archive.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError):
        safe_extract(archive, tmp_path / "target")
    assert not (tmp_path / "target").exists()


# ------------------------------------------------------------------------------ datasets


def jpeg(color):
    buffer = io.BytesIO()
    Image.new("RGB", (16, 8), color).save(buffer, "JPEG")
    return buffer.getvalue()


def dataset_archive(name, splits):
    """A tiny archive in the official layout: NAME/SPLIT/N.jpg, aligned A|B images."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        info = tarfile.TarInfo(name)
        info.type = tarfile.DIRTYPE
        tar.addfile(info)
        for split, count in splits.items():
            for i in range(1, count + 1):
                add_file(tar, f"{name}/{split}/{i}.jpg", jpeg((i * 20, 0, 0)))
    return buffer.getvalue()


def test_download_dataset_extracts_the_archive_splits_once(server, tmp_path, caplog):
    server.files["/datasets/maps.tar.gz"] = dataset_archive("maps", {"train": 3, "val": 2})
    root = tmp_path / "data"
    with caplog.at_level("INFO", logger="pix2pix.data.download"):
        folder = download_dataset("maps", root, progress=False)
    assert folder == root / "maps"
    assert sorted(p.name for p in folder.iterdir() if p.is_dir()) == ["train", "val"]
    assert len(list((folder / "train").glob("*.jpg"))) == 3
    assert "train/ (3 images)" in caplog.text  # the command line says the usual task
    record = json.loads((folder / ".pix2pix-dataset.json").read_text())
    assert record["splits"] == {"train": 3, "val": 2}
    assert dataset_is_complete("maps", root)
    assert not (tmp_path / "cache" / "downloads" / "maps.tar.gz").exists()  # removed after use
    download_dataset("maps", root, progress=False)
    assert server.count("/datasets/maps.tar.gz") == 1  # complete: nothing downloaded again


def test_an_incomplete_dataset_is_downloaded_again(server, tmp_path):
    server.files["/datasets/maps.tar.gz"] = dataset_archive("maps", {"train": 3, "val": 2})
    root = tmp_path / "data"
    folder = download_dataset("maps", root, progress=False)
    (folder / "train" / "2.jpg").unlink()
    assert not dataset_is_complete("maps", root)
    download_dataset("maps", root, progress=False)
    assert server.count("/datasets/maps.tar.gz") == 2
    assert len(list((folder / "train").glob("*.jpg"))) == 3


def test_a_hand_extracted_dataset_counts_as_complete(server, tmp_path):
    root = tmp_path / "data"
    for split in ("train", "val"):
        (root / "edges2shoes" / split).mkdir(parents=True)
        (root / "edges2shoes" / split / "1.jpg").write_bytes(jpeg((0, 0, 0)))
    assert download_dataset("edges2shoes", root, progress=False) == root / "edges2shoes"
    assert server.requests == []


def test_facades_with_a_known_count_checks_it(tmp_path):
    for split in ("train", "val", "test"):
        (tmp_path / "facades" / split).mkdir(parents=True)
        (tmp_path / "facades" / split / "1.jpg").write_bytes(b"")
    assert not dataset_is_complete("facades", tmp_path)  # train must hold 400 images


def test_night2day_has_three_splits_and_every_direction_has_a_source(server, tmp_path):
    info = data_download.DATASETS["night2day"]
    assert info.splits == ("train", "val", "test")
    assert info.counts == {"train": 17_823, "val": 10, "test": 2_287}
    for dataset in data_download.DATASETS.values():
        assert "direction" not in dataset.inferred, dataset.name
    server.files["/datasets/night2day.tar.gz"] = dataset_archive(
        "night2day", {"train": 2, "val": 1, "test": 1}
    )
    folder = download_dataset("night2day", tmp_path, progress=False)
    record = json.loads((folder / ".pix2pix-dataset.json").read_text())
    assert record["splits"] == {"test": 1, "train": 2, "val": 1}
    (folder / ".pix2pix-dataset.json").unlink()  # as if extracted by hand: the counts decide
    assert not dataset_is_complete("night2day", tmp_path)


def test_cityscapes_is_refused_with_its_license_and_the_prepare_command(tmp_path):
    with pytest.raises(ValueError, match="license") as error:
        download_dataset("cityscapes", tmp_path)
    message = str(error.value)
    assert "pix2pix prepare cityscapes --gtfine gtFine_trainvaltest.zip" in message
    assert "256x256" in message and "val split saved as test/" in message
    assert message == CITYSCAPES_MESSAGE


def test_unknown_dataset_suggests_the_close_name(tmp_path):
    with pytest.raises(ValueError, match="Did you mean 'facades'"):
        download_dataset("facade", tmp_path)


def test_an_archive_without_train_is_refused(server, tmp_path):
    server.files["/datasets/maps.tar.gz"] = dataset_archive("maps", {"val": 1})
    with pytest.raises(ValueError, match="no images in train"):
        download_dataset("maps", tmp_path, progress=False)
    assert not (tmp_path / "maps").exists()


def test_open_standard_dataset_is_the_download_true_path(server, tmp_path, monkeypatch):
    server.files["/datasets/facades.tar.gz"] = dataset_archive(
        "facades", {"train": 2, "val": 1, "test": 1}
    )
    # the real facades has 400 training images; the tiny archive has 2
    info = data_download.DATASETS["facades"]
    monkeypatch.setitem(
        data_download.DATASETS, "facades", dataclasses.replace(info, counts={"train": 2})
    )
    data = open_standard_dataset(
        PairedImageDataset, "facades", tmp_path, split="test", load_size=8, crop_size=8
    )
    assert isinstance(data, PairedImageDataset)
    assert data.direction == "BtoA" and len(data) == 1  # the usual task's direction
    item = data[0]
    assert item["source"].shape == (3, 8, 8)
    with pytest.raises(ValueError, match="no split 'nope'"):
        open_standard_dataset(PairedImageDataset, "facades", tmp_path, split="nope")
    assert server.count("/datasets/facades.tar.gz") == 1
    # the classmethod users call: the same path, and complete data is not fetched again
    train = PairedImageDataset.download("facades", tmp_path, load_size=8, crop_size=8)
    assert train.direction == "BtoA" and len(train) == 2
    assert server.count("/datasets/facades.tar.gz") == 1


# ------------------------------------------------------------------------------ bad downloads


HTML_PAGE = b"<!DOCTYPE html>\n<html><body>Please log in to the network.</body></html>\n"


def truncated_gzip():
    whole = dataset_archive("maps", {"train": 3, "val": 2})
    return whole[: len(whole) // 2]


@pytest.mark.parametrize(
    ("bad", "needle"),
    [
        (lambda: HTML_PAGE, "The server sent an HTML page"),
        (truncated_gzip, "maps.tar.gz"),
        (symlink_chain_archive, "is a symbolic link"),
    ],
    ids=["html", "truncated", "hostile"],
)
def test_a_bad_download_is_deleted_unrecorded_and_fetched_again(
    server, cache, tmp_path, bad, needle
):
    # issue 23, item 5: the hash was recorded before the archive was checked, so every rerun
    # (--force too) repeated the error from the cache without asking the server again
    url_path = "/datasets/maps.tar.gz"
    server.files[url_path] = bad()
    root = tmp_path / "data"
    for attempt in (1, 2):
        with pytest.raises(RejectedFileError, match=needle) as error:
            download_dataset("maps", root, progress=False, force=attempt == 2)
        assert "deleted and nothing was recorded" in str(error.value)
        assert server.count(url_path) == attempt  # each run asks the server again
        assert not (cache / "downloads" / "maps.tar.gz").exists()
        assert Manifest().get("downloads/maps.tar.gz") is None
        assert not (root / "maps").exists()
    server.files[url_path] = dataset_archive("maps", {"train": 3, "val": 2})  # fixed upstream
    download_dataset("maps", root, progress=False)
    assert dataset_is_complete("maps", root)
    assert (
        Manifest().get("downloads/maps.tar.gz")["sha256"]
        == hashlib.sha256(server.files[url_path]).hexdigest()
    )


def test_force_downloads_a_kept_archive_again(server, cache, tmp_path):
    server.files["/datasets/maps.tar.gz"] = dataset_archive("maps", {"train": 3, "val": 2})
    download_dataset("maps", tmp_path, progress=False, keep_archive=True)
    assert (cache / "downloads" / "maps.tar.gz").is_file()
    download_dataset("maps", tmp_path, progress=False, force=True, keep_archive=True)
    assert server.count("/datasets/maps.tar.gz") == 2


def test_force_offline_keeps_the_cached_copy(server, cache, monkeypatch):
    server.files["/f.bin"] = payload()
    target = cache / "downloads" / "f.bin"
    fetch(server.url + "/f.bin", target, progress=False)
    monkeypatch.setenv("PIX2PIX_OFFLINE", "1")
    with pytest.raises(OfflineError, match="is kept"):
        fetch(server.url + "/f.bin", target, progress=False, force=True)
    assert target.is_file() and server.count("/f.bin") == 1


def test_a_cached_file_without_a_record_is_checked_before_it_is_recorded(server, cache):
    # a kill between the rename and the record leaves the file unrecorded: it is checked again
    target = cache / "downloads" / "f.bin"
    target.parent.mkdir(parents=True)
    target.write_bytes(HTML_PAGE)

    def check(path):
        raise ValueError(f"{path} is not a readable tar archive.")

    with pytest.raises(RejectedFileError, match="HTML page"):
        fetch(server.url + "/f.bin", target, progress=False, check=check)
    assert not target.exists() and Manifest().get("downloads/f.bin") is None
    assert server.requests == []


# ------------------------------------------------------------------------------ the CLI


def run_cli(module, argv):
    parser = argparse.ArgumentParser(prog="pix2pix")
    module.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return args.func(args)


def test_cli_download_writes_the_dataset_and_prints_the_direction(server, tmp_path, capsys):
    from pix2pix.cli import download as cli_download

    server.files["/datasets/night2day.tar.gz"] = dataset_archive("night2day", {"train": 2})
    code = run_cli(cli_download, ["download", "night2day", "--root", str(tmp_path), "--quiet"])
    out = capsys.readouterr().out
    assert code == 0
    assert str(tmp_path / "night2day") in out and "--direction AtoB" in out
    assert (tmp_path / "night2day" / "train" / "1.jpg").is_file()


def test_cli_download_refuses_cityscapes(tmp_path):
    from pix2pix.cli import download as cli_download

    with pytest.raises(ValueError, match="license"):
        run_cli(cli_download, ["download", "cityscapes", "--root", str(tmp_path)])


def test_the_download_command_says_where_and_the_usual_task_once(
    server, tmp_path, monkeypatch, capsys, caplog
):
    from pix2pix.cli import main

    server.files["/datasets/facades.tar.gz"] = dataset_archive(
        "facades", {"train": 2, "val": 1, "test": 1}
    )
    info = data_download.DATASETS["facades"]
    monkeypatch.setitem(
        data_download.DATASETS, "facades", dataclasses.replace(info, counts={"train": 2})
    )
    with caplog.at_level("INFO"):
        assert main(["download", "facades", "--root", str(tmp_path), "--quiet"]) == 0
    out = capsys.readouterr().out + caplog.text
    assert out.lower().count("usual task") == 1  # issue 27: it was printed twice
    assert "label map -> photo (--direction BtoA)" in out and str(tmp_path / "facades") in out


def test_a_bad_forced_download_keeps_the_complete_dataset(server, tmp_path, monkeypatch):
    """--force with an archive that holds no training images used to delete the good copy."""
    info = data_download.DATASETS["facades"]
    monkeypatch.setitem(
        data_download.DATASETS, "facades", dataclasses.replace(info, counts={"train": 2})
    )
    server.files["/datasets/facades.tar.gz"] = dataset_archive("facades", {"train": 2, "test": 1})
    folder = download_dataset("facades", tmp_path, progress=False)
    before = sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))
    # another cache (a new PIX2PIX_HOME, a cleared one) has no record of the first archive
    for manifest in (tmp_path / "cache").rglob("manifest.json"):
        manifest.unlink()
    server.files["/datasets/facades.tar.gz"] = dataset_archive("facades", {"val": 1})
    with pytest.raises(
        ValueError, match=r"no images in train.*nothing was extracted; .* is as it was"
    ):
        download_dataset("facades", tmp_path, progress=False, force=True)
    assert sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) == before
    assert data_download.dataset_is_complete("facades", tmp_path)
