"""``isicseg download ham10000``: a fake HAM10000 release (ISIC 2018 Task 3 zips and CSV, Dataverse masks) over a local HTTP server."""

from __future__ import annotations

import hashlib
import shutil
import zipfile
from pathlib import Path

import pytest

from isicseg import HAM10000Dataset
from isicseg.cli import main
from isicseg.data.download import download_ham10000, ham10000_remote_files
from isicseg.exceptions import DatasetError, DownloadError

from ..ham_layout import LESIONS, write_ham
from ..helpers import snapshot
from ..release_server import Server, zip_folder

IMAGES, MASKS, LABELS, GROUPS = (
    "ISIC2018_Task3_Training_Input",
    "HAM10000_segmentations_lesion_tschandl",
    "ISIC2018_Task3_Training_GroundTruth",
    "ISIC2018_Task3_Training_LesionGroupings.csv",
)
COUNT = sum(count for _, _, count in LESIONS)


@pytest.fixture(scope="module")
def ham_release(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """The release's files under their names, and their MD5s."""
    data = write_ham(tmp_path_factory.mktemp("ham_source"), layout="task3")
    files = tmp_path_factory.mktemp("ham_release")
    zip_folder(data / IMAGES, IMAGES, files / f"{IMAGES}.zip", {f"{IMAGES}/LICENSE.txt": b"CC BY-NC 4.0"})
    zip_folder(data / MASKS, MASKS, files / f"{MASKS}.zip", {"__MACOSX/._x": b"junk"})
    with zipfile.ZipFile(files / f"{LABELS}.zip", "w") as z:
        z.write(data / f"{LABELS}.csv", f"{LABELS}/{LABELS}.csv")
        z.writestr(f"{LABELS}/LICENSE.txt", "CC BY-NC 4.0")
    shutil.copy(data / GROUPS, files / GROUPS)
    return files, {p.name: hashlib.md5(p.read_bytes()).hexdigest() for p in files.iterdir() if p.suffix == ".zip"}


@pytest.fixture(autouse=True)
def _release_of_this_size(monkeypatch):
    monkeypatch.setattr("isicseg.data.download.HAM10000_COUNT", COUNT)
    monkeypatch.setattr("isicseg.data.download.BACKOFF", 0.0)


@pytest.fixture
def ham_server(ham_release):
    running = Server(ham_release[0])
    yield running
    running.close()


def test_the_downloaded_root_is_read_by_the_ham10000_reader_and_a_rerun_fetches_nothing(
    ham_release, ham_server, tmp_path
):
    files, md5 = ham_release
    root = tmp_path / "ham"
    fetched = download_ham10000(root, mirror=ham_server.url, checksums=md5)
    assert fetched == [
        f"{LABELS}.zip",
        GROUPS,
        f"{IMAGES}.zip",
        f"{MASKS}.zip",
    ]  # labels first: they verify the folders
    assert not any(root.glob("*.zip")) and not any(root.glob("*.part"))
    dataset = HAM10000Dataset(root, label_scheme="binary")
    assert len(dataset) == COUNT and dataset.left_out == {"no mask": 0, "diagnosis left out": 0}
    assert sorted(set(dataset.lesion_ids)) == sorted(lesion for lesion, _, _ in LESIONS)  # the groupings CSV was read
    validation = HAM10000Dataset(root, "validation", label_scheme="binary")
    train = HAM10000Dataset(root, "train", label_scheme="binary")
    assert not set(train.lesion_ids) & set(validation.lesion_ids)
    requests = len(ham_server.requests)
    assert download_ham10000(root, mirror=ham_server.url, checksums=md5) == []
    assert len(ham_server.requests) == requests  # everything verified on disk, nothing fetched


def test_without_a_mirror_each_file_comes_from_its_official_host(ham_release, tmp_path, monkeypatch):
    files, md5 = ham_release
    hosted = tmp_path / "hosts"
    (hosted / "2018").mkdir(parents=True)
    (hosted / "api" / "access" / "datafile").mkdir(parents=True)
    for name in (f"{LABELS}.zip", GROUPS, f"{IMAGES}.zip"):
        shutil.copy(files / name, hosted / "2018" / name)
    shutil.copy(files / f"{MASKS}.zip", hosted / "api" / "access" / "datafile" / "3838943")
    server = Server(hosted)
    try:
        monkeypatch.delenv("ISICSEG_MIRROR", raising=False)
        monkeypatch.setattr("isicseg.data.download.ISIC2018_ARCHIVE", server.url + "2018/")
        monkeypatch.setattr("isicseg.data.download.HAM10000_MASKS_URL", server.url + "api/access/datafile/3838943")
        download_ham10000(tmp_path / "ham", checksums=md5)
        assert server.names() == [
            f"2018/{LABELS}.zip",
            f"2018/{GROUPS}",
            f"2018/{IMAGES}.zip",
            "api/access/datafile/3838943",
        ]
    finally:
        server.close()
    assert len(HAM10000Dataset(tmp_path / "ham")) == COUNT


def test_the_reader_downloads_what_is_missing_when_asked(ham_release, ham_server, tmp_path, monkeypatch):
    monkeypatch.setenv("ISICSEG_MIRROR", ham_server.url)
    monkeypatch.setattr("isicseg.data.download.HAM10000_MD5", ham_release[1])
    root = tmp_path / "ham"
    dataset = HAM10000Dataset(root, label_scheme="binary", download=True)
    assert len(dataset) == COUNT and {r.dx for r in dataset.records} == {dx for _, dx, _ in LESIONS}
    with pytest.raises(Exception, match=r"download must be True or False; got 'yes'"):
        HAM10000Dataset(tmp_path / "other", download="yes")
    assert not (tmp_path / "other").exists()


def test_the_masks_md5_is_checked_and_a_bad_file_never_gets_its_final_name(ham_release, ham_server, tmp_path):
    files, md5 = ham_release
    root = tmp_path / "ham"
    with pytest.raises(
        DownloadError,
        match=rf"{MASKS}.zip from .* has MD5 {md5[MASKS + '.zip']}, but 0+ was expected \(the value the Dataverse record publishes\)",
    ):
        download_ham10000(root, parts=["masks"], mirror=ham_server.url, checksums={f"{MASKS}.zip": "0" * 32})
    assert not (root / MASKS).exists() and not any(root.glob("*.zip*"))


def test_a_truncated_groupings_csv_is_refused_by_its_row_count(ham_release, tmp_path):
    files, md5 = ham_release
    mirror = tmp_path / "mirror"
    shutil.copytree(files, mirror)
    lines = (mirror / GROUPS).read_text().splitlines()
    (mirror / GROUPS).write_text("\n".join(lines[:-3]) + "\n")
    root = tmp_path / "ham"
    with pytest.raises(
        DatasetError, match=rf"Mirror file .*{GROUPS} lists {COUNT - 3} images, but HAM10000 has {COUNT} .*--no-verify"
    ):
        download_ham10000(root, parts=["labels"], mirror=str(mirror), checksums=md5)
    assert not (root / GROUPS).exists()
    assert (
        download_ham10000(root, parts=["labels"], mirror=str(mirror), checksums=md5, verify=False) == []
    )  # read in place from the folder
    assert (root / GROUPS).is_file()


def test_a_labels_zip_that_holds_another_csv_is_moved_aside_not_used(ham_release, tmp_path):
    files, md5 = ham_release
    mirror = tmp_path / "mirror"
    shutil.copytree(files, mirror)
    with zipfile.ZipFile(mirror / f"{LABELS}.zip", "w") as z:
        z.writestr(f"{LABELS}/{LABELS}.csv", "image,melanoma\nISIC_0024306,1.0\n")
    root = tmp_path / "ham"
    with pytest.raises(DatasetError, match=rf"{LABELS}.csv .*lacks the columns"):
        download_ham10000(root, parts=["labels"], mirror=str(mirror), verify=False)
    assert not (root / LABELS).exists()
    aside = next(root.glob(f"{LABELS}.incomplete-*"))
    assert (aside / f"{LABELS}.csv").is_file()  # kept for a look, never deleted


def test_an_archive_the_user_put_in_the_root_is_verified_and_kept(ham_release, ham_server, tmp_path):
    files, md5 = ham_release
    root = tmp_path / "ham"
    root.mkdir()
    shutil.copy(files / f"{MASKS}.zip", root / f"{MASKS}.zip")
    download_ham10000(root, mirror=ham_server.url, checksums=md5)
    assert (root / f"{MASKS}.zip").read_bytes() == (files / f"{MASKS}.zip").read_bytes()
    assert f"{MASKS}.zip" not in ham_server.names()


def test_a_dropped_transfer_of_the_images_is_resumed(ham_release, ham_server, tmp_path):
    files, md5 = ham_release
    ham_server.faults[f"{IMAGES}.zip"] = ["cut"]
    download_ham10000(tmp_path / "ham", parts=["labels", "images"], mirror=ham_server.url, checksums=md5)
    ranges = [r for name, r in ham_server.requests if name == f"{IMAGES}.zip"]
    assert ranges[0] is None and ranges[1].startswith("bytes=") and ranges[1] != "bytes=0-"
    assert len(list((tmp_path / "ham" / IMAGES).glob("*.jpg"))) == COUNT


def test_cli_download_ham10000_checks_the_result(ham_release, ham_server, tmp_path, capsys):
    root = tmp_path / "ham"
    assert main(["download", "ham10000", str(root), "--mirror", ham_server.url, "--no-verify"]) == 0
    out = capsys.readouterr().out
    assert f"Downloaded {LABELS}.zip, {GROUPS}, {IMAGES}.zip, {MASKS}.zip into {root}." in out
    assert out.endswith(f"Checked {root}: ham10000 {COUNT} images\nOK\n")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["download", "ham10000", "{p}/ham", "--split", "train"],
            "HAM10000 has one split and no superpixels: --split and --keep-superpixels are for isic2017 only.",
        ),
        (
            ["download", "ham10000", "{p}/ham", "--keep-superpixels"],
            "--split and --keep-superpixels are for isic2017 only",
        ),
        (
            ["download", "ham1000", "{p}/ham"],
            "isicseg download takes [DATASET] ROOT; got 'ham1000 {p}/ham'. DATASET is one of isic2017, ham10000",
        ),
        (["download", "ham10000", "{p}/a", "{p}/b"], "isicseg download takes [DATASET] ROOT"),
        (
            ["download", "ham10000", "{p}/ham", "--parts", "labels", "--mirror", "file:///nowhere"],
            "ISIC2018_Task3_Training_GroundTruth.zip failed",
        ),
    ],
)
def test_cli_download_ham10000_refuses_bad_command_lines_in_one_line(tmp_path, capsys, argv, message):
    before = snapshot(tmp_path)
    assert main([a.format(p=tmp_path) for a in argv]) == 2
    err = capsys.readouterr().err
    assert message.format(p=tmp_path) in err and "Traceback" not in err
    assert snapshot(tmp_path) == before


def test_ham10000_parts_are_checked():
    with pytest.raises(Exception, match=r"Unknown HAM10000 part 'superpixels'; allowed: images, masks, labels"):
        ham10000_remote_files(["superpixels"])
    with pytest.raises(Exception, match=r"parts must be a list of names; got one string 'labels'"):
        ham10000_remote_files("labels")
