"""Which checkpoint a resumed run starts from.

mmengine 0.10.7's ``resume=True`` trusts whatever ``last_checkpoint`` names, so a truncated newest
checkpoint stops the run. Here the candidates are what the run itself recorded - the file
``last_checkpoint`` names, then the files of ``checkpoint_history`` (newest first; written by
:class:`~mmtnt.engine.SafeCheckpointHook` beside ``last_checkpoint``) - never other ``*.pth``
files of the directory (published or converted weights copied in) and never modification times.
The first that reads back as a complete archive wins; each one skipped is logged with its reason.
Checkpoints on a remote ``out_dir`` (``s3://``, petrel, ...) are read through mmengine's file
backends.
"""
import io
import os.path as osp
import zipfile
from typing import List, Optional

from mmengine.fileio import get_file_backend
from mmengine.logging import print_log

from .atomic_io import atomic_write, is_local_path

LAST_CHECKPOINT = 'last_checkpoint'
HISTORY = 'checkpoint_history'
HISTORY_LENGTH = 50


class CheckpointUnreadableError(RuntimeError):
    """A run asked to resume, but no checkpoint it could use reads back completely."""


def checkpoint_problem(path: str) -> Optional[str]:
    """Why ``path`` (local or a URL of an mmengine file backend) is not a complete checkpoint,
    or None if it is.

    torch saves a zip archive whose members carry CRC-32 checksums: the archive's directory (at
    its end) is missing from a truncated file and a checksum fails on corrupted bytes. Nothing is
    unpickled, so no code from the file runs.
    """
    try:
        if is_local_path(path):
            if not osp.isfile(path):
                return 'no such file'
            if osp.getsize(path) == 0:
                return 'empty file (0 bytes)'
            source = path
        else:
            backend = get_file_backend(path)
            if not backend.exists(path):
                return 'no such file'
            data = backend.get(path)
            if not data:
                return 'empty file (0 bytes)'
            source = io.BytesIO(data)
        with zipfile.ZipFile(source) as archive:
            bad_member = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as e:
        return f'not a complete checkpoint archive ({type(e).__name__}: {e})'
    if bad_member is not None:
        return f'corrupted: member {bad_member!r} fails its CRC check'
    return None


def _read_lines(path: str) -> List[str]:
    if not osp.isfile(path):
        return []
    with open(path) as f:
        return [line.strip() for line in f if line.strip()]


def record_checkpoint(work_dir: str, path: str, removed: tuple = ()) -> None:
    """Note ``path`` as the newest checkpoint of the run in ``work_dir`` (``last_checkpoint`` and
    ``checkpoint_history``), dropping the ``removed`` ones from the history. Rank 0 calls it."""
    history = [path] + [p for p in _read_lines(osp.join(work_dir, HISTORY))
                        if p != path and p not in removed]
    atomic_write(osp.join(work_dir, HISTORY), '\n'.join(history[:HISTORY_LENGTH]) + '\n')
    atomic_write(osp.join(work_dir, LAST_CHECKPOINT), path)


def forget_checkpoints(work_dir: str, removed) -> None:
    """Drop deleted checkpoints from ``checkpoint_history``."""
    removed = set(removed)
    history = _read_lines(osp.join(work_dir, HISTORY))
    kept = [p for p in history if p not in removed]
    if kept != history:
        atomic_write(osp.join(work_dir, HISTORY), '\n'.join(kept) + '\n')


def resume_candidates(work_dir: str) -> List[str]:
    """The checkpoints a resume may use, in order: the one ``last_checkpoint`` names, then the
    history's, newest first (``best_*`` checkpoints are never in it: no optimizer state)."""
    named = _read_lines(osp.join(work_dir, LAST_CHECKPOINT))[:1]
    candidates = []
    for path in named + _read_lines(osp.join(work_dir, HISTORY)):
        if path not in candidates:
            candidates.append(path)
    return candidates


def find_resumable_checkpoint(work_dir: str) -> Optional[str]:
    """The newest complete checkpoint of the run in ``work_dir``, logging each one it skipped.

    Returns:
        The path, or None if the run recorded no checkpoint there (a fresh start).

    Raises:
        CheckpointUnreadableError: checkpoints were recorded, but none is complete.
    """
    skipped = []
    for path in resume_candidates(work_dir):
        problem = checkpoint_problem(path)
        if problem is None:
            return path
        skipped.append((path, problem))
        print_log(f'Resume: skipped {path}: {problem}.', logger='current', level=30)
    if skipped:
        listing = '; '.join(f'{p}: {why}' for p, why in skipped)
        raise CheckpointUnreadableError(
            f'Cannot resume: {work_dir} records checkpoints, but none reads back completely '
            f'({listing}). Pass a readable checkpoint with --resume PATH, or move '
            f'{LAST_CHECKPOINT} and {HISTORY} away to start from scratch.')
    return None
