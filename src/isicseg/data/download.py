"""Download the ISIC 2017 challenge data into the official layout: verified, resumable, safe.

``isicseg download ROOT`` and ``ISIC2017Dataset(root, split, download=True)`` share
:func:`download_isic2017`. For each split it fetches the image zip
(``ISIC-2017_<Split>_Data.zip``), the mask zip (``..._Part1_GroundTruth.zip``) and the
label CSV (``..._Part3_GroundTruth.csv``) from the challenge's public bucket, or from a
mirror (``mirror=`` / ``--mirror`` / the ``ISICSEG_MIRROR`` environment variable; a
``file://`` folder of zips downloaded by hand works too), and:

* resumes an interrupted transfer with an HTTP ``Range`` request, and starts the file
  again when the server's reply does not continue it (a CSV is always fetched whole);
* retries with exponential backoff (:data:`RETRIES`, :data:`BACKOFF`) on HTTP 429 and 5xx
  replies and on dropped connections;
* checks the free disk space before a transfer (an archive and its extraction need
  about twice its size);
* writes to ``<name>.part`` and gives a file its final name only after it was verified:
  its MD5 where known, that a zip is a zip (not an HTML login page), that a CSV parses
  with the official columns and row count (:data:`OFFICIAL_COUNTS`);
* verifies what it finds on disk before using it or reporting it complete: an archive in
  the root is checked like a download; a CSV is parsed; a folder is complete when
  isicseg's record of its extraction (``.isicseg-download.json`` in the root) or the
  split's CSV says it holds every file. Anything incomplete or invalid is moved aside
  (renamed ``<name>.incomplete-<time>``), never deleted, and fetched afresh;
* extracts into exactly the layout :class:`~isicseg.ISIC2017Dataset` reads, refusing any
  zip member that would land outside the data root or that appears twice, and drops
  ``*_superpixels.png`` unless asked to keep them;
* never deletes a file it did not download in the same call: archives the user put in
  the root (or in a ``file://`` mirror) stay where they are;
* reports progress (bytes, rate, ETA) with a bar on a terminal and as log lines of the
  ``isicseg`` logger, and a closing summary.

Sizes reported by users: training images 5.3-5.8 GB, validation 0.8 GB, test 5.1 GB.
"""

from __future__ import annotations

import errno
import http.client
import json
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
from ..outputs import check_apart, output_lock
from .layout import SPLITS, read_ground_truth, split_paths

__all__ = [
    "BACKOFF",
    "DEFAULT_MIRROR",
    "HAM10000_COUNT",
    "HAM10000_MASKS_URL",
    "HAM10000_MD5",
    "HAM10000_PARTS",
    "ISIC2018_ARCHIVE",
    "MIRROR_ENV",
    "OFFICIAL_COUNTS",
    "REPORTED_MD5",
    "PARTS",
    "RETRIES",
    "RemoteFile",
    "download_ham10000",
    "download_isic2017",
    "ham10000_remote_files",
    "remote_files",
]

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

OFFICIAL_COUNTS: dict[str, int] = {"train": 2000, "validation": 150, "test": 600}
"""Images in each split of the official release, which a downloaded CSV must list
(checked unless ``verify=False``)."""

_CHUNK = 1 << 20
PROGRESS_EVERY = 10.0
"""Seconds between progress log lines."""
RETRIES = 4
"""Retries of a transfer after an HTTP 429/5xx reply or a dropped connection."""
BACKOFF = 2.0
"""Seconds before the first retry; doubled for each further one (a ``Retry-After`` reply wins, up to 60 s)."""
MANIFEST = ".isicseg-download.json"
"""isicseg's record, in the data root, of the folders it extracted and how many files each holds."""


@dataclass(frozen=True)
class RemoteFile:
    """One file of the release: its name, what it holds and where it ends up under the root."""

    name: str
    part: str
    target: str  # the folder (zips) or file (CSV) it becomes under the data root
    url: str = ""  # its official address; empty: DEFAULT_MIRROR + name

    @property
    def is_zip(self) -> bool:
        return self.name.endswith(".zip")


def _checked_parts(parts: Iterable[str], allowed: tuple[str, ...], what: str) -> list[str]:
    if isinstance(parts, (str, bytes)):
        raise ConfigError(f"parts must be a list of names; got one string {parts!r} (pass [{parts!r}]).")
    parts = list(parts)
    for part in parts:
        if part not in allowed:
            raise ConfigError(f"Unknown {what} {part!r}; allowed: {', '.join(allowed)}.")
    return parts


