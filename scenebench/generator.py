"""The generator contract and the resolved dataset spec.

A generator (one class per dataset family, in ``generators/``) says only
what a sample is and how to draw one::

    @register_generator
    class MultiDSprites(Generator):
        name = "multi_dsprites"
        VERSION = "1.0.0"
        RELEASE_NOTES = {"1.0.0": "First release."}
        Config = DSpritesConfig                  # frozen dataclass, typed fields
        PRESETS = {"lavae": Preset(...), ...}

        def features(self, config): ...          # list[Feature] for one sample
        def prepare(self, config, rng): ...      # optional dataset-level assets
        def draw_scene(self, rng, config, assets, out): ...  # fill out's arrays
        def render_batch(self, config, assets, arrays): ...  # optional vectorised pixels
        def draw_batch(self, source, config, assets, arrays): ...  # optional: a whole batch at once

``out`` is a :class:`~scenebench.datasets.schema.Row`: writable views of this sample's
slot in the shard buffer, pre-filled with each feature's padding value, so a
generator writes its arrays in place (no per-sample allocation or copy).
``draw_scene`` must be a pure function of its arguments: it never opens
files, spawns processes, seeds global state or prints. The core does the
sharding, seeding, parallelism, writing, checksums, progress and previews.

``scenebench list`` reads the built-in families from
``generators/catalog.json`` instead of importing them: after adding or
changing a built-in generator's version, description, presets or split
sizes, run ``python -m scenebench.registry`` (a test fails until the
catalog matches).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar, Mapping

from . import config as cfg
from .errors import ConfigError
from .datasets.identity import fingerprint
from .datasets.schema import Feature


MAX_SPLIT_SAMPLES = 2**31 - 1  # samples per split (the shard plan is held in memory: ~500k tasks at most)


class Generator:
    """Base class of dataset-family generators."""

    name: ClassVar[str]
    VERSION: ClassVar[str]
    RELEASE_NOTES: ClassVar[Mapping[str, str]]
    Config: ClassVar[type]
    PRESETS: ClassVar[Mapping[str, cfg.Preset]]
    description: ClassVar[str] = ""
    paper: ClassVar[str] = ""
    #: Config fields that say where this machine keeps an input (a directory
    #: path), not what the data is. They are left out of the fingerprint and
    #: the identity; ``resolve_config`` must pin the input's content instead
    #: (a checksum or source name), so the same files found at a different
    #: path give the same fingerprint and different files never share one.
    LOCAL_FIELDS: ClassVar[tuple[str, ...]] = ()

    def features(self, config) -> list[Feature]:
        raise NotImplementedError

    def resolve_config(self, config):
        """Make environment-dependent choices concrete before the fingerprint is taken.

        E.g. an MNIST ``source="auto"`` becomes ``"idx"`` or ``"embedded"``
        depending on the files found, so two datasets drawn from different
        digits never share a fingerprint. Default: unchanged.
        """
        return config

    def prepare(self, config, rng) -> Any:
        """Dataset-level assets shared by every sample (e.g. a sprite bank).

        ``rng`` is the dataset-level stream; the result is cached per worker.
        """
        return None

    def describe_assets(self, assets) -> dict:
        """JSON facts about the assets for the manifest (e.g. the MNIST source)."""
        return {}

    def draw_scene(self, rng, config, assets, out) -> None:
        """Draw one scene from ``rng`` into ``out`` (see the module docstring)."""
        raise NotImplementedError

    def render_batch(self, config, assets, arrays: Mapping[str, Any]) -> None:
        """Optional second, deterministic phase run once per batch after ``draw_scene``.

        A generator whose ``draw_scene`` only records the scene description
        (what is where, in which color) can paint the pixels of the whole batch
        here, vectorised over samples. ``arrays`` maps feature names to the
        batch's (n, ...) arrays. It draws no random numbers, so a sample
        redrawn alone (a batch of one) is identical.
        """

    # Optional, found with getattr by the core (scenebench.datasets.shards):
    #
    #   def draw_batch(self, source, config, assets, arrays) -> None
    #
    # draws a whole batch at once, vectorised, instead of one ``draw_scene``
    # call per sample. ``source`` is a :class:`~scenebench.datasets.identity.StreamSource`:
    # ``source.n`` samples, ``source(rows, m)`` gives the first ``m`` uniforms
    # of the streams of the samples at batch positions ``rows`` (exactly what
    # their per-sample generators' ``random(m)`` would give) and
    # ``source.rng(j)`` is sample ``j``'s generator. Each sample must still
    # depend only on its own stream, so a batch of one (``draw_sample``) and
    # any batching give the same bytes.


@dataclass(frozen=True)
class DatasetSpec:
    """A fully resolved dataset: family, preset, config, split plan, version and seed."""

    family: str
    preset: str
    version: str
    seed: int
    config: Mapping[str, Any]  # generator config fields, JSON-able
    splits: Mapping[str, Mapping[str, Any]]  # name -> {"num_samples": n, "overrides": {...}}

    @property
    def full_config(self) -> dict:
        return {**self.config, "splits": {k: dict(v) for k, v in self.splits.items()}}

    @property
    def identity_config(self) -> dict:
        """:attr:`full_config` without the generator's machine-local fields (see ``LOCAL_FIELDS``)."""
        local = set(type(self.generator()).LOCAL_FIELDS)
        if not local:
            return self.full_config
        return {**{k: v for k, v in self.config.items() if k not in local},
                "splits": {k: {**v, "overrides": {o: x for o, x in v.get("overrides", {}).items() if o not in local}}
                           for k, v in self.splits.items()}}

    @property
    def stream_id(self) -> str:
        """``"family/preset"``: the dataset's part of every random stream's key (see :mod:`~scenebench.datasets.identity`)."""
        return f"{self.family}/{self.preset}"

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.family, self.preset, self.identity_config, self.version, self.seed)

    def generator(self) -> Generator:
        from .registry import get_generator

        return get_generator(self.family)

    def split_config(self, split: str):
        """The typed config object used to draw samples of ``split``."""
        if split not in self.splits:
            raise ConfigError(f"unknown split {split!r} for {self.family}/{self.preset}; splits: {', '.join(self.splits)}")
        gen = type(self.generator())
        base = cfg.apply_overrides(gen.Config(), self.config)
        return cfg.apply_overrides(base, self.splits[split].get("overrides", {}))

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "DatasetSpec":
        return cls(**{f.name: d[f.name] for f in dataclasses.fields(cls)})


