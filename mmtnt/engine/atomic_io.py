"""Atomic file writes: a kill, a full disk or a second signal leaves the old file or the new one.

mmengine 0.10.7 writes checkpoints and ``last_checkpoint`` in place. Here every local write goes to
a temporary file in the same directory, is flushed and fsync'ed, and is renamed into place
(:func:`atomic_write`); ``import mmtnt`` makes this mmengine's backend for local paths
(:class:`AtomicLocalBackend`), so every checkpoint any hook or tool writes is atomic.

A temporary file is named ``.<name>.partial-<host>-<pid>-<random>``: a later run removes it
(:func:`remove_partial_files`) only when its writer is gone - a process of this host that no longer
exists, or a file untouched for :data:`STALE_SECONDS` - so it never deletes the file a live run on
the same directory is writing.
"""
import glob
import os
import os.path as osp
import socket
import stat
import tempfile
import time
from typing import List, Optional, Union

from mmengine.fileio.backends import LocalBackend, register_backend

PARTIAL_MARK = '.partial-'
#: A partial file not written to for this long is a leftover whatever its writer (another host).
STALE_SECONDS = 3600


def _host() -> str:
    # '-' separates the fields of a partial file's name
    return socket.gethostname().replace('-', '_') or 'host'


def _new_file_mode() -> int:
    mask = os.umask(0)  # reading the umask means setting it; put it back at once
    os.umask(mask)
    return 0o666 & ~mask


def atomic_write(path: str, data: Union[bytes, str], encoding: str = 'utf-8') -> None:
    """Write ``data`` to ``path`` so that ``path`` is either the old file or the whole new one.

    The bytes go to a partial file in the same directory, are flushed and fsync'ed, and the file
    is renamed over ``path`` (atomic on POSIX file systems and on Windows' NTFS). A kill at any
    point leaves at most a stray partial file; a full disk raises ``OSError`` and removes the
    partial file, ``path`` untouched.

    The new file has the mode of the file it replaces, or ``0o666`` less the umask (as ``open``
    gives). A ``path`` that is a symbolic link is written through: the file it points to is
    replaced, the link stays.
    """
    if isinstance(data, str):
        data = data.encode(encoding)
    if osp.islink(path):
        path = osp.realpath(path)
    directory = osp.dirname(osp.abspath(path))
    os.makedirs(directory, exist_ok=True)
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        mode = _new_file_mode()
    prefix = f'.{osp.basename(path)}{PARTIAL_MARK}{_host()}-{os.getpid()}-'
    fd, tmp = tempfile.mkstemp(prefix=prefix, dir=directory)
    try:
        with os.fdopen(fd, 'wb') as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_directory(directory)


def _fsync_directory(directory: str) -> None:
    """Make a rename durable (the directory entry); a no-op where directories cannot be opened."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # exists, or cannot tell: keep the file
    return True


def _writer_is_gone(path: str) -> bool:
    """Whether the process that wrote partial file ``path`` can no longer finish it."""
    try:
        age = time.time() - osp.getmtime(path)
    except OSError:
        return False
    if age > STALE_SECONDS:
        return True
    fields = osp.basename(path).rsplit(PARTIAL_MARK, 1)[-1].split('-')
    if len(fields) < 3 or not fields[1].isdigit():
        return False  # no writer recorded: only its age tells
    host, pid = fields[0], int(fields[1])
    return host == _host() and not _process_exists(pid)


def remove_partial_files(directory: str) -> List[str]:
    """Remove the partial files in ``directory`` whose writer is gone (see the module's doc)."""
    removed = []
    for path in glob.glob(osp.join(glob.escape(directory), f'.*{PARTIAL_MARK}*')):
        if not _writer_is_gone(path):
            continue
        try:
            os.unlink(path)
            removed.append(path)
        except OSError:
            pass
    return removed


class AtomicLocalBackend(LocalBackend):
    """mmengine's local file backend with atomic ``put`` / ``put_text`` (:func:`atomic_write`)."""

    def put(self, obj: bytes, filepath) -> None:
        atomic_write(str(filepath), obj)

    def put_text(self, obj: str, filepath, encoding: str = 'utf-8') -> None:
        atomic_write(str(filepath), obj, encoding=encoding)


def register_atomic_local_backend() -> None:
    """Make :class:`AtomicLocalBackend` mmengine's backend for local paths (idempotent)."""
    register_backend('local', AtomicLocalBackend, force=True, prefixes='')


def is_local_path(path: Optional[str]) -> bool:
    """Whether ``path`` is a local file path (not ``s3://...``, ``http://...``, ...)."""
    return path is not None and '://' not in str(path)
