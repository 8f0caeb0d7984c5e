"""Download the ISIC 2017 challenge data into the official layout: verified, resumable, safe.

``isicseg download ROOT`` and ``ISIC2017Dataset(root, split, download=True)`` share
:func:`download_isic2017`. For each split it fetches the image zip
(``ISIC-2017_<Split>_Data.zip``), the mask zip (``..._Part1_GroundTruth.zip``) and the
label CSV (``..._Part3_GroundTruth.csv``) from the challenge's public bucket, or from a
mirror (``mirror=`` / ``--mirror`` / the ``ISICSEG_MIRROR`` environment variable; a
``file://`` folder of zips downloaded by hand works too), and:

* resumes an interrupted transfer with an HTTP ``Range`` request;
* writes to ``<name>.part`` and renames only after the MD5 checksum holds, so a
  half-written or corrupt file never carries the final name;
* extracts into exactly the layout :class:`~isicseg.ISIC2017Dataset` reads, refusing any
  zip member that would land outside the data root, and drops ``*_superpixels.png``
  unless asked to keep them;
* is idempotent: a file whose folder or CSV is already in the root is not downloaded
  again (folders and CSVs only ever appear by a rename once complete);
* reports progress (bytes, rate, ETA) with a bar on a terminal and as log lines of the
  ``isicseg`` logger.

Sizes reported by users: training images 5.3-5.8 GB, validation 0.8 GB, test 5.1 GB.
"""

from __future__ import annotations

import http.client
import logging
import os
import shutil
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from torchvision.datasets.utils import check_md5

from ..exceptions import ConfigError, DatasetError, DownloadError
from .layout import SPLITS

__all__ = ["DEFAULT_MIRROR", "MIRROR_ENV", "REPORTED_MD5", "PARTS", "RemoteFile", "download_isic2017", "remote_files"]

logger = logging.getLogger("isicseg")

DEFAULT_MIRROR = "https://isic-challenge-data.s3.amazonaws.com/2017/"
"""The challenge's public bucket."""
MIRROR_ENV = "ISICSEG_MIRROR"
"""Environment variable that replaces :data:`DEFAULT_MIRROR`."""
PARTS = ("images", "masks", "labels")

REPORTED_MD5: dict[str, str] = {
    "ISIC-2017_Training_Data.zip": "a14a7e622c67a358797ae59abb8a0b0c",
    "ISIC-2017_Training_Part1_GroundTruth.zip": "77fdbeb6fbec4139937224416b250f4c",
    "ISIC-2017_Validation_Data.zip": "8d6419d942112f709894c0d82f6c9038",
    "ISIC-2017_Validation_Part1_GroundTruth.zip": "64d3e68fa2deeb8a5e89aa8dec2efd44",
    "ISIC-2017_Test_v2_Data.zip": "5f6a0b5e1f2972bd1f5ea02680489f09",
    "ISIC-2017_Test_v2_Part1_GroundTruth.zip": "b1742de6bd257faca3b2b21a4aa3b781",
}
"""MD5 of the zips as a public download script reports them (not published by the
challenge; a mismatch may mean the file changed upstream). The CSVs have none."""

_CHUNK = 1 << 20
PROGRESS_EVERY = 10.0
"""Seconds between progress log lines."""


@dataclass(frozen=True)
class RemoteFile:
    """One file of the release: its name, what it holds and where it ends up under the root."""

    name: str
    part: str
    target: str  # the folder (zips) or file (CSV) it becomes under the data root

    @property
    def is_zip(self) -> bool:
        return self.name.endswith(".zip")


def remote_files(splits: Iterable[str], parts: Iterable[str]) -> list[RemoteFile]:
    """The release files of ``splits`` x ``parts``.

    Example:
        >>> [f.name for f in remote_files(["validation"], ["masks", "labels"])]
        ['ISIC-2017_Validation_Part1_GroundTruth.zip', 'ISIC-2017_Validation_Part3_GroundTruth.csv']
    """
    parts = list(parts)
    for part in parts:
        if part not in PARTS:
            raise ConfigError(f"Unknown part {part!r}; allowed: {', '.join(PARTS)}.")
    files = []
    for split in splits:
        if split not in SPLITS:
            raise ConfigError(f"Unknown split {split!r}; allowed: {', '.join(SPLITS)}.")
        stem = f"ISIC-2017_{SPLITS[split]}"
        names = {"images": f"{stem}_Data", "masks": f"{stem}_Part1_GroundTruth", "labels": f"{stem}_Part3_GroundTruth.csv"}
        files += [RemoteFile(names[p] + ("" if p == "labels" else ".zip"), p, names[p]) for p in PARTS if p in parts]
    return files