def remote_files(splits: Iterable[str], parts: Iterable[str]) -> list[RemoteFile]:
    """The release files of ``splits`` x ``parts``.

    Example:
        >>> [f.name for f in remote_files(["validation"], ["masks", "labels"])]
        ['ISIC-2017_Validation_Part1_GroundTruth.zip', 'ISIC-2017_Validation_Part3_GroundTruth.csv']
    """
    if isinstance(splits, (str, bytes)):
        raise ConfigError(f"splits must be a list of names; got one string {splits!r} (pass [{splits!r}]).")
    parts = _checked_parts(parts, PARTS, "part")
    files = []
    for split in splits:
        if split not in SPLITS:
            raise ConfigError(f"Unknown split {split!r}; allowed: {', '.join(SPLITS)}.")
        stem = f"ISIC-2017_{SPLITS[split]}"
        names = {
            "images": f"{stem}_Data",
            "masks": f"{stem}_Part1_GroundTruth",
            "labels": f"{stem}_Part3_GroundTruth.csv",
        }
        files += [RemoteFile(names[p] + ("" if p == "labels" else ".zip"), p, names[p]) for p in PARTS if p in parts]
    return files


class _Progress:
    """Bytes, rate and ETA: a tqdm bar on a terminal, and a log line every ``every`` seconds."""

    def __init__(self, name: str, total: int | None, done: int) -> None:
        from tqdm import tqdm

        self.name, self.total, self.done, self.every = name, total, done, PROGRESS_EVERY
        self.start, self.last, self.first = time.monotonic(), time.monotonic(), done
        self.bar = tqdm(
            total=total, initial=done, unit="B", unit_scale=True, desc=name, disable=not sys.stderr.isatty()
        )

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


def _http_error(url: str, error: Exception, attempts: int = 1) -> DownloadError:
    status = (
        f"HTTP {error.code} {error.reason}"
        if isinstance(error, urllib.error.HTTPError)
        else f"{type(error).__name__}: {getattr(error, 'reason', error)}"
    )
    tried = f" after {attempts} attempts" if attempts > 1 else ""
    return DownloadError(
        f"Downloading {url} failed ({status}){tried}. Check the address and your connection; or download the file "
        "by hand "
        f"(in a browser, from that address), put it in a folder and pass --mirror file:///that/folder "
        f"(or set {MIRROR_ENV})."
    )


class _Retry(Exception):
    """A transfer failure worth another attempt; ``final`` is the error to raise when attempts run out."""

    def __init__(self, final: DownloadError, wait: float | None = None) -> None:
        super().__init__(str(final))
        self.final, self.wait = final, wait


def _retry_after(error: urllib.error.HTTPError) -> float | None:
    value = error.headers.get("Retry-After") if error.headers else None
    try:
        return min(float(value), 60.0) if value is not None else None
    except ValueError:
        return None


def _fetch(url: str, dest: Path, *, resume: bool = True, extracted_too: bool = False) -> None:
    """Download ``url`` to ``dest`` (a ``.part`` file), resuming what it holds and retrying with backoff.

    torchvision's ``download_url`` starts over after an interruption and does not retry;
    a 5 GB archive needs both, which is why this part is written here.
    """
    for attempt in range(RETRIES + 1):
        try:
            return _fetch_once(url, dest, resume=resume, extracted_too=extracted_too)
        except _Retry as retry:
            if attempt == RETRIES:
                raise retry.final from None
            wait = retry.wait if retry.wait is not None else BACKOFF * 2**attempt
            logger.info("%s; retrying in %.1f s (attempt %d of %d)", retry, wait, attempt + 2, RETRIES + 1)
            time.sleep(wait)
    raise AssertionError("unreachable")


