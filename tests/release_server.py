"""A fake ISIC 2017 release (zips and CSVs of synthetic data) and a local HTTP server (127.0.0.1 only) that serves it.

The server supports Range requests and can inject faults, one per request of a file, in
the order given: ``"cut"`` (half the body, then the connection closes), ``"503"``,
``"429"`` (with ``Retry-After: 0``), ``"html"`` (a login page with status 200) and
``"wrong-range"`` (a 206 reply to a range request that starts at byte 0).
"""

from __future__ import annotations

import hashlib
import shutil
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from isicseg.data.download import remote_files
from isicseg.data.synthetic import write_synthetic_isic

COUNTS = {"train": 5, "validation": 3, "test": 2}
LOGIN_PAGE = b"<!DOCTYPE html><html><body>Please log in</body></html>"


def zip_folder(source: Path, folder: str, archive: Path, extra: dict[str, bytes] | None = None) -> None:
    with zipfile.ZipFile(archive, "w") as z:
        for path in sorted(source.iterdir()):
            z.write(path, f"{folder}/{path.name}")
            if path.suffix == ".jpg":  # the release ships superpixel maps beside the images
                z.writestr(f"{folder}/{path.stem}_superpixels.png", b"not a real png")
        for name, data in (extra or {}).items():
            z.writestr(name, data)


def build_release(source: Path, files: Path) -> tuple[Path, dict[str, str], Path]:
    """The release's zips and CSVs built from synthetic data, their MD5s, and the data they hold."""
    data = write_synthetic_isic(source, num_images=COUNTS, image_size=(48, 64))
    for remote in remote_files(COUNTS, ["images", "masks", "labels"]):
        if remote.is_zip:
            zip_folder(data / remote.target, remote.target, files / remote.name, {"__MACOSX/._x": b"junk"})
        else:
            shutil.copy(data / remote.target, files / remote.name)
    md5 = {p.name: hashlib.md5(p.read_bytes()).hexdigest() for p in files.iterdir() if p.suffix == ".zip"}
    return files, md5, data


class Server:
    """Serves a folder over HTTP with Range support and the faults of the module docstring."""

    def __init__(self, folder: Path) -> None:
        self.folder, self.faults, self.requests = folder, {}, []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def do_GET(self):
                name = self.path.lstrip("/")
                server.requests.append((name, self.headers.get("Range")))
                fault = server.faults.get(name, []).pop(0) if server.faults.get(name) else None
                if fault in ("503", "429"):
                    self.send_response(int(fault))
                    self.send_header("Retry-After", "0")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                path = server.folder / name
                if not path.is_file():
                    self.send_error(404, "Not Found")
                    return
                data = LOGIN_PAGE if fault == "html" else path.read_bytes()
                start = int(self.headers["Range"].split("=")[1].rstrip("-")) if self.headers.get("Range") else 0
                if start >= len(data):
                    self.send_error(416, "Range Not Satisfiable")
                    return
                if fault == "wrong-range" and start:
                    start, status, sent = 0, 206, 0  # claims to continue, but sends the file from its start
                else:
                    status, sent = (206 if start else 200), start
                self.send_response(status)
                if status == 206:
                    self.send_header("Content-Range", f"bytes {sent}-{len(data) - 1}/{len(data)}")
                self.send_header("Content-Length", str(len(data) - start))
                self.end_headers()
                if fault == "cut":
                    self.wfile.write(data[start : start + (len(data) - start) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(data[start:])

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def names(self) -> list[str]:
        return [name for name, _ in self.requests]

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
