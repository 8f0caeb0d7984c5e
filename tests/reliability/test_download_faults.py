"""``isicseg download`` against a faulty server and a data root with files in it: verify, never lose a file.

Every test asserts that nothing unverified carries a final name and that the user's files
are byte-identical afterwards.
"""

from __future__ import annotations

import logging
import shutil
import struct
import zipfile
from collections import namedtuple

import pytest

from isicseg.cli import main
from isicseg.data.download import MANIFEST, download_isic2017
from isicseg.exceptions import DatasetError, DownloadError

from ..helpers import snapshot
from ..release_server import LOGIN_PAGE, zip_folder

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("release_of_this_size")]

CSV = "ISIC-2017_Validation_Part3_GroundTruth.csv"
IMAGES = "ISIC-2017_Validation_Data"
IMAGES_ZIP = IMAGES + ".zip"


def _final_names(root) -> list[str]:
    """Files and folders with a final name (a failed first download leaves no root at all)."""
    return (
        sorted(p.name for p in root.iterdir() if not p.name.startswith(".") and not p.name.endswith(".part"))
        if root.exists()
        else []
    )


def test_archives_the_user_put_in_the_root_are_never_removed(release, tmp_path):
    files, md5, _ = release
    root = tmp_path / "isic"
    root.mkdir()
    for name in (IMAGES_ZIP, CSV):
        shutil.copy(files / name, root / name)
    before = snapshot(root)
    assert (
        download_isic2017(root, ["validation"], parts=["images", "labels"], mirror="file:///nowhere", checksums=md5)
        == []
    )
    assert len(list((root / IMAGES).glob("*.jpg"))) == 3
    assert {k: v for k, v in snapshot(root).items() if k in before} == before  # the hand-downloaded zip is still there
    mirror_is_root = tmp_path / "both"
    shutil.copytree(files, mirror_is_root)
    before = snapshot(mirror_is_root)
    download_isic2017(mirror_is_root, ["validation"], mirror=mirror_is_root.as_uri(), checksums=md5)
    assert {k: v for k, v in snapshot(mirror_is_root).items() if k in before} == before


def test_an_archive_in_the_root_is_checked_before_it_is_extracted(release, tmp_path, server):
    files, md5, _ = release
    root = tmp_path / "isic"
    root.mkdir()
    (root / IMAGES_ZIP).write_bytes((files / IMAGES_ZIP).read_bytes()[:-10])  # a truncated hand download
    before = snapshot(root)
    with pytest.raises(
        DownloadError, match=rf"{IMAGES_ZIP} \(found in the data root\) has MD5 .* It was left in place: move it away"
    ):
        download_isic2017(root, ["validation"], parts=["images"], mirror=server.url, checksums=md5)
    assert snapshot(root) == before and not (root / IMAGES).exists() and server.requests == []


def test_a_login_page_never_gets_the_final_name_and_a_rerun_replaces_it(release, tmp_path, server):
    files, md5, _ = release
    root = tmp_path / "isic"
    server.faults[CSV] = ["html"]
    with pytest.raises(
        DatasetError,
        match=rf"{CSV} from .* is not the release's ground-truth CSV \(it starts like an HTML page: a login or error page\?\)",
    ):
        download_isic2017(root, ["validation"], parts=["labels"], mirror=server.url, checksums=md5)
    assert not root.exists()
    server.faults[IMAGES_ZIP] = ["html"]
    with pytest.raises(DatasetError, match=r"is not a readable zip file \(it starts like an HTML page"):
        download_isic2017(root, ["validation"], parts=["images"], mirror=server.url, checksums={})
    assert _final_names(root) == []
    assert download_isic2017(root, ["validation"], parts=["labels"], mirror=server.url) == [CSV]
    assert (root / CSV).read_bytes() == (files / CSV).read_bytes()


def test_a_bad_csv_already_in_the_root_is_moved_aside_and_fetched_again(release, tmp_path, server, caplog):
    files, _, _ = release
    root = tmp_path / "isic"
    root.mkdir()
    (root / CSV).write_bytes(LOGIN_PAGE)  # what an earlier version kept under the final name
    with caplog.at_level(logging.WARNING, logger="isicseg"):
        assert download_isic2017(root, ["validation"], parts=["labels"], mirror=server.url) == [CSV]
    assert (root / CSV).read_bytes() == (files / CSV).read_bytes()
    aside = [p for p in root.iterdir() if p.name.startswith(CSV + ".incomplete-")]
    assert len(aside) == 1 and aside[0].read_bytes() == LOGIN_PAGE  # moved, not deleted
    assert "moved aside to" in caplog.text and "nothing was deleted" in caplog.text