def _fetch_once(url: str, dest: Path, *, resume: bool, extracted_too: bool) -> None:
    if not resume:
        dest.unlink(missing_ok=True)
    have = dest.stat().st_size if dest.exists() else 0
    request = urllib.request.Request(
        url, headers={"User-Agent": "isicseg", **({"Range": f"bytes={have}-"} if have else {})}
    )
    try:
        response = urllib.request.urlopen(request, timeout=60)
    except urllib.error.HTTPError as error:
        if error.code == 416 and have:  # nothing left to send: the .part file is complete (its MD5 is checked next)
            return
        if error.code == 429 or error.code >= 500:
            raise _Retry(_http_error(url, error, RETRIES + 1), _retry_after(error)) from None
        raise _http_error(url, error) from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as error:
        raise _Retry(_http_error(url, error, RETRIES + 1)) from None
    with response:
        if (
            have
            and response.status == 206
            and not (response.headers.get("Content-Range") or "").startswith(f"bytes {have}-")
        ):
            logger.info(
                "%s: the server's reply to the range request (Content-Range %r) does not continue the file; "
                "starting it again",
                dest.name,
                response.headers.get("Content-Range"),
            )
            dest.unlink()
            raise _Retry(
                DownloadError(f"The server of {url} answers range requests wrongly; download the file by hand."), 0.0
            )
        resumed = bool(have) and response.status == 206
        if have and not resumed:
            logger.info("%s: the server ignored the range request; starting again", dest.name)
            have = 0
        length = response.headers.get("Content-Length")
        total = have + int(length) if length is not None and length.isdigit() else None
        if total is not None:
            _check_free_space(dest, total - have + (total if extracted_too else 0))
        _copy_body(response, dest, url, have if resumed else 0, total)


def _check_free_space(dest: Path, needed: int) -> None:
    free = shutil.disk_usage(dest.parent).free
    if free < needed:
        raise DownloadError(
            f"Not enough free disk space in {dest.parent}: {dest.name.removesuffix('.part')} needs about "
            f"{needed / 1e6:,.0f} MB "
            f"(the download{' and its extracted files' if dest.name.endswith('.zip.part') else ''}), "
            f"{free / 1e6:,.0f} MB are free. "
            f"Free some space or choose another data root; nothing was downloaded."
        )


def _copy_body(response, dest: Path, url: str, have: int, total: int | None) -> None:
    """Append (or write) the response body to ``dest``; a broken transfer is retried, a failed write is not."""
    progress = _Progress(dest.name.removesuffix(".part"), total, have)
    complete = False
    try:
        try:
            handle = dest.open("ab" if have else "wb")
        except OSError as error:
            raise _write_error(dest, error) from None
        with handle:
            while True:
                try:
                    chunk = response.read(_CHUNK)
                except (OSError, http.client.HTTPException) as error:
                    raise _Retry(
                        DownloadError(
                            f"The transfer of {url} broke off after {progress.done / 1e6:.1f} MB "
                            f"({type(error).__name__}: {error}); "
                            f"run the same command again to resume from {dest}."
                        )
                    ) from None
                if not chunk:
                    break
                try:
                    handle.write(chunk)
                except OSError as error:
                    raise _write_error(dest, error) from None
                progress.update(len(chunk))
        complete = total is None or progress.done >= total
    finally:
        progress.close(complete)
    if not complete:
        raise _Retry(
            DownloadError(
                f"The transfer of {url} broke off at {progress.done / 1e6:.1f} of {total / 1e6:.1f} MB; run the "
                f"same command again to resume from {dest}."
            )
        )


def _write_error(path: Path, error: OSError) -> DownloadError:
    if error.errno == errno.ENOSPC:
        return DownloadError(
            f"No space left on device while writing {path}; free some space, then run the same command again to resume."
        )
    return DownloadError(
        f"Cannot write {path} ({error.strerror or error}); check the data root's permissions. Nothing else was changed."
    )


def _safe_members(
    archive: zipfile.ZipFile, archive_path: Path, folder: str, keep_superpixels: bool, release: str = "ISIC 2017"
) -> list[zipfile.ZipInfo]:
    """The members to extract; any member that would escape the data root, or that appears twice, is refused.

    (``zipfile`` itself silently rewrites such names and lets a later member overwrite an
    earlier one; torchvision's ``extract_archive`` extracts everything.)
    """
    chosen, seen = [], set()
    for member in archive.infolist():
        path = PurePosixPath(member.filename.replace("\\", "/"))
        if path.is_absolute() or ".." in path.parts or (path.parts and ":" in path.parts[0]):
            raise DatasetError(
                f"Archive {archive_path} holds a member named {member.filename!r}, which would be written outside "
                "the data root; "
                f"refusing to extract it. The file is not the {release} release: delete it and download it again."
            )
        if member.is_dir() or not path.parts or path.parts[0] != folder or path.name.startswith("."):
            continue  # e.g. __MACOSX/ entries
        if not keep_superpixels and path.name.endswith("_superpixels.png"):
            continue
        key = str(path).lower()  # one file on a case-insensitive disk
        if key in seen:
            raise DatasetError(
                f"Archive {archive_path} holds {member.filename!r} twice; one copy would silently replace the other. "
                f"The file is not the {release} release: delete it and download it again."
            )
        seen.add(key)
        chosen.append(member)
    if not chosen:
        raise DatasetError(
            f"Archive {archive_path} holds no file under {folder}/; expected the {release} release's layout."
        )
    return chosen


