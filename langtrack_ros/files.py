"""Writes that never leave half a file under the final name.

Two patterns, used by every command that writes results, reports, exports and checkpoints:

- :func:`atomic_path` / :func:`atomic_write_text`: write to a temporary name in the same folder,
  rename into place on success, remove the temporary file on any error. A reader (or a later
  run) sees the old file or the whole new one, never a cut one.
- :class:`LineWriter`: results that grow while a command runs (one JSON line per frame) are
  appended line by line and flushed, so a cut file ends at a whole line; if a write fails the
  partial line is cut off again, a last line says the file was cut (when it still fits), and
  the error is raised.

A failed write raises :class:`WriteError` (an ``OSError`` naming the path and the errno), which
the CLI reports in one line with exit status 2 (``cli.main``).
"""
from __future__ import annotations

import errno as errno_codes
import json
import os
import re
import tempfile
from contextlib import contextmanager
from pathlib import Path


class WriteError(OSError):
    """A file could not be written; ``str()`` is one line naming the path and the errno, then
    ``note`` (what was kept, what to do) when the writer added one."""

    note = ""

    def __str__(self) -> str:
        return describe(self)


def describe(exc: OSError) -> str:
    """One line for an OSError: ``cannot write PATH: No space left on device (errno 28 ENOSPC)``
    (``PATH: Permission denied (errno 13 EACCES)`` for one that was not raised by a writer)."""
    code = exc.errno
    name = errno_codes.errorcode.get(code, "?") if code is not None else "?"
    what = exc.strerror or (exc.args[0] if exc.args else type(exc).__name__)
    path = exc.filename if exc.filename is not None else "?"
    note = getattr(exc, "note", "")
    verb = "cannot write " if isinstance(exc, WriteError) else ""
    return f"{verb}{path}: {what} (errno {code} {name}){'; ' + note if note else ''}"


def write_error(exc: BaseException, path: str | Path, note: str = "") -> WriteError:
    """A WriteError for ``path`` from whatever the writer raised (OSError, sqlite3's "database or
    disk is full", safetensors' "os error 28")."""
    if isinstance(exc, WriteError):
        err = WriteError(exc.errno, exc.strerror, exc.filename)
        err.note = "; ".join(n for n in (exc.note, note) if n)
        return err
    if isinstance(exc, OSError) and exc.errno is not None:
        err = WriteError(exc.errno, exc.strerror or os.strerror(exc.errno), str(exc.filename or path))
    else:
        text = str(exc)
        match = re.search(r"(?:code: |os error |\[Errno )(\d+)", text)
        if match:
            code = int(match.group(1))
        elif "disk is full" in text or "No space left" in text:
            code = errno_codes.ENOSPC
        elif "readonly" in text or "read-only" in text:
            code = errno_codes.EROFS
        else:
            code = errno_codes.EIO
        why = os.strerror(code)
        if not match and code == errno_codes.EIO:  # a guess: keep the writer's own words
            why += f" ({type(exc).__name__}: {' '.join(text.split())})"
        err = WriteError(code, why, str(path))
    err.note = note
    return err


def find_write_failure(exc: BaseException, path: str | Path) -> WriteError | None:
    """A WriteError when ``exc`` (or what caused it: rosbags wraps sqlite3, the ONNX exporter
    wraps OSError) is a failed write (OSError with an errno, sqlite3 "database or disk is full" /
    "readonly database"); None otherwise."""
    import sqlite3

    seen = 0
    while exc is not None and seen < 8:
        if isinstance(exc, WriteError):
            return exc
        if isinstance(exc, OSError) and exc.errno is not None and not isinstance(exc, FileNotFoundError):
            return write_error(exc, path)
        if isinstance(exc, sqlite3.Error):
            return write_error(exc, path)
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return None


@contextmanager
def atomic_path(path: str | Path):
    """Yield a temporary path beside ``path``; rename it to ``path`` when the block succeeds.

    On any error the temporary file is removed and an OSError becomes a WriteError naming
    ``path``; the previous file under ``path`` (if any) is untouched."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
    except OSError as exc:
        raise write_error(exc, path) from None
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError) and not isinstance(exc, (FileNotFoundError, WriteError)):
            raise write_error(exc, path) from None
        raise


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    return Path(path)


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write_bytes(path, text.encode())


def write_image(path: str | Path, bgr) -> Path:
    """cv2.imwrite, atomically, with an error instead of OpenCV's silent False."""
    import cv2

    path = Path(path)
    ok, data = cv2.imencode(path.suffix or ".png", bgr)
    if not ok:
        raise ValueError(f"{path}: OpenCV cannot encode a {path.suffix} image")
    return atomic_write_bytes(path, data.tobytes())


class LineWriter:
    """Append whole lines to ``path`` (created fresh); each line is written and flushed at once.

    A failed write cuts the file back to its last whole line, appends ``cut_line`` if it still
    fits, closes it and raises a WriteError that says how many lines were kept."""

    def __init__(self, path: str | Path, cut_line: str = json.dumps({"cut": True})):
        self.path = Path(path)
        self.cut_line = cut_line
        self.lines = 0
        self._good = 0  # bytes up to the end of the last whole line
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        except OSError as exc:
            raise write_error(exc, self.path) from None

    def write(self, line: str) -> None:
        data = (line.rstrip("\n") + "\n").encode()
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(self._fd, view):]
        except OSError as exc:
            self._cut()
            raise write_error(exc, self.path, f"{self.path.name} was cut after {self.lines} whole lines") from None
        self._good += len(data)
        self.lines += 1

    def _cut(self) -> None:
        try:
            os.ftruncate(self._fd, self._good)
            os.lseek(self._fd, self._good, os.SEEK_SET)
            marker = (self.cut_line + "\n").encode()
            if os.write(self._fd, marker) != len(marker):
                os.ftruncate(self._fd, self._good)
        except OSError:
            try:
                os.ftruncate(self._fd, self._good)
            except OSError:
                pass
        self.close()

    def close(self) -> None:
        if self._fd is not None:
            try:
                os.fsync(self._fd)
            except OSError:
                pass
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> "LineWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
