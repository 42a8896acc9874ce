"""vda-download-weights: fetch the official Video Depth Anything checkpoints and verify them.

Files come from the official Hugging Face repositories over plain HTTPS (urllib, no extra
dependencies). Each download goes to a hidden .STEM.partial-PID.pth beside it, is hashed while it
streams, and is renamed to NAME only when its sha256 matches, so an interrupted or corrupted
download never looks like a checkpoint. Verified hashes are recorded in DIR/SHA256SUMS (`sha256sum -c` format).

Where the expected sha256 comes from, in order of trust (every source present must agree):
1. PUBLISHED_SHA256 below, copied from the Hugging Face file pages ("Git LFS Details").
2. DIR/SHA256SUMS, hashes this tool verified on an earlier download.
3. The X-Linked-ETag header the hub sends with a resolve URL, which for LFS files is the file's
   sha256 (the hub's own client checks downloads against it). This is the only source for the
   three metric checkpoints, whose published hashes we could not find. It vouches for the
   transfer, not for the file: it comes over the same connection as the data.
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
import urllib.error
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass
from email.message import Message
from http.client import HTTPException, HTTPMessage, HTTPResponse
from pathlib import Path
from typing import IO, BinaryIO

from tqdm import tqdm

from vda_ros import __version__
from vda_ros.core.options import OptionError, Settings, option
from vda_ros.errors import VdaError
from vda_ros.io.files import atomic_output
from vda_ros.model import ENCODERS, checkpoint_filename, default_checkpoint_dir

HUB_URL = "https://huggingface.co"
BASE_URL_ENV = "VDA_WEIGHTS_BASE_URL"
SUMS_FILE = "SHA256SUMS"
TIMEOUT_S = 60
CHUNK = 1 << 20
_REPO_SIZES = {"vits": "Small", "vitb": "Base", "vitl": "Large"}
_NON_COMMERCIAL = {"vitb", "vitl"}
_SHA256 = re.compile(r"^[0-9a-f]{64}$")

PUBLISHED_SHA256 = {
    # depth-anything/Video-Depth-Anything-Small, file page at commit a396fdd.
    "video_depth_anything_vits.pth": "13379300b739e659f076a59d52e9801bd8d38c541a7e71f73bbca4dcfb013609",
    # depth-anything/Video-Depth-Anything-Large, file page at commit 931612f (1,538,392,012 bytes).
    "video_depth_anything_vitl.pth": "43df27c6b396042ba34ff7b798ab279f64d204d2e86d7a373968f8fa36d0e6fa",
    # Not from the official page (stored with Xet there; its page showed no hash to us): taken
    # from a public mirror of the file (AEmotionStudio/Video-Depth-Anything-Base), whose copy
    # of the vitl file has exactly the official hash above; 458,247,082 bytes, as the official
    # page's 458 MB.
    "video_depth_anything_vitb.pth": "775e578e8f9431ec0496514aa466bd0a1f67c28d0f518267809f35a43c04329b",
}


class DownloadError(VdaError, RuntimeError):
    """A checkpoint could not be fetched or verified; the message says what, where and why."""


@dataclass(frozen=True)
class OfficialCheckpoint:
    """One of the six released files."""

    encoder: str
    metric: bool

    @property
    def filename(self) -> str:
        return checkpoint_filename(self.encoder, self.metric)

    @property
    def repo(self) -> str:
        family = "Metric-Video-Depth-Anything" if self.metric else "Video-Depth-Anything"
        return f"depth-anything/{family}-{_REPO_SIZES[self.encoder]}"

    @property
    def licence(self) -> str:
        return "CC-BY-NC-4.0 (non-commercial use only)" if self.encoder in _NON_COMMERCIAL else "Apache-2.0"

    def url(self, base_url: str) -> str:
        return f"{base_url.rstrip('/')}/{self.repo}/resolve/main/{self.filename}"


def selected_checkpoints(encoder: str, metric: bool, both: bool) -> list[OfficialCheckpoint]:
    """The files asked for: one encoder or all, relative or metric or both families."""
    encoders = ENCODERS if encoder == "all" else (encoder,)
    families = (False, True) if both else (metric,)
    return [OfficialCheckpoint(e, m) for e in encoders for m in families]


@dataclass(frozen=True)
class WeightsSettings(Settings):
    """Which official checkpoints to fetch, where to, and from which server.

    `encoder` and `metric` choose files to download (`all` of them, or both families), not the model a tool
    runs: they are this tool's own options, not ModelSettings' (whose encoder has `auto` and no `all`).
    """

    encoder: str = option("vits", "Model size, or all of them.", choices=(*ENCODERS, "all"))
    metric: bool = option(False, "The metric-depth checkpoints instead of the relative ones.")
    all: bool = option(False, "Both the relative and the metric checkpoints.")
    dir: str = option("", "Target folder; empty: $VDA_CHECKPOINT_DIR, else ./checkpoints.")
    force: bool = option(False, "Download again even when the file is present.")
    base_url: str = option("", f"Server to download from; empty: ${BASE_URL_ENV}, else {HUB_URL}.")

    def check(self) -> None:
        if self.metric and self.all:
            raise OptionError("give metric or all, not both: all already includes the metric checkpoints")

    @property
    def directory(self) -> Path:
        return Path(self.dir) if self.dir else default_checkpoint_dir()

    @property
    def url(self) -> str:
        """The server: base_url, else $VDA_WEIGHTS_BASE_URL (read now, not at import), else the hub."""
        return self.base_url or os.environ.get(BASE_URL_ENV, HUB_URL)

    @property
    def checkpoints(self) -> list[OfficialCheckpoint]:
        return selected_checkpoints(self.encoder, self.metric, self.all)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as source:
        for block in iter(lambda: source.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def read_sums(directory: Path) -> dict[str, str]:
    """Recorded hashes by file name; empty when there is no SHA256SUMS yet."""
    sums: dict[str, str] = {}
    path = directory / SUMS_FILE
    if path.is_file():
        for line in path.read_text().splitlines():
            digest, _, name = line.partition("  ")
            if _SHA256.match(digest) and name:
                sums[name.strip()] = digest
    return sums


def record_sum(directory: Path, filename: str, digest: str) -> None:
    """Add or replace one line of SHA256SUMS, written atomically."""
    sums = read_sums(directory)
    sums[filename] = digest
    with atomic_output(directory / SUMS_FILE) as temporary:
        temporary.write_text("".join(f"{sums[name]}  {name}\n" for name in sorted(sums)))


def agreed_sha256(filename: str, candidates: dict[str, str | None]) -> str:
    """The one hash all available sources give, or DownloadError when they differ or none exists."""
    known = {source: digest for source, digest in candidates.items() if digest}
    if not known:
        raise DownloadError(
            f"no sha256 is known for {filename}: it is not published in vda_ros.model.weights and the "
            "server declared none (X-Linked-ETag header); refusing to keep an unverified file"
        )
    if len(set(known.values())) > 1:
        listed = "; ".join(f"{source}: {digest}" for source, digest in known.items())
        raise DownloadError(f"conflicting sha256 for {filename} ({listed}); nothing was kept")
    return next(iter(known.values()))


def linked_sha256(headers: Iterable[Message]) -> str | None:
    """The LFS sha256 that the hub declares in X-Linked-ETag, from the first response carrying one."""
    for message in headers:
        value = (message.get("X-Linked-ETag") or "").removeprefix("W/").strip().strip('"').lower()
        if _SHA256.match(value):
            return value
    return None


class _HeaderRecorder(urllib.request.HTTPRedirectHandler):
    """Keeps the headers of each redirect: the hub sends X-Linked-ETag on its redirect to the
    storage host, and urllib would otherwise drop that response once it follows the redirect."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[Message] = []

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: HTTPMessage,
        newurl: str,
    ) -> urllib.request.Request | None:
        self.seen.append(headers)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _open(url: str) -> tuple[HTTPResponse, list[Message]]:
    """GET url following redirects; returns the final response and every header set seen."""
    recorder = _HeaderRecorder()
    opener = urllib.request.build_opener(recorder)
    request = urllib.request.Request(url, headers={"User-Agent": f"vda_ros/{__version__}"})
    response = opener.open(request, timeout=TIMEOUT_S)
    return response, [*recorder.seen, response.headers]


