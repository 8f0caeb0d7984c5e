from __future__ import annotations

import pytest

from isicseg.data import LABEL_SCHEMES, LabelScheme, get_label_scheme
from isicseg.exceptions import ConfigError, UnknownNameError
from isicseg.registry import Registry


def test_register_get_and_decorator():
    reg = Registry("widgets")
    reg.register("a", 1)

    @reg.register("b")
    def b():
        return 2

    assert reg.get("a") == 1 and reg.get("b")() == 2
    assert reg.names() == ["a", "b"] and "a" in reg and len(reg) == 2


def test_duplicates_raise_unless_override():
    reg = Registry("widgets")
    reg.register("a", 1)
    with pytest.raises(ConfigError, match="Widgets name 'a' is already registered .* override=True"):
        reg.register("a", 2)
    reg.register("a", 2, override=True)
    assert reg.get("a") == 2
    assert reg.unregister("a") == 2 and "a" not in reg


def test_unknown_name_lists_available_and_suggests():
    reg = Registry("backbones")
    for name in ("resnet50_fpn", "resnet50_fpn_v2", "mobilenet_v3_large_fpn"):
        reg.register(name, name)
    with pytest.raises(
        UnknownNameError,
        match=r"^Unknown backbone 'resnet5'. Available: mobilenet_v3_large_fpn, resnet50_fpn, resnet50_fpn_v2. Did you mean 'resnet50_fpn'\?$",
    ):
        reg.get("resnet5")
    with pytest.raises(KeyError):  # still a KeyError for generic code
        reg.get("zzz")


def test_bad_name():
    with pytest.raises(ConfigError, match="must be a non-empty string, got 3"):
        Registry("widgets").register(3, 1)


def test_label_scheme_registry_and_validation():
    assert get_label_scheme("three_class").class_names == ("background", "nevus", "seborrheic_keratosis", "melanoma")
    assert get_label_scheme("binary").diagnoses_of(1) == ["nevus", "seborrheic_keratosis"]
    with pytest.raises(UnknownNameError, match="Unknown label_scheme 'binry'. Available: binary, three_class"):
        get_label_scheme("binry")
    mel = LabelScheme(
        "melanoma_vs_rest", ("background", "other", "melanoma"), {"nevus": 1, "seborrheic_keratosis": 1, "melanoma": 2}
    )
    LABEL_SCHEMES.register("melanoma_vs_rest", mel)
    try:
        assert get_label_scheme("melanoma_vs_rest").label_of("melanoma") == 2
    finally:
        LABEL_SCHEMES.unregister("melanoma_vs_rest")


@pytest.mark.parametrize(
    ("names", "labels", "match"),
    [
        (
            ("benign", "melanoma"),
            {"nevus": 1, "seborrheic_keratosis": 1, "melanoma": 2},
            "must start with 'background'",
        ),
        (("background", "x"), {"nevus": 1, "melanoma": 1}, r"gives no label for \['seborrheic_keratosis'\]"),
        (
            ("background", "x"),
            {"nevus": 1, "seborrheic_keratosis": 1, "melanoma": 2},
            r"labels \{'melanoma': 2\} are outside 1..1",
        ),
    ],
)
def test_invalid_schemes(names, labels, match):
    with pytest.raises(ConfigError, match=match):
        LabelScheme("bad", names, labels)


def test_unknown_diagnosis():
    with pytest.raises(ConfigError, match="Unknown diagnosis 'mole'"):
        get_label_scheme("binary").label_of("mole")
