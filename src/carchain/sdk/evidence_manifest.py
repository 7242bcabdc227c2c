"""The evidence bundle's manifest: every file of the bundle with its SHA-256 and size.

A bundle is a directory; ``manifest.json`` at its top lists every other regular file
(relative POSIX paths, sorted, unique) with the SHA-256 of its bytes. Verification
checks the manifest first (shape, paths, exactly the files present: nothing missing,
nothing unlisted, no symlink anywhere), then each file's hash, and only then reads the
files. Writing never follows a symlink and leaves every file readable by its owner
only (``0600``): the bundle holds decrypted personal data.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path
from typing import Any

import msgspec

from carchain.errors import InvalidProof
from carchain.sdk.bundle_format import decode_strict_json

FORMAT = "carchain/evidence/v1"
MANIFEST = "manifest.json"
MAX_FILES = 100_000
MAX_FILE_BYTES = 256 * 1024 * 1024
LINK_MANIFEST = "manifest"
LINK_FILE_HASH = "file hash"


class FileEntry(msgspec.Struct, forbid_unknown_fields=True):
    """One listed file: path relative to the bundle, SHA-256 (hex) and size in bytes."""

    path: str
    sha256: str
    size: int


class Manifest(msgspec.Struct, forbid_unknown_fields=True):
    """The manifest: what the bundle is about and every file it holds."""

    format: str
    case_id: int
    chain_id: str
    engine: str
    state_height: int
    block_height: int
    block_hash: str
    files: list[FileEntry]


def fail(link: str, message: str, **fields: Any) -> InvalidProof:
    """Return the ``InvalidProof`` naming the broken ``link``."""
    return InvalidProof(f"{link}: {message}", link=link, **fields)


def is_safe_path(path: str) -> bool:
    """Return whether ``path`` is a plain relative POSIX path inside the bundle."""
    parts = path.split("/")
    if not path or path.startswith("/") or "\\" in path or "\x00" in path:
        return False
    return all(p not in ("", ".", "..") for p in parts) and path != MANIFEST


def write_private(root: Path, rel: str, data: bytes) -> None:
    """Write ``data`` at ``root/rel`` (0600, never through a symlink, parents 0700)."""
    if not is_safe_path(rel) and rel != MANIFEST:
        raise ValueError(f"unsafe bundle path {rel[:80]!r}")
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    os.fchmod(fd, 0o600)  # a file that was there keeps no wider mode
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def encode_json(doc: Any) -> bytes:
    """Return the bundle's JSON encoding of ``doc`` (indented, keys in insertion order)."""
    return (json.dumps(doc, indent=1) + "\n").encode()


def compute_manifest(head: dict[str, Any], files: dict[str, bytes]) -> bytes:
    """Return the manifest JSON for ``files`` (path -> bytes) under the ``head`` fields."""
    entries = [
        {"path": p, "sha256": hashlib.sha256(files[p]).hexdigest(), "size": len(files[p])}
        for p in sorted(files)
    ]
    return encode_json({"format": FORMAT, **head, "files": entries})


def list_bundle_files(root: Path) -> set[str]:
    """Return every file under ``root`` but the manifest; raise on a symlink or a
    special file anywhere (a bundle is plain directories and regular files)."""
    found: set[str] = set()

    def refuse(exc: OSError) -> None:  # an unreadable directory hides what it holds
        raise fail(LINK_MANIFEST, f"{str(exc.filename)[-80:]} cannot be listed: {exc.strerror}")

    for dirpath, dirnames, filenames in os.walk(root, onerror=refuse, followlinks=False):
        for name in dirnames + filenames:
            full = Path(dirpath) / name
            try:
                mode = full.lstat().st_mode
            except OSError as exc:
                raise fail(LINK_MANIFEST, f"{name[:80]} vanished while listed") from exc
            rel = full.relative_to(root).as_posix()
            if stat.S_ISLNK(mode):
                raise fail(LINK_MANIFEST, f"{rel[:80]} is a symlink")
            if stat.S_ISREG(mode):
                found.add(rel)
            elif not stat.S_ISDIR(mode):
                raise fail(LINK_MANIFEST, f"{rel[:80]} is not a regular file")
    found.discard(MANIFEST)
    return found


def read_manifest(root: Path) -> Manifest:
    """Return the bundle's manifest, checked against the files present (link ``manifest``)."""
    path = root / MANIFEST
    if path.is_symlink() or not path.is_file():
        raise fail(LINK_MANIFEST, "the bundle has no manifest.json")
    try:
        m = msgspec.convert(decode_strict_json(path.read_bytes()), Manifest)
    except (OSError, ValueError, RecursionError, msgspec.ValidationError) as exc:
        raise fail(LINK_MANIFEST, f"manifest.json is malformed: {str(exc)[:120]}") from exc
    if m.format != FORMAT:
        raise fail(LINK_MANIFEST, f"unsupported format {m.format[:60]!r} (expected {FORMAT})")
    paths = [e.path for e in m.files]
    if len(paths) > MAX_FILES or paths != sorted(set(paths)):
        raise fail(LINK_MANIFEST, "file list is not sorted, unique and bounded")
    if not all(is_safe_path(p) for p in paths):
        raise fail(LINK_MANIFEST, "a listed path leaves the bundle or is not plain")
    present = list_bundle_files(root)
    if unlisted := sorted(present - set(paths)):
        raise fail(LINK_MANIFEST, f"file {unlisted[0][:80]} is not in the manifest")
    if missing := sorted(set(paths) - present):
        raise fail(LINK_MANIFEST, f"listed file {missing[0][:80]} is missing")
    return m


def read_listed_files(root: Path, manifest: Manifest) -> dict[str, bytes]:
    """Return every listed file's bytes, each checked against its hash (link ``file hash``)."""
    out: dict[str, bytes] = {}
    for e in manifest.files:
        if not 0 <= e.size <= MAX_FILE_BYTES:
            raise fail(LINK_FILE_HASH, f"{e.path[:80]} is too large")
        try:  # unreadable, or swapped for a symlink since it was listed
            fd = os.open(root / e.path, os.O_RDONLY | os.O_NOFOLLOW)
            with os.fdopen(fd, "rb") as f:
                data = f.read(MAX_FILE_BYTES + 1)
        except OSError as exc:
            raise fail(LINK_FILE_HASH, f"{e.path[:80]} cannot be read: {exc.strerror}") from exc
        if len(data) != e.size or hashlib.sha256(data).hexdigest() != e.sha256.lower():
            raise fail(LINK_FILE_HASH, f"{e.path[:80]} does not match its hash in the manifest")
        out[e.path] = data
    return out


def parse_json_file(files: dict[str, bytes], path: str, link: str) -> Any:
    """Return listed file ``path`` as JSON; raise naming ``link`` if absent or malformed."""
    if path not in files:
        raise fail(link, f"the bundle lacks {path}")
    try:
        return decode_strict_json(files[path])
    except (ValueError, RecursionError) as exc:
        raise fail(link, f"{path} is not JSON: {str(exc)[:80]}") from exc