def _extract(archive_path: Path, root: Path, folder: str, keep_superpixels: bool, release: str = "ISIC 2017") -> int:
    """Extract into ``root/folder`` through a temporary folder renamed at the end."""
    staging = root / f".{folder}.extracting"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        with zipfile.ZipFile(archive_path) as archive:
            members = _safe_members(archive, archive_path, folder, keep_superpixels, release)
            for member in members:
                target = staging / PurePosixPath(member.filename).relative_to(folder)
                try:
                    target.parent.mkdir(parents=True, exist_ok=True)
                    with archive.open(member) as source, target.open("wb") as handle:
                        shutil.copyfileobj(source, handle, _CHUNK)
                except (NotImplementedError, RuntimeError) as error:  # Deflate64, encryption ...
                    raise DatasetError(
                        f"Archive {archive_path}: member {member.filename!r} cannot be read by Python's zipfile "
                        f"({error}). "
                        f"Extract the archive with another tool (7-Zip, unzip) into {root}, or download it again."
                    ) from None
                except OSError as error:
                    if isinstance(error, zipfile.BadZipFile):
                        raise
                    raise DatasetError(
                        f"Cannot write {target.name} (member {member.filename!r} of {archive_path}) into {root} "
                        f"({error.strerror or error}); nothing was extracted."
                    ) from None
    except (zipfile.BadZipFile, EOFError) as error:
        shutil.rmtree(staging, ignore_errors=True)
        raise DatasetError(
            f"Archive {archive_path} is not a readable zip file ({error}); delete it and download it again."
        ) from None
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if (root / folder).exists():
        _move_aside(root / folder, "it is in the way of the extracted folder")
    staging.rename(root / folder)
    return len(members)


def _move_aside(path: Path, why: str) -> Path:
    """Rename ``path`` to ``<name>.incomplete-<time>`` (never delete what may be the user's) and say so."""
    stamp, number = time.strftime("%Y%m%d-%H%M%S"), 0
    aside = path.with_name(f"{path.name}.incomplete-{stamp}")
    while aside.exists():
        number += 1
        aside = path.with_name(f"{path.name}.incomplete-{stamp}-{number}")
    path.rename(aside)
    logger.warning("%s: %s; moved aside to %s (nothing was deleted) and fetched afresh.", path, why, aside.name)
    return aside


def _looks_like_html(path: Path) -> bool:
    with path.open("rb") as handle:
        head = handle.read(512).lstrip().lower()
    return head.startswith((b"<!doctype html", b"<html", b"<?xml", b"<head", b"<body"))


def _resolve_mirror(mirror: str | None, default: str | None = DEFAULT_MIRROR) -> str | None:
    """The base address every file is fetched from, or ``None``: each file's official address."""
    mirror = mirror or os.environ.get(MIRROR_ENV) or default
    if mirror is None:
        return None
    if not mirror.startswith(("http://", "https://", "file://")):
        path = Path(mirror).expanduser()
        if not path.is_dir():
            raise ConfigError(f"Mirror {mirror!r} is neither an http(s):// or file:// address nor a folder.")
        mirror = path.resolve().as_uri()
    return mirror if mirror.endswith("/") else mirror + "/"


class _Release:
    """What one dataset's release holds and how its files are verified (:func:`download_isic2017`,
    :func:`download_ham10000`)."""

    title = ""
    md5_source = "the value a public download script reports"

    def check_csv(self, path: Path, remote: RemoteFile, what: str, html: str, verify: bool) -> None:
        """Raise :class:`DatasetError` when the CSV at ``path`` is not the release's."""
        raise NotImplementedError

    def expected_names(self, root: Path, remote: RemoteFile) -> tuple[set[str], str]:
        """The file names the extracted folder of ``remote`` must hold, and the file that lists them;
        :class:`DownloadError` when that cannot be known."""
        raise NotImplementedError

    def check_folder(self, folder: Path, remote: RemoteFile, verify: bool) -> None:
        """Raise :class:`DatasetError` when an extracted folder's content is not the release's (default: no check)."""


