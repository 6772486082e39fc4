"""Small file helpers shared by the CLI commands: atomic writes and ``-`` for stdin/stdout."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import stat
import sys
import tempfile
from pathlib import Path

__all__ = ["atomic_write_bytes", "file_sha256", "read_bytes", "write_output"]


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes, *, force: bool = False) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename.

    A failure at any point leaves either the old file or no file, never a partial one. As a
    plain ``open(path, "wb")`` would, a symbolic link is written through (its target is
    replaced, the link kept) and a replaced file keeps its permission bits.

    Args:
        path: destination file (or a symbolic link to it).
        data: the complete file content.
        force: replace an existing file; without it an existing file raises ``FileExistsError``.
    """
    dest = name = Path(path)  # messages name the path as given, a link's name included
    if dest.is_symlink():
        # Renaming over the link would replace it with a file and leave the target as it was.
        dest = Path(os.path.realpath(dest))
    if dest.is_dir():
        raise IsADirectoryError(errno.EISDIR, "is a folder: name an output file", str(name))
    if dest.exists() and not force:
        raise _exists(name)
    folder = dest.parent if str(dest.parent) else Path(".")
    for above in (folder, *folder.parents):
        if above.exists() and not above.is_dir():
            raise NotADirectoryError(
                errno.ENOTDIR, f"cannot write here: {above} is a file, not a folder", str(name))
    # Missing folders are created (documented: `-o new/dir/out.png` works).
    folder.mkdir(parents=True, exist_ok=True)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=folder)
    except OSError as exc:
        # Name the destination, not the temporary file the user never asked for.
        raise type(exc)(exc.errno, f"cannot write: {exc.strerror}", str(name)) from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        try:
            mode = stat.S_IMODE(os.stat(dest).st_mode)  # a replaced file keeps its mode
        except FileNotFoundError:
            mode = None
        if not force and mode is not None:  # appeared while we were writing
            raise _exists(name)
        # mkstemp creates 0600 files; give the output the permissions a plain open() would
        os.chmod(tmp, 0o666 & ~_UMASK if mode is None else mode)
        os.replace(tmp, dest)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if exc.filename == tmp or exc.filename is None:
            raise type(exc)(exc.errno, f"cannot write: {exc.strerror}", str(name)) from None
        raise
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _exists(dest: Path) -> FileExistsError:
    return FileExistsError(errno.EEXIST, "exists (use --force to overwrite)", str(dest))


def _read_umask() -> int:
    # os.umask can only be read by setting it: do it once, at import, not in threads
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _read_umask()


def read_bytes(path: str | os.PathLike[str]) -> bytes:
    """Read a whole file, or standard input when ``path`` is ``-``."""
    if str(path) == "-":
        return sys.stdin.buffer.read()
    return Path(path).read_bytes()


def write_output(path: str | os.PathLike[str], data: bytes, *, force: bool = False) -> None:
    """Write ``data`` atomically to ``path``, or to standard output when ``path`` is ``-``."""
    if str(path) == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    atomic_write_bytes(path, data, force=force)


def file_sha256(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks (model files are checked with it)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
