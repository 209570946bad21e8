"""docs/architecture.md draws every package of both halves (so it cannot silently go stale)."""

from tests.conftest import ROOT


def packages(top):
    """Folders with an ``__init__.py`` directly under ``top`` (relative posix paths)."""
    return sorted(p.parent.relative_to(ROOT).as_posix() for p in (ROOT / top).glob("*/__init__.py"))


def test_every_package_is_in_the_architecture_doc():
    text = (ROOT / "docs" / "architecture.md").read_text()
    missing = [name for name in packages("neural_core") + packages("blender_addon") if f"{name}/" not in text]
    assert missing == []


def test_every_contract_part_is_named():
    text = (ROOT / "docs" / "architecture.md").read_text()
    contract = ROOT / "neural_core" / "contract"
    parts = [p.stem for p in contract.glob("*.py") if p.stem != "__init__"] + packages("neural_core/contract")
    missing = [part.rsplit("/", 1)[-1] for part in parts if part.rsplit("/", 1)[-1] not in text]
    assert missing == []