class _ISIC2017(_Release):
    title = "ISIC 2017"

    def check_csv(self, path: Path, remote: RemoteFile, what: str, html: str, verify: bool) -> None:
        try:
            rows = read_ground_truth(path)
        except DatasetError as error:
            raise DatasetError(f"{what} is not the release's ground-truth CSV{html}: {error}") from None
        split = _split_of(remote)
        expected = OFFICIAL_COUNTS.get(split)
        if verify and expected is not None and len(rows) != expected:
            raise DatasetError(
                f"{what} lists {len(rows)} images, but the official {split} split has {expected} (a truncated or "
                "other file); "
                f"pass --no-verify (verify=False) for a release of another size."
            )

    def expected_names(self, root: Path, remote: RemoteFile) -> tuple[set[str], str]:
        csv = split_paths(root, _split_of(remote)).csv
        if not csv.is_file():
            raise DownloadError(
                f"{root / remote.target} is there, but isicseg has no record of extracting it and the split's CSV "
                f"{csv.name} is not in {root} "
                "to check it against. Download the labels too (--parts labels ...), or move the folder away to "
                "download it afresh."
            )
        ids = read_ground_truth(csv)
        return (
            {f"{i}.jpg" for i in ids} if remote.part == "images" else {f"{i}_segmentation.png" for i in ids}
        ), csv.name


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
        keep_archives: Keep the zips this call downloaded in ``root`` after extraction
            (archives that were there before, or that live in a mirror, are never removed).
        keep_superpixels: Extract the ``*_superpixels.png`` files too.
        checksums: MD5 by file name (default :data:`REPORTED_MD5`); files without one are
            not checked.
        verify: Check MD5 checksums and the CSVs' row counts (:data:`OFFICIAL_COUNTS`);
            ``False`` skips both, e.g. when the release changed upstream. Every other check
            (a zip is a zip, a CSV parses) always holds.

    Returns:
        The names of the files that were downloaded (empty when everything was present).

    Raises:
        DownloadError: When a transfer fails after :data:`RETRIES` retries (the message
            names the URL and the status), a checksum does not match, or the disk is full.
        DatasetError: When an archive is unreadable or holds a member outside its folder,
            or a CSV is not the release's.

    Example:
        >>> download_isic2017(getfixture("tmp_path"), ["validation"], parts=["labels"], mirror="file:///nowhere")
        Traceback (most recent call last):
        ...
        isicseg.exceptions.DownloadError: Downloading file:///nowhere/ISIC-2017_Validation_Part3_GroundTruth.csv ...
    """
    remotes = sorted(
        remote_files(splits, parts), key=lambda r: r.part != "labels"
    )  # CSVs first: they verify the folders
    job = _Download(
        Path(root),
        _resolve_mirror(mirror),
        REPORTED_MD5 if checksums is None else checksums,
        verify,
        keep_archives,
        keep_superpixels,
        _ISIC2017(),
    )
    return job.run(remotes)


# -- HAM10000 ------------------------------------------------------------------------------

ISIC2018_ARCHIVE = "https://isic-challenge-data.s3.amazonaws.com/2018/"
"""The ISIC 2018 challenge's public bucket (Task 3 images, labels and lesion groupings)."""
HAM10000_MASKS_URL = "https://dataverse.harvard.edu/api/access/datafile/3838943"
"""HAM10000's lesion masks, file 3838943 of the dataset's Harvard Dataverse record (DOI 10.7910/DVN/DBW86T)."""
HAM10000_PARTS = ("images", "masks", "labels")
"""What :func:`download_ham10000` can fetch (``labels``: the diagnoses and the lesion groupings)."""
HAM10000_COUNT = 10015
"""Images in HAM10000, which each of its CSVs must list (checked unless ``verify=False``)."""
HAM10000_MD5: dict[str, str] = {"HAM10000_segmentations_lesion_tschandl.zip": "6e8d252e09cfdb0189199f15985a5b84"}
"""MD5 that the Dataverse record publishes for the masks; the ISIC 2018 bucket publishes none for its files."""


