"""Moved to :mod:`mmtnt.checkpoint.safe_globals`; ``mmtnt.compat`` stays importable as that module."""
import sys

from mmtnt.checkpoint import safe_globals

sys.modules[__name__] = safe_globals
