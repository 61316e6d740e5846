"""Registries mmtnt registers into.

mmtnt's modules go into mmengine's root registries. MMDetection's and MMSegmentation's registries
are children of those and look a type up in their parents when they do not hold it themselves, so
``type='TNTBackbone'`` builds under ``default_scope='mmdet'`` and ``default_scope='mmseg'`` alike,
with one registration.
"""
import importlib

from mmengine.registry import (DATASETS, HOOKS, MODEL_WRAPPERS, MODELS, OPTIM_WRAPPER_CONSTRUCTORS,
                               OPTIM_WRAPPERS, RUNNERS)

__all__ = [
    'DATASETS', 'HOOKS', 'MODEL_WRAPPERS', 'MODELS', 'OPTIM_WRAPPER_CONSTRUCTORS', 'OPTIM_WRAPPERS',
    'RUNNERS', 'register_deferred'
]



class _Deferred(type):
    """The metaclass of a deferred entry: calls, attributes and isinstance / issubclass checks
    go to the real class, which is imported at the first of them."""

    def _real(cls):
        if cls._class is None:
            try:
                module = importlib.import_module(cls._module)
            except ImportError as e:
                raise ImportError(f'{cls.__name__} needs {cls._needs}, which did not import '
                                  f'({e}); install mmcv with its compiled ops (bash '
                                  f'tools/setup_env.sh).') from e
            cls._class = getattr(module, cls.__name__)
        return cls._class

    def __call__(cls, *args, **kwargs):
        return cls._real()(*args, **kwargs)

    def __getattr__(cls, name):
        if name.startswith('_'):
            raise AttributeError(name)
        return getattr(cls._real(), name)

    def __instancecheck__(cls, obj):
        return isinstance(obj, cls._real())

    def __subclasscheck__(cls, sub):
        return issubclass(sub, cls._real())


def register_deferred(registry, name: str, module: str, needs: str):
    """Register ``name`` in ``registry`` now, import its ``module`` when it is first built.

    For the classes that need MMDetection or MMSegmentation (a dataset, a decode head): their
    import takes seconds (``mmseg.models`` imports every MMSegmentation and MMDetection model)
    that a run of a backbone, a tool or a plain mmengine model would spend for nothing. The
    entry behaves as the class (built by the registry, called, its attributes read); importing
    ``module`` registers the real class in its place (``force=True``).

    Args:
        registry: an mmengine registry.
        name: the class name, as configs write ``type``.
        module: the module that defines and registers it.
        needs: what it needs, for the error when that does not import.

    Returns:
        The stand-in class.
    """
    stand_in = _Deferred(name, (), dict(_module=module, _needs=needs, _class=None,
                                        __module__=module, __doc__=f'{name} from {module}, '
                                        f'imported when first used.'))
    registry.register_module(name=name, module=stand_in)
    return stand_in
