"""blender_manifest.toml carries what Blender's extension platform and the issue require."""

import re
import tomllib

from tests.conftest import ROOT

MANIFEST = tomllib.loads((ROOT / "blender_manifest.toml").read_text())


def test_identity_and_versions():
    assert MANIFEST["id"] == "neural_face"
    assert MANIFEST["type"] == "add-on"
    assert MANIFEST["blender_version_min"] == "4.2.0"
    assert re.fullmatch(r"\d+\.\d+\.\d+", MANIFEST["version"])
    assert MANIFEST["schema_version"] == "1.0.0"


def test_version_matches_the_core_and_pyproject():
    import neural_core

    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert MANIFEST["version"] == neural_core.__version__ == pyproject["project"]["version"]


def test_licence_is_spdx_and_present():
    assert MANIFEST["license"] and all(l.startswith("SPDX:") for l in MANIFEST["license"])
    assert (ROOT / "LICENSE").is_file()


def test_permissions_tagline_maintainer_website():
    files = MANIFEST["permissions"]["files"]
    assert isinstance(files, str) and 0 < len(files) <= 64 and not files.endswith(".")
    assert 0 < len(MANIFEST["tagline"]) <= 64 and not MANIFEST["tagline"].endswith(".")
    assert re.fullmatch(r".+ <[^@\s]+@[^@\s]+>", MANIFEST["maintainer"])
    assert MANIFEST["website"].startswith("https://")