def resolve(family: str, preset: str, *, seed: int = 0, overrides: Mapping[str, str] | None = None,
            num: int | None = None) -> DatasetSpec:
    """Resolve a preset plus ``key=value`` overrides into a validated :class:`DatasetSpec`.

    ``overrides`` keys are config fields (``max_objects=5``), split sizes
    (``splits.train=1000``) or per-split config (``splits.test-7.max_objects=6``).
    ``num`` sets every split's size.
    """
    from .registry import get_generator

    gen = get_generator(family)
    if preset not in gen.PRESETS:
        raise ConfigError(f"unknown preset {preset!r} for {family}; presets: {', '.join(gen.PRESETS)}")
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63:
        raise ConfigError(f"seed must be an integer in [0, 2**63), got {seed!r}")
    p = gen.PRESETS[preset]
    config = p.config
    splits = {k: {"num_samples": s.num_samples, "overrides": dict(s.overrides), **({"track": s.track} if s.track else {})}
              for k, s in p.splits.items()}
    if num is not None:
        if isinstance(num, bool) or not isinstance(num, int) or not 1 <= num <= MAX_SPLIT_SAMPLES:
            raise ConfigError(f"--num must be an integer in [1, {MAX_SPLIT_SAMPLES:,}], got {num!r}")
        for s in splits.values():
            s["num_samples"] = num
    plain = {}
    for key, value in (overrides or {}).items():
        if key.startswith("splits."):
            parts = key.split(".", 2)
            if len(parts) < 2 or parts[1] not in splits:
                raise ConfigError(f"{key}: unknown split; splits of {family}/{preset}: {', '.join(splits)}")
            if len(parts) == 2 or parts[2] == "num_samples":
                n = cfg.parse_value(key, str(value), int) if isinstance(value, str) else value
                if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_SPLIT_SAMPLES:
                    raise ConfigError(f"{key}={value!r}: expected a number of samples in [1, {MAX_SPLIT_SAMPLES:,}]")
                splits[parts[1]]["num_samples"] = n
            else:
                splits[parts[1]]["overrides"][parts[2]] = value
        else:
            plain[key] = value
    config = gen.resolve_config(cfg.apply_overrides(config, plain))
    cfg.validate(config)
    config_plain = cfg.config_dict(config)
    for name, s in splits.items():
        split_cfg = cfg.apply_overrides(config, s["overrides"])
        try:
            cfg.validate(split_cfg)
        except ConfigError as exc:
            raise ConfigError(f"split {name!r}: {exc}") from None
        # store overrides as typed values so the fingerprint does not depend on spelling
        full = cfg.config_dict(split_cfg)
        s["overrides"] = {k: full[k] for k in s["overrides"]}
    return DatasetSpec(family=family, preset=preset, version=gen.VERSION, seed=int(seed),
                       config=config_plain, splits=splits)
