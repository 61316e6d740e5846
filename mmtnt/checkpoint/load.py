"""One safe loading path for every checkpoint source: local files, http(s) URLs, Hugging Face.

``import mmtnt`` registers :func:`load_checkpoint_safely` as mmengine's checkpoint loader for
local paths, ``http://`` / ``https://`` URLs (also behind ``open-mmlab://``, ``torchvision://``
and ``mmcls://``, which resolve to URLs) and ``hf-hub:`` ids. So ``init_cfg=dict(type='Pretrained',
checkpoint=...)``, ``load_from``, ``--resume``, ``init_detector`` / ``DetInferencer`` and
``tools/convert_weights.py`` all read checkpoints the same way:

- ``.safetensors`` files (by name or by content) are read with ``safetensors``: tensors only.
- Anything else goes through ``torch.load(weights_only=True)`` with mmtnt's allow-list
  (:mod:`mmtnt.checkpoint.safe_globals`): tensors, containers, numpy values under numpy 1 or 2 names, mmengine's
  training state and timm's ``argparse.Namespace`` of training args load; a pickle that would
  call anything else is refused with :class:`UnsafeCheckpointError`, which names the file and
  how to trust it.
- URLs are downloaded once into ``$TORCH_HOME/hub/checkpoints`` (mmengine's and torch.hub's
  cache; rank 0 downloads, the other ranks wait); a ``-<sha256 prefix>.`` in the file name, as
  in OpenMMLab's and torch.hub's URLs, is checked.
- ``hf-hub:owner/name[@revision][/file]`` goes through ``huggingface_hub`` (its cache, token and
  ``HF_HUB_OFFLINE``); without a file it takes ``model.safetensors``, then ``pytorch_model.bin``.

Trusting a file explicitly: list its path or URL in ``MMTNT_TRUSTED_CHECKPOINTS`` (several
separated by commas), or convert it once with
``python tools/convert_weights.py SRC DST --trust-checkpoint`` and load DST.
"""
import os
import os.path as osp
import pickle
import re
import tempfile
import zipfile
from typing import Any, Callable, Optional, Union
from urllib.parse import urlparse

import torch
from mmengine.dist import barrier, get_dist_info
from mmengine.logging import print_log
from mmengine.runner import checkpoint as mmengine_checkpoint
from mmengine.runner.checkpoint import CheckpointLoader

TRUST_ENV = 'MMTNT_TRUSTED_CHECKPOINTS'
HF_PREFIX = 'hf-hub:'
_HASH_IN_NAME = re.compile(r'-([a-f0-9]{8,})\.')
_HF_DEFAULT_FILES = ('model.safetensors', 'pytorch_model.bin')

MapLocation = Union[None, str, torch.device, Callable]


class UnsafeCheckpointError(ValueError):
    """A checkpoint's pickle would call something beyond safe loading's allow-list."""


def trusted_sources() -> set:
    """The paths / URLs listed, comma-separated, in ``MMTNT_TRUSTED_CHECKPOINTS``."""
    return {s.strip() for s in os.environ.get(TRUST_ENV, '').split(',') if s.strip()}


def is_safetensors_file(path: str) -> bool:
    """True for ``*.safetensors`` and for any file laid out as one (8-byte header size, JSON)."""
    if path.endswith('.safetensors'):
        return True
    with open(path, 'rb') as f:
        head = f.read(9)
    if len(head) < 9:
        return False
    header_len = int.from_bytes(head[:8], 'little')
    return head[8:9] == b'{' and 0 < header_len < osp.getsize(path)


