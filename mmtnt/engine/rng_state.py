"""Random state of a process, captured into a checkpoint and restored on resume.

A run draws from python's, numpy's and torch's generators (augmentation, dropout, the data
loader's seed for its workers). Saving every rank's state with each checkpoint and restoring it
where the resumed run reaches the saved iteration makes the resumed run draw what the
uninterrupted run would have drawn.
"""
import random
from typing import Optional

import numpy as np
import torch
from mmengine.dist import all_gather_object, get_world_size


def capture_rng_state() -> dict:
    """This process's random state: python, numpy, torch CPU and (if initialised) the current
    CUDA device's (a resumed process may see fewer devices)."""
    version, internal, gauss = random.getstate()
    np_name, np_keys, np_pos, np_has_gauss, np_gauss = np.random.get_state()
    state = dict(python=[version, list(internal), gauss],
                 numpy=[np_name, np_keys.copy(), int(np_pos), int(np_has_gauss), float(np_gauss)],
                 torch=torch.get_rng_state())
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state['cuda'] = torch.cuda.get_rng_state()
    return state


def restore_rng_state(state: dict) -> None:
    """Inverse of :func:`capture_rng_state`."""
    version, internal, gauss = state['python']
    random.setstate((version, tuple(internal), gauss))
    np.random.set_state(tuple(state['numpy']))
    torch.set_rng_state(state['torch'])
    if 'cuda' in state and torch.cuda.is_available():
        cuda = state['cuda']
        # checkpoints written before kept every visible device's; this process uses its own
        torch.cuda.set_rng_state(cuda[torch.cuda.current_device()] if isinstance(cuda, list)
                                 else cuda)


def gather_rng_states(state: Optional[dict] = None) -> list:
    """Every rank's ``state`` (default: :func:`capture_rng_state`), in rank order (a collective in
    distributed runs)."""
    state = state or capture_rng_state()
    return all_gather_object(state) if get_world_size() > 1 else [state]
