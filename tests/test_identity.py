import numpy as np
import pytest

from scenebench.errors import ConfigError
from scenebench.generator import resolve
from scenebench.identity import SampleStreams, canonical_json, dataset_rng, fingerprint, sample_rng


def test_sample_streams_equal_fresh_generators():
    streams = SampleStreams(3, "train")
    for i in [0, 1, 7, 2**40, 5]:
        a = streams.rng(i).random(9)
        b = sample_rng(3, "train", i).random(9)
        assert np.array_equal(a, b)


def test_streams_differ_by_seed_split_index():
    base = sample_rng(0, "train", 0).integers(0, 2**62, 4)
    assert not np.array_equal(base, sample_rng(1, "train", 0).integers(0, 2**62, 4))
    assert not np.array_equal(base, sample_rng(0, "test", 0).integers(0, 2**62, 4))
    assert not np.array_equal(base, sample_rng(0, "train", 1).integers(0, 2**62, 4))
    assert not np.array_equal(base, dataset_rng(0, "train").integers(0, 2**62, 4))


def test_canonical_json_and_fingerprint_stable():
    assert canonical_json({"b": 1, "a": [1.5, (2, 3)]}) == '{"a":[1.5,[2,3]],"b":1}'
    fp = fingerprint("f", "p", {"x": 1}, "1.0.0", 0)
    assert fp == fingerprint("f", "p", {"x": 1}, "1.0.0", 0)
    assert fp != fingerprint("f", "p", {"x": 2}, "1.0.0", 0)
    assert fp != fingerprint("f", "p", {"x": 1}, "1.0.1", 0)
    assert fp != fingerprint("f", "p", {"x": 1}, "1.0.0", 1)
    with pytest.raises(ValueError):
        canonical_json({"x": float("nan")})


def test_resolve_overrides_and_spelling_independent_fingerprint():
    a = resolve("multi_dsprites", "lavae", overrides={"max_objects": "4", "scale_min": "0.5"})
    b = resolve("multi_dsprites", "lavae", overrides={"max_objects": 4, "scale_min": "0.50"})
    assert a.fingerprint == b.fingerprint
    assert a.config["max_objects"] == 4
    c = resolve("multi_dsprites", "lavae", overrides={"splits.train": "10", "splits.test-7.min_objects": "5"})
    assert c.splits["train"]["num_samples"] == 10
    assert c.split_config("test-7").min_objects == 5
    assert c.fingerprint != resolve("multi_dsprites", "lavae").fingerprint


@pytest.mark.parametrize("overrides, match", [
    ({"nope": "1"}, "unknown config key 'nope'"),
    ({"max_objects": "three"}, "expected a value of type int"),
    ({"overlap": "maybe"}, "expected a value of type bool"),
    ({"max_objects": "8"}, "cannot be placed without overlap"),
    ({"max_size": "-3"}, "max_size must be"),
    ({"shapes": "square,star"}, "unknown shape 'star'"),
    ({"colors": "pastel"}, "expected one of"),
    ({"splits.valid": "5"}, "unknown split"),
    ({"splits.train": "-5"}, "positive number of samples"),
])
def test_bad_config_errors(overrides, match):
    with pytest.raises(ConfigError, match=match):
        resolve("multi_dsprites", "lavae", overrides=overrides)


def test_unknown_family_and_preset():
    with pytest.raises(ConfigError, match="unknown dataset family"):
        resolve("nope", "lavae")
    with pytest.raises(ConfigError, match="unknown preset"):
        resolve("multi_dsprites", "nope")