def ham10000_remote_files(parts: Iterable[str] = HAM10000_PARTS) -> list[RemoteFile]:
    """The files of HAM10000 in the ISIC 2018 Task 3 layout, with its lesion masks, for ``parts``.

    ``labels`` are two files: the one-hot diagnoses (a zip holding
    ``ISIC2018_Task3_Training_GroundTruth.csv``) and the lesion groupings CSV.

    Example:
        >>> [f.name for f in ham10000_remote_files(["labels"])]
        ['ISIC2018_Task3_Training_GroundTruth.zip', 'ISIC2018_Task3_Training_LesionGroupings.csv']
    """
    from .ham10000 import MASK_FOLDER, TASK3_GROUPS, TASK3_IMAGES, TASK3_LABEL_FOLDER

    parts = _checked_parts(parts, HAM10000_PARTS, "HAM10000 part")
    files = {
        "labels": [
            RemoteFile(
                f"{TASK3_LABEL_FOLDER}.zip",
                "labels",
                TASK3_LABEL_FOLDER,
                ISIC2018_ARCHIVE + f"{TASK3_LABEL_FOLDER}.zip",
            ),
            RemoteFile(TASK3_GROUPS, "labels", TASK3_GROUPS, ISIC2018_ARCHIVE + TASK3_GROUPS),
        ],
        "images": [RemoteFile(f"{TASK3_IMAGES}.zip", "images", TASK3_IMAGES, ISIC2018_ARCHIVE + f"{TASK3_IMAGES}.zip")],
        "masks": [RemoteFile(f"{MASK_FOLDER}.zip", "masks", MASK_FOLDER, HAM10000_MASKS_URL)],
    }
    return [remote for part in ("labels", "images", "masks") if part in parts for remote in files[part]]


class _HAM10000(_Release):
    title = "HAM10000"
    md5_source = "the value the Dataverse record publishes"

    def _count(self, rows: int, what: str, verify: bool) -> None:
        if verify and rows != HAM10000_COUNT:
            raise DatasetError(
                f"{what} lists {rows} images, but HAM10000 has {HAM10000_COUNT} (a truncated or other file); "
                f"pass --no-verify (verify=False) for a release of another size."
            )

    def check_csv(self, path: Path, remote: RemoteFile, what: str, html: str, verify: bool) -> None:
        from .ham10000 import TASK3_COLUMNS, TASK3_GROUPS
        from .layout import read_table

        columns = (
            ("image", "lesion_id") if remote.name == TASK3_GROUPS else TASK3_COLUMNS
        )  # the groupings, or the diagnoses in the labels zip
        try:
            table = read_table(path, columns)
        except DatasetError as error:
            raise DatasetError(f"{what} is not the release's CSV{html}: {error}") from None
        self._count(len(table), what, verify)

    def check_folder(self, folder: Path, remote: RemoteFile, verify: bool) -> None:
        from .ham10000 import TASK3_LABELS

        if remote.part == "labels":
            self.check_csv(folder / TASK3_LABELS, remote, str(folder / TASK3_LABELS), "", verify)

    def expected_names(self, root: Path, remote: RemoteFile) -> tuple[set[str], str]:
        from .ham10000 import TASK3_LABELS, task3_labels_path

        if remote.part == "labels":
            return {TASK3_LABELS}, "the release"
        csv = task3_labels_path(root)
        if csv is None:
            raise DownloadError(
                f"{root / remote.target} is there, but isicseg has no record of extracting it and {TASK3_LABELS} "
                f"is not in {root} "
                "to check it against. Download the labels too (--parts labels ...), or move the folder away to "
                "download it afresh."
            )
        from .layout import read_table

        ids = read_table(csv, ("image",))["image"]
        return (
            {f"{i}.jpg" for i in ids} if remote.part == "images" else {f"{i}_segmentation.png" for i in ids}
        ), csv.name


