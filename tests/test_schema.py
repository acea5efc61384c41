"""Config validation: unknown key, wrong type, out of range each name the key and why."""

from dataclasses import dataclass

import pytest

from robolabor.schema import ConfigError, from_dict, spec, to_dict


@dataclass(frozen=True)
class Inner:
    rate: float = spec(1.0, lo=0.0, hi=2.0, lo_open=True)
    count: int = spec(3, lo=1)
    name: str = spec("mlp", choices=("mlp", "cnn2d"))
    path: str | None = spec(None)


@dataclass(frozen=True)
class Outer:
    inner: Inner = spec(default_factory=Inner)
    flag: bool = spec(True)
    pair: tuple[float, float] = spec((0.0, 1.0))


def test_defaults_and_coercion():
    cfg = from_dict(Outer, {"inner": {"rate": 2, "path": "w.pt"}, "pair": [1, 2]})
    assert cfg.inner.rate == 2.0 and isinstance(cfg.inner.rate, float)
    assert cfg.pair == (1.0, 2.0)
    assert to_dict(cfg)["inner"]["path"] == "w.pt"


@pytest.mark.parametrize("data, fragment", [
    ({"inner": {"rat": 1.0}}, "inner: unknown key(s) ['rat']"),
    ({"inner": {"rate": 0.0}}, "inner.rate: must be > 0.0"),
    ({"inner": {"rate": 2.5}}, "inner.rate: must be <= 2.0"),
    ({"inner": {"count": 1.5}}, "inner.count: expected an integer"),
    ({"inner": {"count": True}}, "inner.count: expected an integer"),
    ({"inner": {"rate": "3e-4"}}, "a number in quotes is text"),
    ({"inner": {"name": "vit"}}, "inner.name: must be one of"),
    ({"flag": "yes"}, "flag: expected true/false"),
    ({"pair": [1.0]}, "pair: expected 2 items"),
    ({"inner": {"rate": float("nan")}}, "NaN"),
    ({"inner": 3}, "inner: expected a mapping"),
])
def test_bad_values_name_the_key(data, fragment):
    with pytest.raises(ConfigError) as info:
        from_dict(Outer, data)
    assert fragment in str(info.value)