def read_checkpoint(path: str,
                    map_location: MapLocation = 'cpu',
                    trust: bool = False,
                    name: Optional[str] = None) -> Any:
    """Read a local checkpoint file safely.

    Args:
        path: a local file (``.pth``, ``.pth.tar``, ``.bin``, ``.safetensors``...).
        map_location: as ``torch.load``'s.
        trust: unpickle anything (only for files you trust); ignored for safetensors.
        name: how to name the checkpoint in messages (its URL or hub id); defaults to ``path``.

    Raises:
        UnsafeCheckpointError: the pickle needs globals outside the allow-list.
    """
    name = name or path
    if is_safetensors_file(path):
        from safetensors.torch import load_file
        state = load_file(path, device='cpu')
        if map_location not in (None, 'cpu') and not callable(map_location):
            state = {k: v.to(map_location) for k, v in state.items()}
        return state
    if osp.getsize(path) == 0:
        raise ValueError(f'The checkpoint {name} is an empty file (0 bytes): the copy or download '
                         f'that made it did not finish. Fetch or copy it again.')
    try:
        return torch.load(path, map_location=map_location, weights_only=not trust)
    except pickle.UnpicklingError as e:
        if trust or _damage(path):
            raise ValueError(f'Could not read the checkpoint {name}: {_damage(path) or e}. '
                             f'Fetch or copy it again.') from e
        lines = [line.strip() for line in str(e).splitlines() if line.strip()]
        detail = next((line for line in lines if 'GLOBAL' in line or 'Unsupported' in line),
                      lines[-1] if lines else '')
        detail = re.sub(r'\x1b\[[0-9;]*m', '', detail)[:300]  # torch colours its message
        raise UnsafeCheckpointError(
            f'Refused to load {name}: its pickle needs more than tensors and plain training '
            f'metadata, so loading it could run code ({detail}). If you trust this file, list it '
            f'in the environment variable {TRUST_ENV}={name}, or convert it once with '
            f'`python tools/convert_weights.py {name} OUT.pth --trust-checkpoint` and load '
            f'OUT.pth.') from e
    except (RuntimeError, EOFError, OSError, ValueError) as e:
        # torch says "failed finding central directory", "[Errno 22] Invalid argument", ...
        raise ValueError(f'Could not read the checkpoint {name}: {_damage(path) or e}. Fetch or '
                         f'copy it again.') from e


def _damage(path: str) -> Optional[str]:
    """What is wrong with a checkpoint file that torch could not read (truncated, corrupted), or
    None if its archive reads back complete (or it is not a zip archive)."""
    from mmtnt.engine.resume import checkpoint_problem  # engine imports nothing of this package
    if not zipfile.is_zipfile(path):
        with open(path, 'rb') as f:
            head = f.read(4)
        if head.startswith(b'PK'):
            return 'truncated: the zip archive torch saves ends before its directory'
        return None
    return checkpoint_problem(path)


def download_url(url: str, model_dir: Optional[str] = None) -> str:
    """Download ``url`` into the torch.hub checkpoint cache (once) and return the local path.

    In distributed runs rank 0 downloads and the other ranks wait for it.
    """
    model_dir = model_dir or osp.join(torch.hub.get_dir(), 'checkpoints')
    filename = osp.basename(urlparse(url).path)
    if not filename:
        raise ValueError(f'Cannot name a cache file for the checkpoint URL {url!r}.')
    dst = osp.join(model_dir, filename)
    rank, world_size = get_dist_info()
    if rank == 0 and not osp.isfile(dst):
        os.makedirs(model_dir, exist_ok=True)
        match = _HASH_IN_NAME.search(filename)
        print_log(f'Downloading {url} to {dst}', logger='current')
        try:
            torch.hub.download_url_to_file(url, dst, match.group(1) if match else None,
                                           progress=False)
        except Exception as e:
            raise ValueError(f'Could not download the checkpoint {url}: {e}. Download it by hand '
                             f'and pass its local path instead.') from e
    if world_size > 1:
        barrier()
    return dst


