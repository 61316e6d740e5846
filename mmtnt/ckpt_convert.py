"""Moved to :mod:`mmtnt.checkpoint.convert`; ``mmtnt.ckpt_convert`` stays importable as that module."""
import sys

from mmtnt.checkpoint import convert

sys.modules[__name__] = convert
