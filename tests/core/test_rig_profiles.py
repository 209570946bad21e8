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


# -- mesh-name and blend-shape-node prefixes (issue 13.3) ---------------------------

@pytest.mark.parametrize("spelling, name", [
    ("Face.jawOpen", "jawOpen"), ("Face_jawOpen", "jawOpen"), ("blendShape1.jawOpen", "jawOpen"),
    ("blendShape1_eyeBlink_L", "eyeBlinkLeft"), ("Face.eyeBlink.L", "eyeBlinkLeft"),
    ("Head_Mesh.mouthSmileLeft", "mouthSmileLeft"), ("Face_mouth_smile_L", "mouthSmileLeft"),
    ("FACE_JAWOPEN", "jawOpen"), ("rig:blendShape1.cheekPuff", "cheekPuff"),
])
def test_a_prefix_ending_in_a_dot_or_underscore_is_ignored(spelling, name):
    assert profiles.arkit_name(spelling) == name


@pytest.mark.parametrize("spelling, name", [
    ("mouth_smile_L", "mouthSmileLeft"), ("eye_blink_left", "eyeBlinkLeft"), ("eyeBlink_L", "eyeBlinkLeft"),
    ("brow_inner_up", "browInnerUp"), ("mouth_left", "mouthLeft"), ("jaw_open", "jawOpen"),
])
def test_underscore_variants_are_read_whole_not_as_a_prefix(spelling, name):
    assert profiles.arkit_name(spelling) == name


@pytest.mark.parametrize("spelling", [
    "Face_something", "Face.something", "Face_smile_L", "jawOpen_R", "Face_jawOpen_R", "blendShape1.eyeBlink",
    "mouth_smile", "Face_", "Face.", "id_00", "jawOpen.001",
])
def test_names_that_are_no_arkit_name_after_any_prefix_stay_unknown(spelling):
    assert profiles.arkit_name(spelling) is None


def test_a_maya_style_rig_is_detected_as_arkit52():
    keys = ["blendShape1.jawOpen", "blendShape1.eyeBlinkLeft", "blendShape1.eyeBlinkRight", "blendShape1.custom_sneer"]
    match = profiles.match_profile("auto", keys)
    assert match.profile == "arkit52"
    assert {m.coefficient: m.shape_key for m in match.mappings} == {
        "jawOpen": "blendShape1.jawOpen", "eyeBlinkLeft": "blendShape1.eyeBlinkLeft",
        "eyeBlinkRight": "blendShape1.eyeBlinkRight"}
    assert match.unmapped == ["blendShape1.custom_sneer"]


def test_a_plain_name_wins_over_a_prefixed_one_in_any_order():
    match = profiles.match_profile("arkit52", ["Corrective_jawOpen", "jawOpen", "Face_cheekPuff"])
    mapped = {m.coefficient: m.shape_key for m in match.mappings}
    assert mapped == {"jawOpen": "jawOpen", "cheekPuff": "Face_cheekPuff"}
    assert match.unmapped == ["Corrective_jawOpen"]


def test_a_rig_of_non_arkit_names_with_a_face_prefix_is_still_refused():
    with pytest.raises(NeuralFaceError, match="no known rig profile"):
        profiles.match_profile("auto", ["Face_something", "Face_smile_L", "Face_frown"])


def test_the_custom_profile_error_says_where_to_set_a_map():
    with pytest.raises(NeuralFaceError) as info:
        profiles.match_profile("custom", ["jawOpen"])
    assert "Rig Map" in str(info.value) and "--map FILE.json" in str(info.value)
    with pytest.raises(NeuralFaceError) as info:
        profiles.match_profile("auto", ["smile"])
    assert "--profile custom --map FILE.json" in str(info.value) and "docs/rigs.md" in str(info.value)