def download_hf_hub(hub_id: str) -> str:
    """Resolve ``owner/name[@revision][/file]`` through huggingface_hub; return the local path."""
    try:
        from huggingface_hub import hf_hub_download
        from huggingface_hub.utils import EntryNotFoundError
    except ImportError as e:
        raise ImportError(f'Loading {HF_PREFIX}{hub_id} needs huggingface_hub: '
                          f'pip install huggingface_hub') from e
    parts = hub_id.split('/')
    if len(parts) < 2 or not all(parts[:2]):
        raise ValueError(f'{HF_PREFIX}{hub_id!r} is not a Hugging Face id: use '
                         f'{HF_PREFIX}owner/name[@revision][/file].')
    name, _, revision = parts[1].partition('@')
    repo_id, files = f'{parts[0]}/{name}', ['/'.join(parts[2:])] if parts[2:] else _HF_DEFAULT_FILES
    for filename in files[:-1]:
        try:
            return hf_hub_download(repo_id, filename, revision=revision or None)
        except EntryNotFoundError:
            continue
    return hf_hub_download(repo_id, files[-1], revision=revision or None)


def load_checkpoint_safely(source: str,
                           map_location: MapLocation = 'cpu',
                           trust: bool = False) -> Any:
    """Load a checkpoint from a local path, an http(s) URL or a ``hf-hub:`` id, safely.

    Args:
        source: the path, URL or ``hf-hub:`` id.
        map_location: as ``torch.load``'s.
        trust: unpickle anything; also the case for sources listed in
            ``MMTNT_TRUSTED_CHECKPOINTS``. Only for files from a source you trust.

    Raises:
        FileNotFoundError: a local path that does not exist.
        UnsafeCheckpointError: an untrusted pickle that needs more than safe loading allows.
        ValueError: a URL that cannot be downloaded.
    """
    if source.startswith(HF_PREFIX):
        path = download_hf_hub(source[len(HF_PREFIX):])
    elif source.startswith(('http://', 'https://')):
        path = download_url(source)
    elif '://' in source:  # s3://, petrel://, ...: through mmengine's file backends
        return _read_from_file_backend(source, map_location, trust)
    else:
        path = osp.expanduser(source)
        if not osp.isfile(path):
            raise FileNotFoundError(f'{source} can not be found.')
    trust = trust or bool({source, path} & trusted_sources())
    return read_checkpoint(path, map_location, trust=trust, name=source)


def _read_from_file_backend(source: str, map_location: MapLocation, trust: bool) -> Any:
    """Fetch ``source`` through mmengine's file backend for its prefix into a temporary file and
    read that safely (the checkpoints a remote ``out_dir`` holds, for a resume)."""
    from mmengine.fileio import get_file_backend
    backend = get_file_backend(source)
    if not backend.exists(source):
        raise FileNotFoundError(f'{source} can not be found.')
    fd, path = tempfile.mkstemp(suffix='.pth')
    try:
        with os.fdopen(fd, 'wb') as f:
            f.write(backend.get(source))
        trust = trust or source in trusted_sources()
        return read_checkpoint(path, map_location, trust=trust, name=source)
    finally:
        os.unlink(path)


# mmengine names a loader by what follows `load_from_` in its function name, in its log line
def load_from_local_safe(filename: str, map_location: MapLocation = None) -> Any:
    return load_checkpoint_safely(filename, map_location)


def load_from_http_safe(filename: str, map_location: MapLocation = None, **_) -> Any:
    return load_checkpoint_safely(filename, map_location)


def load_from_hf_hub(filename: str, map_location: MapLocation = None) -> Any:
    return load_checkpoint_safely(filename, map_location)


def register_safe_loaders() -> None:
    """Make mmengine load every local, http(s) and ``hf-hub:`` checkpoint through mmtnt."""
    CheckpointLoader.register_scheme('', load_from_local_safe, force=True)
    CheckpointLoader.register_scheme(('http://', 'https://'), load_from_http_safe, force=True)
    CheckpointLoader.register_scheme(HF_PREFIX, load_from_hf_hub, force=True)
    # mmengine's own s3:// loader unpickles with torch's defaults
    CheckpointLoader.register_scheme('s3://', load_from_local_safe, force=True)
    # open-mmlab://, torchvision://, mmcls:// resolve their URL and call this module-level name
    mmengine_checkpoint.load_from_http = load_from_http_safe
