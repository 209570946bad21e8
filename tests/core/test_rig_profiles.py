"""Rig profiles: ARKit variants, FLAME numbering, custom JSON maps, auto-detection, errors."""

import json

import pytest

from neural_core.contract.errors import NeuralFaceError
from neural_core.contract.rig import profiles
from neural_core.contract.rig.arkit import ARKIT_52


@pytest.mark.parametrize("spelling", [
    "eyeBlinkLeft", "EyeBlinkLeft", "eyeBlink_L", "eyeBlinkL", "eye_blink_left",
    "EYEBLINKLEFT", "eyeBlink.L", "Face:eyeBlinkLeft",
])
def test_arkit_variants_name_the_same_blendshape(spelling):
    assert profiles.arkit_name(spelling) == "eyeBlinkLeft"


def test_arkit_names_that_are_not_arkit_stay_unknown():
    assert profiles.arkit_name("eyeBlink") is None
    assert profiles.arkit_name("mouthFunne") is None
    assert profiles.arkit_name("Basis") is None
    assert profiles.arkit_name("jawOpen_R") is None


def test_every_arkit_name_in_every_variant_round_trips():
    for name in ARKIT_52:
        assert profiles.arkit_name(name) == name
        assert profiles.arkit_name(name[0].upper() + name[1:]) == name
        for side, short in (("Left", "L"), ("Right", "R")):
            if name.endswith(side):
                assert profiles.arkit_name(name[: -len(side)] + "_" + short) == name


def test_arkit52_orders_identity_then_all_52_and_reports_the_rest():
    keys = ["id_01", "id_00", "jaw_open", "EyeBlinkRight", "eyeBlink_R", "smile_big"]
    match = profiles.match_profile("arkit52", keys, bones=["Head", "jaw", "eye.L", "eye_right"])
    assert match.coefficient_names[:2] == ["id_00", "id_01"]
    assert match.coefficient_names[2:] == list(ARKIT_52)
    mapped = {m.coefficient: m.shape_key for m in match.mappings}
    assert mapped == {"id_00": "id_00", "id_01": "id_01", "jawOpen": "jaw_open",
                      "eyeBlinkRight": "EyeBlinkRight"}
    assert match.unmapped == ["eyeBlink_R", "smile_big"]  # second spelling of the same name
    assert "eyeBlinkLeft" in match.missing and "jawOpen" not in match.missing
    assert match.joints == {"head": "Head", "jaw": "jaw", "eye.L": "eye.L", "eye.R": "eye_right"}


def test_flame_numbers_shape_then_expression_and_finds_its_joints():
    keys = [f"Exp{i:03d}" for i in range(100)] + [f"Shape{i:03d}" for i in range(300)]
    bones = ["root", "neck", "jaw", "left_eye", "right_eye"]
    match = profiles.match_profile("auto", ["Basis_extra"] + keys, bones)
    assert match.profile == "flame"
    assert match.coefficient_names[0] == "Shape000" and match.coefficient_names[299] == "Shape299"
    assert match.coefficient_names[300] == "Exp000" and len(match.coefficient_names) == 400
    assert match.unmapped == ["Basis_extra"]
    assert match.joints == {"head": "root", "neck": "neck", "jaw": "jaw",
                            "eye.L": "left_eye", "eye.R": "right_eye"}


def test_auto_detection_prefers_the_profile_matching_most_keys():
    keys = ["eyeBlink_L", "eyeBlink_R", "jawOpen", "Exp000"]
    match = profiles.detect_profile(keys)
    assert match.profile == "arkit52"
    assert match.unmapped == ["Exp000"]
    keys = ["jawOpen", "Exp000", "Exp001"]
    assert profiles.detect_profile(keys).profile == "flame"


def test_a_rig_with_no_known_names_fails_listing_what_it_found_and_the_custom_map():
    with pytest.raises(NeuralFaceError) as info:
        profiles.match_profile("auto", ["smile", "frown", "id_00"])
    message = str(info.value)
    assert "'smile'" in message and "'frown'" in message
    assert "custom" in message and "JSON" in message


def test_an_explicit_profile_that_maps_nothing_fails():
    with pytest.raises(NeuralFaceError, match="flame"):
        profiles.match_profile("flame", ["jawOpen"])
    with pytest.raises(NeuralFaceError, match="unknown rig profile"):
        profiles.match_profile("mocap", ["jawOpen"])
    with pytest.raises(NeuralFaceError, match="custom map"):
        profiles.match_profile("custom", ["jawOpen"])


def test_custom_map_from_json_keeps_file_order_and_scale(tmp_path):
    path = tmp_path / "map.json"
    path.write_text(json.dumps({"smile": "happy", "frown": {"name": "sad", "scale": 0.5},
                                "absent": "gone"}))
    match = profiles.match_profile("custom", ["frown", "smile", "other"], custom_map=path)
    assert match.profile == "custom"
    assert match.coefficient_names == ["happy", "sad", "gone"]
    assert [(m.shape_key, m.coefficient, m.scale) for m in match.mappings] == [
        ("smile", "happy", 1.0), ("frown", "sad", 0.5)]
    assert match.missing == ["gone"] and match.unmapped == ["other"]
    # An explicit map wins over auto-detection.
    assert profiles.match_profile("auto", ["smile", "jawOpen"], custom_map=path).profile == "custom"


@pytest.mark.parametrize("content, needle", [
    ("not json", "not valid JSON"),
    ("[1, 2]", "JSON object"),
    ('{"a": 3}', "entry 'a'"),
    ('{"a": {"name": "x", "scale": "big"}}', "'scale' must be a number"),
    ('{"a": "x", "b": "x"}', "used twice"),
])
def test_bad_custom_maps_name_the_file_and_entry(tmp_path, content, needle):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(NeuralFaceError) as info:
        profiles.load_custom_map(path)
    assert needle in str(info.value) and "bad.json" in str(info.value)


def test_custom_map_naming_no_rig_key_fails():
    with pytest.raises(NeuralFaceError, match="names none of the rig's shape keys"):
        profiles.match_profile("custom", ["jawOpen"], custom_map={"smile": "happy"})
