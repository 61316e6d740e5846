"""Moved to :mod:`mmtnt.checkpoint.load`; ``mmtnt.ckpt_load`` stays importable as that module."""
import sys

from mmtnt.checkpoint import load

sys.modules[__name__] = load