class _Progress:
    """Bytes, rate and ETA: a tqdm bar on a terminal, and a log line every ``every`` seconds."""

    def __init__(self, name: str, total: int | None, done: int) -> None:
        from tqdm import tqdm

        self.name, self.total, self.done, self.every = name, total, done, PROGRESS_EVERY
        self.start, self.last, self.first = time.monotonic(), time.monotonic(), done
        self.bar = tqdm(total=total, initial=done, unit="B", unit_scale=True, desc=name, disable=not sys.stderr.isatty())

    def update(self, count: int) -> None:
        self.done += count
        self.bar.update(count)
        now = time.monotonic()
        if now - self.last >= self.every:
            self.last = now
            logger.info("%s", self.line(now))

    def line(self, now: float) -> str:
        rate = (self.done - self.first) / max(now - self.start, 1e-9)
        total = f" of {self.total / 1e6:.1f} MB" if self.total else ""
        eta = f", ETA {(self.total - self.done) / rate:.0f} s" if self.total and rate > 0 else ""
        return f"{self.name}: {self.done / 1e6:.1f} MB{total} at {rate / 1e6:.2f} MB/s{eta}"

    def close(self, complete: bool) -> None:
        self.bar.close()
        logger.info("%s (%s)", self.line(time.monotonic()), "done" if complete else "interrupted")


def _http_error(url: str, error: Exception) -> DownloadError:
    status = f"HTTP {error.code} {error.reason}" if isinstance(error, urllib.error.HTTPError) else f"{type(error).__name__}: {getattr(error, 'reason', error)}"
    return DownloadError(
        f"Downloading {url} failed ({status}). Check the address and your connection; or download the file by hand "
        f"(in a browser, from {DEFAULT_MIRROR}), put it in a folder and pass --mirror file:///that/folder "
        f"(or set {MIRROR_ENV})."
    )


def _fetch(url: str, dest: Path) -> None:
    """Download ``url`` to ``dest`` (a ``.part`` file), resuming what ``dest`` already holds.

    torchvision's ``download_url`` starts over after an interruption; a 5 GB archive
    needs an HTTP Range request, which is why this part is written here.
    """
    have = dest.stat().st_size if dest.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": "isicseg", **({"Range": f"bytes={have}-"} if have else {})})
    try:
        response = urllib.request.urlopen(request, timeout=60)
    except urllib.error.HTTPError as error:
        if error.code == 416 and have:  # nothing left to send: the .part file is complete
            return
        raise _http_error(url, error) from None
    except (urllib.error.URLError, OSError) as error:
        raise _http_error(url, error) from None
    with response:
        resumed = have and response.status == 206
        if have and not resumed:
            logger.info("%s: the server ignored the range request; starting again", dest.name)
            have = 0
        length = response.headers.get("Content-Length")
        progress = _Progress(dest.name.removesuffix(".part"), have + int(length) if length else None, have)
        complete = False
        try:
            with dest.open("ab" if resumed else "wb") as handle:
                while chunk := response.read(_CHUNK):
                    handle.write(chunk)
                    progress.update(len(chunk))
            complete = length is None or progress.done >= have + int(length)
        except (OSError, http.client.HTTPException) as error:
            raise DownloadError(
                f"The transfer of {url} broke off after {progress.done / 1e6:.1f} MB ({type(error).__name__}: {error}); "
                f"run the same command again to resume from {dest}."
            ) from None
        finally:
            progress.close(complete)
    if length is not None and dest.stat().st_size < have + int(length):
        raise DownloadError(
            f"The transfer of {url} broke off at {dest.stat().st_size / 1e6:.1f} of {(have + int(length)) / 1e6:.1f} MB; "
            f"run the same command again to resume from {dest}."
        )


def _safe_members(archive: zipfile.ZipFile, archive_path: Path, folder: str, keep_superpixels: bool) -> list[zipfile.ZipInfo]:
    """The members to extract; any member that would escape the data root is refused.

    (``zipfile`` itself silently rewrites such names, and torchvision's ``extract_archive``
    extracts everything; a release archive that holds one is not what it claims to be.)
    """
    chosen = []
    for member in archive.infolist():
        path = PurePosixPath(member.filename.replace("\\", "/"))
        if path.is_absolute() or ".." in path.parts or (path.parts and ":" in path.parts[0]):
            raise DatasetError(
                f"Archive {archive_path} holds a member named {member.filename!r}, which would be written outside the data root; "
                f"refusing to extract it. The file is not the ISIC 2017 release: delete it and download it again."
            )
        if member.is_dir() or not path.parts or path.parts[0] != folder or path.name.startswith("."):
            continue  # e.g. __MACOSX/ entries
        if not keep_superpixels and path.name.endswith("_superpixels.png"):
            continue
        chosen.append(member)
    if not chosen:
        raise DatasetError(f"Archive {archive_path} holds no file under {folder}/; expected the ISIC 2017 release's layout.")
    return chosen