def download_ham10000(
    root: str | Path,
    *,
    parts: Iterable[str] = HAM10000_PARTS,
    mirror: str | None = None,
    keep_archives: bool = False,
    checksums: Mapping[str, str] | None = None,
    verify: bool = True,
) -> list[str]:
    """Download HAM10000 into ``root`` in the ISIC 2018 Task 3 layout, with its lesion masks.

    The images and labels come from the ISIC 2018 challenge archive
    (:data:`ISIC2018_ARCHIVE`: ``ISIC2018_Task3_Training_Input.zip``, 10015 images, about
    2.8 GB; ``ISIC2018_Task3_Training_GroundTruth.zip``;
    ``ISIC2018_Task3_Training_LesionGroupings.csv``), the masks from the dataset's Harvard
    Dataverse record (:data:`HAM10000_MASKS_URL`, about 11 MB), with every rule of
    :func:`download_isic2017` (resumed, retried, verified before the final name, archives the
    user put there kept, nothing deleted that this call did not download).
    :class:`~isicseg.HAM10000Dataset` reads the result. HAM10000 is licensed
    CC BY-NC 4.0 (non-commercial use; cite Tschandl et al., Sci. Data 5, 180161, 2018).

    Args:
        root: The data root (created if missing).
        parts: Any of ``"images"``, ``"masks"``, ``"labels"``.
        mirror: Base URL or folder holding all the files under their names; default
            ``$ISICSEG_MIRROR``, else each file's official address.
        keep_archives: Keep the zips this call downloaded.
        checksums: MD5 by file name (default :data:`HAM10000_MD5`).
        verify: Check MD5s and that every CSV lists :data:`HAM10000_COUNT` images.

    Returns:
        The names of the files that were downloaded.

    Example:
        >>> download_ham10000(getfixture("tmp_path"), parts=["labels"], mirror="file:///nowhere")
        Traceback (most recent call last):
        ...
        isicseg.exceptions.DownloadError: Downloading file:///nowhere/ISIC2018_Task3_Training_GroundTruth.zip failed ...
    """
    remotes = ham10000_remote_files(parts)  # labels first: they verify the folders
    job = _Download(
        Path(root),
        _resolve_mirror(mirror, None),
        HAM10000_MD5 if checksums is None else checksums,
        verify,
        keep_archives,
        False,
        _HAM10000(),
    )
    return job.run(remotes)


def _split_of(remote: RemoteFile) -> str:
    return next(split for split, name in SPLITS.items() if remote.name.startswith(f"ISIC-2017_{name}_"))


