"""Registries of dataset generators and of baseline methods.

Built-in generators live in ``scenebench.generators`` and register with
:func:`register_generator`. Third-party packages add theirs through the
``scenebench.generators`` entry-point group, pointing at a module or class::

    [options.entry_points]
    scenebench.generators =
        my_family = my_package.my_generator:MyGenerator

Baselines (trainable reference methods, :mod:`scenebench.baselines`) register
with :func:`register_baseline`, either as a class decorator or lazily by
``"module:Class"`` so that listing them never imports torch::

    register_baseline("lavae", "scenebench.baselines.lavae.model:Lavae",
                      description="...", paper="...")

Every package in ``scenebench.baselines`` except ``common`` is a method
package and is imported on first use; third-party methods come from the
``scenebench.baselines`` entry-point group (``name = package.module:Class``).
"""

from __future__ import annotations

import dataclasses
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


# --------------------------------------------------------------------------- catalog
CATALOG = "catalog.json"  # in scenebench.generators: what `scenebench list` shows of the built-in families


def describe_generator(gen) -> dict:
    """What ``scenebench list`` shows of a generator: name, version, description, presets and split sizes."""
    return {"name": gen.name, "version": gen.VERSION, "description": gen.description,
            "presets": {p: {s: sp.num_samples for s, sp in preset.splits.items()} for p, preset in gen.PRESETS.items()}}


def built_in_catalog() -> list[dict]:
    """The built-in families as :func:`describe_generator` gives them, computed (imports every generator)."""
    import pkgutil

    import scenebench.generators as builtin

    names = {m.name for m in pkgutil.iter_modules(builtin.__path__) if not m.ispkg and not m.name.startswith("_")}
    _load_all()
    return [describe_generator(g) for g in iter_generators() if g.__module__.rpartition(".")[2] in names]


def catalog() -> list[dict]:
    """Every family for ``scenebench list`` without importing the built-in generators' drawing code.

    The built-in families come from ``generators/catalog.json`` (a test
    keeps it equal to :func:`built_in_catalog`; ``python -m
    scenebench.registry`` rewrites it); families other packages register
    through the ``scenebench.generators`` entry points are imported.
    """
    import json
    from importlib import resources

    entries = json.loads(resources.files("scenebench.generators").joinpath(CATALOG).read_text())
    known = {e["name"] for e in entries}
    from importlib.metadata import entry_points

    for ep in entry_points(group="scenebench.generators"):
        if ep.value.startswith("scenebench.generators."):
            continue
        _load_all()
        obj = _GENERATORS.get(getattr(ep.load(), "name", None))
        if obj is not None and obj.name not in known:
            entries.append(describe_generator(obj))
            known.add(obj.name)
    return sorted(entries, key=lambda e: e["name"])


if __name__ == "__main__":  # python -m scenebench.registry: rewrite the catalog after changing a generator
    import json
    from importlib import resources

    from scenebench import registry  # the module generators register into (this file runs as __main__)

    path = resources.files("scenebench.generators").joinpath(CATALOG)
    path.write_text(json.dumps(registry.built_in_catalog(), indent=1) + "\n")
    print(path)


# --------------------------------------------------------------------------- baselines


@dataclasses.dataclass(frozen=True)
class BaselineEntry:
    """A registered baseline: its name, where its class lives, and what it is.

    ``target`` is the class itself or ``"package.module:Class"`` (imported by
    :meth:`load` on first use, so listing baselines stays cheap).
    """

    name: str
    target: object
    description: str = ""
    paper: str = ""

    def load(self) -> type:
        if isinstance(self.target, type):
            return self.target
        module, _, attr = str(self.target).partition(":")
        obj = importlib.import_module(module)
        for part in attr.split(".") if attr else ():
            obj = getattr(obj, part)
        if not isinstance(obj, type):
            raise TypeError(f"baseline {self.name!r}: {self.target} is not a class")
        return obj


_BASELINES: dict[str, BaselineEntry] = {}
_baselines_loaded = False


def register_baseline(cls_or_name, target=None, *, description: str = "", paper: str = ""):
    """Register a baseline method.

    As a class decorator (``@register_baseline``) the class's ``name``,
    ``description`` and ``paper`` attributes are used. Called as
    ``register_baseline(name, "module:Class", description=..., paper=...)``
    it registers lazily: the module is imported only when the baseline is
    asked for. Returns what it was given (so it works as a decorator).
    """
    if isinstance(cls_or_name, type):
        cls = cls_or_name
        name = getattr(cls, "name", None)
        if not isinstance(name, str) or not name:
            raise TypeError(f"baseline class {cls.__qualname__} lacks a name")
        entry = BaselineEntry(name, cls, description or getattr(cls, "description", ""),
                              paper or getattr(cls, "paper", ""))
    else:
        name = cls_or_name
        if not isinstance(name, str) or not name or not isinstance(target, (str, type)):
            raise TypeError("register_baseline(name, 'module:Class', ...) needs a name and a target")
        entry = BaselineEntry(name, target, description, paper)
    other = _BASELINES.get(name)
    if other is not None:
        if _target_key(other.target) != _target_key(entry.target):
            raise ValueError(f"baseline {name!r} is already registered by {_target_key(other.target)}")
        # the class a lazy entry points at may register itself too: keep the class and the texts
        entry = BaselineEntry(name, entry.target if isinstance(entry.target, type) else other.target,
                              entry.description or other.description, entry.paper or other.paper)
    _BASELINES[name] = entry
    return cls_or_name


def _target_key(target) -> str:
    if isinstance(target, type):
        return f"{target.__module__}:{target.__qualname__}"
    return str(target)


def _load_baselines() -> None:
    global _baselines_loaded
    if _baselines_loaded:
        return
    _baselines_loaded = True
    import pkgutil

    import scenebench.baselines as builtin

    # every package in scenebench.baselines except ``common`` is a method package (one per paper)
    for mod in pkgutil.iter_modules(builtin.__path__):
        if mod.ispkg and mod.name != "common" and not mod.name.startswith("_"):
            importlib.import_module(f"scenebench.baselines.{mod.name}")
    from importlib.metadata import entry_points

    for ep in entry_points(group="scenebench.baselines"):
        if ep.value.startswith("scenebench.baselines.") or ep.name in _BASELINES:
            continue
        _BASELINES[ep.name] = BaselineEntry(ep.name, ep.value)


def list_baselines() -> list[BaselineEntry]:
    """Registered baselines, sorted by name (nothing heavy is imported)."""
    _load_baselines()
    return [_BASELINES[n] for n in sorted(_BASELINES)]


def baseline_names() -> list[str]:
    _load_baselines()
    return sorted(_BASELINES)


def get_baseline(name: str) -> type:
    """The class of the baseline registered as ``name`` (imports it)."""
    _load_baselines()
    try:
        entry = _BASELINES[name]
    except KeyError:
        raise ConfigError(f"unknown baseline {name!r}; baselines: {', '.join(sorted(_BASELINES)) or 'none'}") from None
    return entry.load()