def _extract(archive_path: Path, root: Path, folder: str, keep_superpixels: bool) -> int:
    """Extract into ``root/folder`` through a temporary folder renamed at the end."""
    staging = root / f".{folder}.extracting"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        with zipfile.ZipFile(archive_path) as archive:
            members = _safe_members(archive, archive_path, folder, keep_superpixels)
            for member in members:
                target = staging / PurePosixPath(member.filename).relative_to(folder)
                target.parent.mkdir(parents=True, exist_ok=True)
                with archive.open(member) as source, target.open("wb") as handle:
                    shutil.copyfileobj(source, handle, _CHUNK)
    except zipfile.BadZipFile as error:
        shutil.rmtree(staging, ignore_errors=True)
        raise DatasetError(f"Archive {archive_path} is not a readable zip file ({error}); delete it and download it again.") from None
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if (root / folder).exists():
        shutil.rmtree(root / folder)
    staging.rename(root / folder)
    return len(members)


def _present(target: Path) -> bool:
    """A folder or CSV that is there is complete: both only ever appear by a rename at the end."""
    return target.is_file() or (target.is_dir() and any(target.iterdir()))


def _resolve_mirror(mirror: str | None) -> str:
    mirror = mirror or os.environ.get(MIRROR_ENV) or DEFAULT_MIRROR
    if not mirror.startswith(("http://", "https://", "file://")):
        path = Path(mirror).expanduser()
        if not path.is_dir():
            raise ConfigError(f"Mirror {mirror!r} is neither an http(s):// or file:// address nor a folder.")
        mirror = path.resolve().as_uri()
    return mirror if mirror.endswith("/") else mirror + "/"


def download_isic2017(
    root: str | Path,
    splits: Iterable[str] = ("train", "validation", "test"),
    *,
    parts: Iterable[str] = PARTS,
    mirror: str | None = None,
    keep_archives: bool = False,
    keep_superpixels: bool = False,
    checksums: Mapping[str, str] | None = None,
    verify: bool = True,
) -> list[str]:
    """Download and extract ISIC 2017 files into ``root`` in the official layout.

    Args:
        root: The data root (created if missing).
        splits: Any of ``"train"``, ``"validation"``, ``"test"``.
        parts: Any of ``"images"``, ``"masks"``, ``"labels"``.
        mirror: Base URL (``https://...``, ``file:///folder``) or a local folder holding
            the files; default ``$ISICSEG_MIRROR`` or :data:`DEFAULT_MIRROR`.
        keep_archives: Keep the downloaded zips in ``root`` after extraction.
        keep_superpixels: Extract the ``*_superpixels.png`` files too.
        checksums: MD5 by file name (default :data:`REPORTED_MD5`); files without one are
            not checked.
        verify: Check MD5 checksums (``False`` skips the check, e.g. when the release
            changed upstream).

    Returns:
        The names of the files that were downloaded (empty when everything was present).

    Raises:
        DownloadError: When a transfer fails (the message names the URL and the status)
            or a checksum does not match.
        DatasetError: When an archive is unreadable or holds a member outside its folder.

    Example:
        >>> download_isic2017(getfixture("tmp_path"), ["validation"], parts=["labels"], mirror="file:///nowhere")
        Traceback (most recent call last):
        ...
        isicseg.exceptions.DownloadError: Downloading file:///nowhere/ISIC-2017_Validation_Part3_GroundTruth.csv failed ...
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    base = _resolve_mirror(mirror)
    checksums = REPORTED_MD5 if checksums is None else checksums
    fetched: list[str] = []
    for remote in remote_files(splits, parts):
        target = root / remote.target
        if _present(target):
            continue
        url = base + urllib.parse.quote(remote.name)
        local = Path(urllib.request.url2pathname(urllib.parse.urlparse(url).path)) if url.startswith("file://") else None
        if local is None or not local.is_file():
            if local is not None:
                raise DownloadError(f"Downloading {url} failed (no such file {local}). Put {remote.name} in that folder, or choose another --mirror.")
            archive = root / remote.name
            if not archive.is_file():
                partial = root / (remote.name + ".part")
                logger.info("Downloading %s", url)
                _fetch(url, partial)
                _verify(partial, remote.name, checksums, verify, url)
                partial.rename(archive)
                fetched.append(remote.name)
        else:
            archive = local  # read straight from the local mirror; nothing to copy
            _verify(local, remote.name, checksums, verify, url)
        if remote.is_zip:
            count = _extract(archive, root, remote.target, keep_superpixels)
            logger.info("Extracted %d files of %s into %s", count, remote.name, target)
            if archive.parent == root and not keep_archives:
                archive.unlink()
        elif archive != target:
            temporary = target.with_name(target.name + ".part")
            shutil.copyfile(archive, temporary)
            temporary.rename(target)
    return fetched


def _verify(path: Path, name: str, checksums: Mapping[str, str], verify: bool, url: str) -> None:
    expected = checksums.get(name)
    if not verify or expected is None:
        return
    if not check_md5(path, expected):
        from torchvision.datasets.utils import calculate_md5

        actual = calculate_md5(path)
        if path.suffix == ".part":
            path.unlink()  # complete but wrong: resuming it cannot help
        raise DownloadError(
            f"{name} from {url} has MD5 {actual}, but {expected} was expected (the value a public download script "
            f"reports); the file may have changed upstream, or the transfer was corrupted. It was not kept. "
            f"Run again to download it afresh, or skip the check with --no-verify (verify=False)."
        )
