"""The registry name of a config's ``type``."""


def type_name(type_) -> str:
    """The registry name a config's ``type`` refers to: a class's name, or a string's without its
    scope (``'mmdet.AspectRatioBatchSampler'`` -> ``'AspectRatioBatchSampler'``); anything else
    as ``str`` gives it (``None`` -> ``'None'``)."""
    name = type_ if isinstance(type_, str) else getattr(type_, '__name__', str(type_))
    return name.rsplit('.', 1)[-1]