def _stream(response: HTTPResponse, target: BinaryIO, label: str) -> str:
    """Copy the body to target with a progress bar and return its sha256.

    A connection that closes early ends the body without an error from http.client, so the byte
    count is checked against Content-Length: a cut-short transfer is reported as such, not as a
    file with the wrong hash.
    """
    digest = hashlib.sha256()
    total = int(response.headers.get("Content-Length") or 0) or None
    received = 0
    with tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=label) as progress:
        for block in iter(lambda: response.read(CHUNK), b""):
            digest.update(block)
            target.write(block)
            received += len(block)
            progress.update(len(block))
    if total is not None and received != total:
        raise DownloadError(
            f"download of {label} incomplete: expected {total} bytes, got {received} (connection closed early?); "
            "the file was discarded"
        )
    return digest.hexdigest()


def download(checkpoint: OfficialCheckpoint, directory: Path, base_url: str) -> Path:
    """Fetch one file into directory, verify it, rename it into place and record its hash."""
    target = directory / checkpoint.filename
    url = checkpoint.url(base_url)
    try:
        response, headers = _open(url)
        with response:
            expected = agreed_sha256(
                checkpoint.filename,
                {
                    "published in vda_ros.model.weights": PUBLISHED_SHA256.get(checkpoint.filename),
                    f"recorded in {directory / SUMS_FILE}": read_sums(directory).get(checkpoint.filename),
                    "declared by the server": linked_sha256(headers),
                },
            )
            directory.mkdir(parents=True, exist_ok=True)
            with atomic_output(target) as partial:
                with open(partial, "wb") as sink:
                    actual = _stream(response, sink, checkpoint.filename)
                if actual != expected:
                    raise DownloadError(
                        f"sha256 mismatch for {checkpoint.filename} from {url}: got {actual}, expected "
                        f"{expected}; the file was discarded"
                    )
    except DownloadError:
        raise
    except urllib.error.HTTPError as error:
        raise DownloadError(f"could not download {url}: HTTP {error.code} {error.reason}") from error
    except urllib.error.URLError as error:
        raise DownloadError(f"could not download {url}: {error.reason} (no network access?)") from error
    except (OSError, ValueError, HTTPException) as error:
        raise DownloadError(f"could not download {url}: {error}") from error
    record_sum(directory, checkpoint.filename, actual)
    return target


def check_existing(path: Path) -> str:
    """Describe an already present file after checking it against the known hashes."""
    known = {digest for digest in (PUBLISHED_SHA256.get(path.name), read_sums(path.parent).get(path.name)) if digest}
    if not known:
        return f"{path}: present (no sha256 on record to check it against; --force downloads it again)"
    actual = sha256_of(path)
    if actual not in known or len(known) > 1:
        raise DownloadError(
            f"{path} is present but its sha256 {actual} is not the expected {' or '.join(sorted(known))}; "
            "delete it or run again with --force"
        )
    return f"{path}: present, sha256 ok"


def obtain(checkpoint: OfficialCheckpoint, directory: Path, base_url: str, force: bool) -> str:
    """Check the file if it is present, else download it; returns a one-line report."""
    target = directory / checkpoint.filename
    if target.exists() and not force:
        return check_existing(target)
    print(f"downloading {checkpoint.filename} from {checkpoint.repo} (licence {checkpoint.licence})", file=sys.stderr)
    return f"{download(checkpoint, directory, base_url)}: downloaded, sha256 ok"