def test_a_truncated_csv_is_refused_by_its_row_count(release, tmp_path):
    files, _, _ = release
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    lines = (files / CSV).read_text().splitlines()
    (mirror / CSV).write_text("\n".join(lines[:-1]) + "\n")
    with pytest.raises(
        DatasetError,
        match=rf"{CSV} lists 2 images, but the official validation split has 3 \(a truncated or other file\)",
    ):
        download_isic2017(tmp_path / "isic", ["validation"], parts=["labels"], mirror=str(mirror))
    assert not (tmp_path / "isic" / CSV).exists()
    assert (
        download_isic2017(tmp_path / "isic", ["validation"], parts=["labels"], mirror=str(mirror), verify=False) == []
    )


def test_a_stale_partial_csv_is_not_resumed(release, tmp_path, server):
    files, _, _ = release
    root = tmp_path / "isic"
    root.mkdir()
    (root / (CSV + ".part")).write_text(
        "image_id,melanoma,seborrheic_keratosis\nISIC_0000000,1.0,"
    )  # from an older release
    download_isic2017(root, ["validation"], parts=["labels"], mirror=server.url)
    assert (root / CSV).read_bytes() == (files / CSV).read_bytes()
    assert server.requests == [(CSV, None)]  # asked for the whole file, no Range


def test_a_wrong_reply_to_a_range_request_restarts_the_file(release, tmp_path, server):
    files, md5, _ = release
    root = tmp_path / "isic"
    root.mkdir()
    (root / (IMAGES_ZIP + ".part")).write_bytes((files / IMAGES_ZIP).read_bytes()[:100])
    server.faults[IMAGES_ZIP] = ["wrong-range"]
    download_isic2017(root, ["validation"], parts=["images"], mirror=server.url, checksums=md5, keep_archives=True)
    assert (root / IMAGES_ZIP).read_bytes() == (files / IMAGES_ZIP).read_bytes()
    assert server.requests == [(IMAGES_ZIP, "bytes=100-"), (IMAGES_ZIP, None)]


def test_server_errors_and_dropped_connections_are_retried_with_backoff(release, tmp_path, server, caplog, monkeypatch):
    files, md5, _ = release
    waits = []
    monkeypatch.setattr("isicseg.data.download.BACKOFF", 0.5)
    monkeypatch.setattr("isicseg.data.download.time.sleep", waits.append)
    server.faults[IMAGES_ZIP] = ["503", "cut", "429"]
    with caplog.at_level(logging.INFO, logger="isicseg"):
        assert download_isic2017(
            tmp_path / "isic", ["validation"], parts=["images"], mirror=server.url, checksums=md5
        ) == [IMAGES_ZIP]
    assert len(list((tmp_path / "isic" / IMAGES).glob("*.jpg"))) == 3
    assert waits == [0.0, 1.0, 0.0]  # Retry-After: 0 wins; the dropped connection backs off 0.5 * 2
    assert [r for _, r in server.requests][2] is not None  # the retry after the cut resumed with a Range request
    assert caplog.text.count("retrying in") == 3
    server.faults[CSV] = ["503"] * 10
    monkeypatch.setattr("isicseg.data.download.RETRIES", 2)
    with pytest.raises(DownloadError, match=r"failed \(HTTP 503 .*\) after 3 attempts"):
        download_isic2017(tmp_path / "isic", ["validation"], parts=["labels"], mirror=server.url)
    server.requests.clear()
    with pytest.raises(DownloadError, match=r"HTTP 404"):
        download_isic2017(tmp_path / "isic", ["validation"], parts=["labels"], mirror=server.url + "missing/")
    assert len(server.requests) == 1  # a 404 is not retried


def test_a_half_filled_folder_is_not_complete(release, tmp_path, server):
    files, md5, data = release
    root = tmp_path / "isic"
    root.mkdir()
    shutil.copy(files / CSV, root / CSV)
    (root / IMAGES).mkdir()
    first = sorted((data / IMAGES).glob("*.jpg"))[0]
    shutil.copy(first, root / IMAGES / first.name)  # one of three images, extracted by hand
    assert download_isic2017(root, ["validation"], parts=["images", "labels"], mirror=server.url, checksums=md5) == [
        IMAGES_ZIP
    ]
    assert len(list((root / IMAGES).glob("*.jpg"))) == 3
    aside = next(root.glob(IMAGES + ".incomplete-*"))
    assert [p.name for p in aside.iterdir()] == [first.name]  # the user's partial folder, moved, not deleted
    # a folder isicseg extracted and someone emptied in part is not complete either
    next((root / IMAGES).glob("*.jpg")).unlink()
    assert download_isic2017(root, ["validation"], parts=["images"], mirror=server.url, checksums=md5) == [IMAGES_ZIP]
    assert len(list((root / IMAGES).glob("*.jpg"))) == 3 and (root / MANIFEST).is_file()


