"""Moved to :mod:`mmtnt.checkpoint.backbone`; this name stays importable as that module."""
import sys

from mmtnt.checkpoint import backbone

sys.modules[__name__] = backbone
