"""Registry of dataset generators (and, later, baselines).

Built-in generators live in ``scenebench.generators`` and register with
:func:`register_generator`. Third-party packages add theirs through the
``scenebench.generators`` entry-point group, pointing at a module or class::

    [options.entry_points]
    scenebench.generators =
        my_family = my_package.my_generator:MyGenerator
"""

from __future__ import annotations

import importlib


from .errors import ConfigError

_GENERATORS: dict[str, type] = {}
_loaded = False


def register_generator(cls: type) -> type:
    """Class decorator: make a :class:`~scenebench.generator.Generator` available by name."""
    name = cls.name
    other = _GENERATORS.get(name)
    if other is not None and other is not cls and (other.__module__, other.__qualname__) != (cls.__module__, cls.__qualname__):
        raise ValueError(f"generator {name!r} is already registered by {other.__module__}")
    for attr in ("VERSION", "RELEASE_NOTES", "Config", "PRESETS"):
        if not hasattr(cls, attr):
            raise TypeError(f"generator {name!r} lacks {attr}")
    if cls.VERSION not in cls.RELEASE_NOTES:
        raise TypeError(f"generator {name!r}: no release notes for version {cls.VERSION}")
    _GENERATORS[name] = cls
    return cls


def _load_all() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    import pkgutil

    import scenebench.generators as builtin

    # every module in scenebench.generators is a family: a new dataset is one decorated file
    for mod in pkgutil.iter_modules(builtin.__path__):
        if not mod.ispkg and not mod.name.startswith("_"):
            importlib.import_module(f"scenebench.generators.{mod.name}")
    from importlib.metadata import entry_points

    for ep in entry_points(group="scenebench.generators"):
        if ep.value.startswith("scenebench.generators."):
            continue
        obj = ep.load()
        if isinstance(obj, type) and obj.__dict__.get("name") and obj.__dict__["name"] not in _GENERATORS:
            register_generator(obj)


def generator_names() -> list[str]:
    _load_all()
    return sorted(_GENERATORS)


def get_generator(name: str):
    """An instance of the generator registered as ``name``."""
    _load_all()
    try:
        return _GENERATORS[name]()
    except KeyError:
        raise ConfigError(f"unknown dataset family {name!r}; families: {', '.join(sorted(_GENERATORS))}") from None


def iter_generators() -> list:
    _load_all()
    return [(_GENERATORS[n]) for n in sorted(_GENERATORS)]