def test_a_folder_that_cannot_be_verified_is_refused_not_trusted(tmp_path, server):
    root = tmp_path / "isic"
    (root / IMAGES).mkdir(parents=True)
    (root / IMAGES / "ISIC_0000001.jpg").write_bytes(b"x")
    before = snapshot(root)
    with pytest.raises(
        DownloadError, match=rf"{IMAGES} is there, but isicseg has no record of extracting it and the split's CSV {CSV}"
    ):
        download_isic2017(root, ["validation"], parts=["images"], mirror=server.url)
    assert snapshot(root) == before


def _patched_zip(tmp_path, *, flags: int = 0, method: int | None = None):
    """An images zip whose member headers claim encryption (flag bit 0) or another compression method (9: Deflate64)."""
    folder = tmp_path / "src"
    folder.mkdir()
    (folder / "ISIC_0000001.jpg").write_bytes(b"x" * 100)
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    zip_folder(folder, IMAGES, mirror / IMAGES_ZIP)
    raw = bytearray((mirror / IMAGES_ZIP).read_bytes())
    for signature, flag_at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        at = raw.find(signature)
        while at >= 0:
            old_flags, old_method = struct.unpack_from("<HH", raw, at + flag_at)
            struct.pack_into("<HH", raw, at + flag_at, old_flags | flags, old_method if method is None else method)
            at = raw.find(signature, at + 4)
    (mirror / IMAGES_ZIP).write_bytes(bytes(raw))
    return mirror


@pytest.mark.parametrize(("kind", "patch"), [("encrypted", {"flags": 1}), ("deflate64", {"method": 9})])
def test_members_zipfile_cannot_read_give_one_clear_error(tmp_path, kind, patch):
    mirror = _patched_zip(tmp_path, **patch)
    root = tmp_path / "isic"
    with pytest.raises(
        DatasetError,
        match=rf"member '{IMAGES}/ISIC_0000001.jpg' cannot be read by Python's zipfile .*Extract the archive with another tool",
    ):
        download_isic2017(root, ["validation"], parts=["images"], mirror=str(mirror), verify=False)
    assert not root.exists()  # made by the call, empty again: removed


def test_a_member_that_appears_twice_is_refused(tmp_path):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    with zipfile.ZipFile(mirror / IMAGES_ZIP, "w") as z, pytest.warns(UserWarning, match="Duplicate name"):
        z.writestr(f"{IMAGES}/ISIC_0000001.jpg", b"first")
        z.writestr(f"{IMAGES}/ISIC_0000001.jpg", b"second")
    with pytest.raises(
        DatasetError, match=rf"holds '{IMAGES}/ISIC_0000001.jpg' twice; one copy would silently replace the other"
    ):
        download_isic2017(tmp_path / "isic", ["validation"], parts=["images"], mirror=str(mirror), verify=False)


def test_not_enough_disk_space_is_said_before_the_transfer(release, tmp_path, server, monkeypatch):
    _, md5, _ = release
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr("isicseg.data.download.shutil.disk_usage", lambda path: usage(10**9, 10**9 - 100, 100))
    root = tmp_path / "isic"
    with pytest.raises(
        DownloadError,
        match=rf"Not enough free disk space in {root}: {IMAGES_ZIP} needs about .* MB \(the download and its extracted files\), 0 MB are free",
    ):
        download_isic2017(root, ["validation"], parts=["images"], mirror=server.url, checksums=md5)
    assert _final_names(root) == []


def test_a_closing_summary_is_logged(release, tmp_path, server, caplog):
    _, md5, _ = release
    with caplog.at_level(logging.INFO, logger="isicseg"):
        download_isic2017(tmp_path / "isic", ["validation"], mirror=server.url, checksums=md5)
        download_isic2017(tmp_path / "isic", ["validation"], mirror=server.url, checksums=md5)
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Download into")]
    assert (
        lines[0].startswith(f"Download into {tmp_path / 'isic'}: downloaded 3 files (")
        and "extracted 2 archives (6 files)" in lines[0]
    )
    assert lines[1].endswith(
        f"downloaded 0 files (0.0 MB); 3 already there and verified ({CSV}, {IMAGES}, ISIC-2017_Validation_Part1_GroundTruth)."
    )


def test_cli_download_of_labels_only_succeeds(release, tmp_path, capsys):
    files, _, _ = release
    root = tmp_path / "isic"
    assert main(["download", str(root), "--split", "validation", "--parts", "labels", "--mirror", str(files)]) == 0
    assert "Verified labels of validation" in capsys.readouterr().out


def test_cli_download_into_a_file_is_one_line(tmp_path, capsys):
    target = tmp_path / "file"
    target.write_text("mine")
    assert main(["download", str(target), "--mirror", str(tmp_path)]) == 2
    assert f"Data root {target} is a file" in capsys.readouterr().err and target.read_text() == "mine"