class _Download:
    """One call of a download function: what it fetched, found and extracted."""

    def __init__(
        self,
        root: Path,
        base: str | None,
        checksums: Mapping[str, str],
        verify: bool,
        keep_archives: bool,
        keep_superpixels: bool,
        release: _Release,
    ) -> None:
        self.root, self.base, self.checksums, self.verify, self.release = root, base, checksums, verify, release
        self.keep_archives, self.keep_superpixels = keep_archives, keep_superpixels
        self.fetched: list[str] = []
        self.present: list[str] = []
        self.extracted: dict[str, int] = {}
        self.received = 0

    def run(self, remotes: list[RemoteFile]) -> list[str]:
        """Fetch ``remotes`` in order; the names of the files downloaded."""
        root = self.root
        if root.exists() and not root.is_dir():
            raise ConfigError(f"Data root {root} is a file; isicseg download fills a folder there. Choose a folder.")
        if self.base and self.base.startswith("file://"):
            mirror = Path(urllib.request.url2pathname(urllib.parse.urlparse(self.base).path))
            check_apart(
                [mirror / remote.name for remote in remotes if remote.is_zip],
                replaced=[root / remote.target for remote in remotes if remote.is_zip],
                command="download",
                advice="keep the mirror's files outside the folders download fills, or choose another root",
            )
        created = not root.exists()
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise DownloadError(f"Cannot create the data root {root} ({error.strerror or error}).") from None
        try:
            with output_lock(root, "download", what="Data root", advice="choose another root"):
                for remote in remotes:
                    self.get(remote)
        except BaseException:
            if created and not any(root.iterdir()):
                root.rmdir()  # made by this call and still empty: leave no trace
            raise
        logger.info("%s", self.summary())
        return self.fetched

    def get(self, remote: RemoteFile) -> None:
        target = self.root / remote.target
        if self._complete(remote, target):
            self.present.append(remote.target)
            return
        url = (
            self.base + urllib.parse.quote(remote.name) if self.base else remote.url
        )  # a mirror holds every file under its name
        archive, downloaded = self._source(remote, url)
        if remote.is_zip:
            count = _extract(archive, self.root, remote.target, self.keep_superpixels, self.release.title)
            try:
                self.release.check_folder(target, remote, self.verify)
            except DatasetError as error:
                _move_aside(target, str(error))
                raise
            self._record(remote.target, count)
            self.extracted[remote.name] = count
            logger.info("Extracted %d files of %s into %s", count, remote.name, target)
            if downloaded and not self.keep_archives:
                archive.unlink()
        elif archive != target:
            temporary = target.with_name(target.name + ".part")
            shutil.copyfile(archive, temporary)
            temporary.rename(target)

    def _source(self, remote: RemoteFile, url: str) -> tuple[Path, bool]:
        """A verified copy of ``remote``, and whether this call downloaded it (and may remove it)."""
        archive = self.root / remote.name
        if remote.is_zip and archive.is_file():  # put there by the user, or kept by an earlier call
            self._check(archive, remote, f"{archive} (found in the data root)", keep=True)
            return archive, False
        local = (
            Path(urllib.request.url2pathname(urllib.parse.urlparse(url).path)) if url.startswith("file://") else None
        )
        if local is not None:
            if not local.is_file():
                raise DownloadError(
                    f"Downloading {url} failed (no such file {local}). Put {remote.name} in that folder, or choose "
                    "another --mirror."
                )
            self._check(local, remote, f"Mirror file {local}", keep=True)
            return local, False  # read in place; nothing to copy
        partial = self.root / (remote.name + ".part")
        logger.info("Downloading %s", url)
        _fetch(url, partial, resume=remote.is_zip, extracted_too=remote.is_zip)  # a CSV is small: always fetched whole
        self.received += partial.stat().st_size
        self._check(partial, remote, f"{remote.name} from {url}", keep=False)
        partial.rename(archive)
        self.fetched.append(remote.name)
        return archive, True

    def _check(self, path: Path, remote: RemoteFile, what: str, *, keep: bool) -> None:
        """Verify a file before it is used: MD5, and that it holds what its name says. A bad ``.part`` is removed."""
        try:
            expected = self.checksums.get(remote.name) if self.verify else None
            if expected is not None and not check_md5(path, expected):
                from torchvision.datasets.utils import calculate_md5

                raise DownloadError(
                    f"{what} has MD5 {calculate_md5(path)}, but {expected} was expected "
                    f"({self.release.md5_source}); the file may have changed upstream, or the transfer was "
                    "corrupted. "
                    f"{'It was left in place: move it away to' if keep else 'It was not kept. Run again to'} "
                    "download it afresh, "
                    f"or skip the check with --no-verify (verify=False)."
                )
            html = " (it starts like an HTML page: a login or error page?)" if _looks_like_html(path) else ""
            if remote.is_zip and not zipfile.is_zipfile(path):
                raise DatasetError(
                    f"Archive {path} is not a readable zip file{html}; expected the release's {remote.name} ({what})."
                )
            if not remote.is_zip:
                self.release.check_csv(path, remote, what, html, self.verify)
        except (DownloadError, DatasetError):
            if not keep:
                path.unlink(missing_ok=True)
            raise

    def _complete(self, remote: RemoteFile, target: Path) -> bool:
        """Whether ``target`` is there and verified; an incomplete or invalid one is moved aside."""
        if not target.exists():
            return False
        if not remote.is_zip:
            try:
                self.release.check_csv(target, remote, str(target), "", self.verify)
                return True
            except DatasetError as error:
                _move_aside(target, str(error).removeprefix(f"{target} "))
                return False
        if not target.is_dir():
            _move_aside(target, "it is a file, not the release's folder")
            return False
        names = {p.name for p in target.iterdir()}
        recorded = self._manifest().get(remote.target, {}).get("files")
        if recorded is not None:
            if len(names) != recorded:
                _move_aside(target, f"it holds {len(names)} files, but {recorded} were extracted there")
                return False
        else:
            expected, listed_in = self.release.expected_names(self.root, remote)
            missing = sorted(expected - names)
            if missing:
                _move_aside(
                    target,
                    f"it lacks {len(missing)} of the {len(expected)} files {listed_in} lists (e.g. {missing[0]})",
                )
                return False
        try:
            self.release.check_folder(target, remote, self.verify)
        except DatasetError as error:
            _move_aside(target, str(error))
            return False
        if recorded is None:
            self._record(remote.target, len(names))
        return True

    def _manifest(self) -> dict:
        path = self.root / MANIFEST
        try:
            data = json.loads(path.read_text()) if path.is_file() else {}
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def _record(self, folder: str, count: int) -> None:
        manifest = {**self._manifest(), folder: {"files": count}}
        temporary = self.root / (MANIFEST + ".part")
        temporary.write_text(json.dumps(manifest, indent=1) + "\n")
        temporary.replace(self.root / MANIFEST)

    def summary(self) -> str:
        parts = [f"downloaded {len(self.fetched)} files ({self.received / 1e6:.1f} MB)"]
        if self.extracted:
            parts.append(f"extracted {len(self.extracted)} archives ({sum(self.extracted.values())} files)")
        if self.present:
            parts.append(f"{len(self.present)} already there and verified ({', '.join(self.present)})")
        return f"Download into {self.root}: " + "; ".join(parts) + "."
