"""isicseg download against a local HTTP server (127.0.0.1 only): no internet needed."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from isicseg import ISIC2017Dataset
from isicseg.cli import main
from isicseg.data.download import REPORTED_MD5, download_isic2017
from isicseg.exceptions import ConfigError, DatasetError, DownloadError

from ..release_server import COUNTS

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("release_of_this_size")]


def test_full_download_gives_the_layout_the_dataset_reads(server, release, tmp_path):
    files, md5, data = release
    root = tmp_path / "isic"
    fetched = download_isic2017(root, mirror=server.url, checksums=md5)
    assert sorted(fetched) == sorted(p.name for p in files.iterdir())
    for split, count in COUNTS.items():
        assert len(ISIC2017Dataset(root, split)) == count
    assert not list(root.rglob("*_superpixels.png")) and not list(root.glob("*.zip")) and not list(root.glob("*.part"))
    image = next((data / "ISIC-2017_Test_v2_Data").glob("*.jpg"))
    assert (root / "ISIC-2017_Test_v2_Data" / image.name).read_bytes() == image.read_bytes()
    assert not (root / "__MACOSX").exists()

    before = len(server.requests)
    assert download_isic2017(root, mirror=server.url, checksums=md5) == []  # idempotent: nothing fetched
    assert len(server.requests) == before


def test_interrupted_transfer_resumes_with_range(server, release, tmp_path, monkeypatch):
    files, md5, data = release
    name = "ISIC-2017_Training_Data.zip"
    server.faults[name] = ["cut"]
    root = tmp_path / "isic"
    monkeypatch.setattr("isicseg.data.download.RETRIES", 0)  # the next run resumes (with retries, the same run does)
    with pytest.raises(
        DownloadError,
        match=r"The transfer of .*ISIC-2017_Training_Data.zip broke off .*run the same command again to resume",
    ):
        download_isic2017(root, ["train"], parts=["images"], mirror=server.url, checksums=md5)
    partial = root / (name + ".part")
    size = (files / name).stat().st_size
    assert (
        partial.stat().st_size == size // 2
        and not (root / name).exists()
        and not (root / "ISIC-2017_Training_Data").exists()
    )
    assert download_isic2017(
        root, ["train"], parts=["images"], mirror=server.url, checksums=md5, keep_archives=True
    ) == [name]
    assert server.requests[-1] == (name, f"bytes={size // 2}-")
    assert (root / name).read_bytes() == (files / name).read_bytes()  # the same bytes
    for image in (data / "ISIC-2017_Training_Data").glob("*.jpg"):
        assert (root / "ISIC-2017_Training_Data" / image.name).read_bytes() == image.read_bytes()


def test_wrong_checksum_is_refused_and_leaves_no_file(server, release, tmp_path):
    _, md5, _ = release
    wrong = {**md5, "ISIC-2017_Validation_Part1_GroundTruth.zip": "0" * 32}
    root = tmp_path / "isic"
    with pytest.raises(
        DownloadError,
        match=r"ISIC-2017_Validation_Part1_GroundTruth.zip from .* has MD5 [0-9a-f]{32}, but 0{32} was expected.*may have changed upstream.*--no-verify",
    ):
        download_isic2017(root, ["validation"], parts=["masks"], mirror=server.url, checksums=wrong)
    assert not root.exists()  # made by the call and left empty: removed
    assert download_isic2017(
        root, ["validation"], parts=["masks"], mirror=server.url, checksums=wrong, verify=False
    )  # skipping the check works


def test_progress_is_logged_with_bytes_rate_and_eta(server, release, tmp_path, monkeypatch, caplog):
    _, md5, _ = release
    monkeypatch.setattr("isicseg.data.download.PROGRESS_EVERY", 0.0)
    monkeypatch.setattr("isicseg.data.download._CHUNK", 256)  # many chunks even for a small file
    with caplog.at_level("INFO", logger="isicseg"):
        download_isic2017(tmp_path / "isic", ["validation"], parts=["images"], mirror=server.url, checksums=md5)
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("ISIC-2017_Validation_Data.zip: ")]
    assert len(lines) > 3
    assert all(" MB of " in line and " MB/s" in line for line in lines)
    assert any(", ETA " in line for line in lines) and lines[-1].endswith("(done)")


def test_reported_checksums_are_those_of_the_issue():
    assert REPORTED_MD5["ISIC-2017_Training_Data.zip"] == "a14a7e622c67a358797ae59abb8a0b0c"
    assert len(REPORTED_MD5) == 6


def test_member_escaping_the_root_is_refused(release, tmp_path):
    evil = tmp_path / "evil"
    evil.mkdir()
    for prefix, label in (("../", "dotdot"), ("/tmp/", "absolute")):
        with zipfile.ZipFile(evil / "ISIC-2017_Validation_Data.zip", "w") as z:
            z.writestr("ISIC-2017_Validation_Data/ISIC_0000001.jpg", b"x")
            z.writestr(f"{prefix}isicseg-escaped-{label}.txt", b"gotcha")
        root = tmp_path / f"isic-{label}"
        with pytest.raises(
            DatasetError,
            match=r"holds a member named '.*isicseg-escaped-.*', which would be written outside the data root",
        ):
            download_isic2017(root, ["validation"], parts=["images"], mirror=evil.as_uri(), verify=False)
        assert (
            not (tmp_path / f"isicseg-escaped-{label}.txt").exists()
            and not Path(f"/tmp/isicseg-escaped-{label}.txt").exists()
        )
        assert not (root / "ISIC-2017_Validation_Data").exists()


def test_http_404_names_url_status_and_what_to_do(server, tmp_path):
    server.folder = tmp_path  # an empty folder: every file is missing
    with pytest.raises(DownloadError) as info:
        download_isic2017(tmp_path / "isic", ["test"], parts=["labels"], mirror=server.url)
    message = str(info.value)
    assert f"Downloading {server.url}ISIC-2017_Test_v2_Part3_GroundTruth.csv failed (HTTP 404 Not Found)" in message
    assert "--mirror file:///that/folder" in message


def test_file_mirror_and_dataset_download_flag(release, tmp_path, monkeypatch):
    files, md5, _ = release
    root = tmp_path / "isic"
    assert (
        download_isic2017(root, ["validation"], mirror=files.as_uri(), checksums=md5) == []
    )  # read in place, nothing fetched
    assert len(ISIC2017Dataset(root, "validation")) == 3 and not list(root.glob("*.zip"))
    monkeypatch.setenv("ISICSEG_MIRROR", str(files))  # a plain folder works too
    monkeypatch.setattr("isicseg.data.download.REPORTED_MD5", md5)
    assert len(ISIC2017Dataset(tmp_path / "other", "test", download=True)) == 2


def test_cli_download_then_nothing_to_do(release, tmp_path, capsys):
    files, _, _ = release
    args = ["download", str(tmp_path / "isic"), "--split", "validation", "--mirror", files.as_uri(), "--no-verify"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "validation 3 images" in out and "OK" in out
    assert main(args) == 0
    assert "Everything asked for is already in" in capsys.readouterr().out


def test_bad_arguments(tmp_path):
    with pytest.raises(ConfigError, match=r"Unknown part 'pictures'; allowed: images, masks, labels"):
        download_isic2017(tmp_path, ["train"], parts=["pictures"], mirror=str(tmp_path))
    with pytest.raises(ConfigError, match=r"Unknown split 'dev'; allowed: train, validation, test"):
        download_isic2017(tmp_path, ["dev"], mirror=str(tmp_path))
    with pytest.raises(
        ConfigError, match=r"Mirror 'nowhere-at-all' is neither an http\(s\):// or file:// address nor a folder"
    ):
        download_isic2017(tmp_path, ["train"], mirror="nowhere-at-all")
    bad = tmp_path / "m"
    bad.mkdir()
    (bad / "ISIC-2017_Test_v2_Data.zip").write_bytes(b"not a zip")
    with pytest.raises(DatasetError, match=r"Archive .*ISIC-2017_Test_v2_Data.zip is not a readable zip file"):
        download_isic2017(tmp_path / "r", ["test"], parts=["images"], mirror=str(bad), verify=False)
    (bad / "ISIC-2017_Test_v2_Part1_GroundTruth.zip").write_bytes(_empty_zip())
    with pytest.raises(DatasetError, match=r"holds no file under ISIC-2017_Test_v2_Part1_GroundTruth/"):
        download_isic2017(tmp_path / "r", ["test"], parts=["masks"], mirror=str(bad), verify=False)


def _empty_zip() -> bytes:
    import io

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr("other/readme.txt", b"x")
    return buffer.getvalue()
