"""Malicious checkpoints are refused, and their payloads never run.

Each payload, if it ran, would create ``marker`` (a file in the test's tmp folder). A
control test first proves every payload really does so under a plain ``pickle.load``.
Then each is hidden in a plain pickle, in an NVlabs-shaped snapshot (inside G_ema's
module state), in a rosinality ``torch.save`` file and in a nested tensor-storage blob.
"""

import pytest

torch = pytest.importorskip("torch")  # the Blender 5.0.1 venv has no torch: skip, do not error

import builtins
import os
import pickle
import sys
from pathlib import Path

import neural_core
from neural_core.contract.errors import CheckpointError

from .nvlabs_pickle_writer import write_snapshot


PAYLOAD_MODULE = "nf_payload_module_for_tests"


class Payload:
    def __init__(self, kind, marker):
        self.kind, self.marker = kind, str(marker)

    def __reduce__(self):
        code = f"open({self.marker!r}, 'w').close()"
        if self.kind == "os.system":
            return (os.system, (f"touch '{self.marker}'",))
        if self.kind == "exec":
            return (builtins.exec, (code,))
        if self.kind == "eval":
            return (builtins.eval, (code,))
        if self.kind == "__import__":
            return (builtins.__import__, (PAYLOAD_MODULE,))
        if self.kind == "write-file":
            return (builtins.open, (self.marker, "w"))
        raise ValueError(self.kind)


# the global each payload's stream refers to, as our error message names it
REFUSED_NAME = {
    "os.system": f"{os.system.__module__}.system",
    "exec": "builtins.exec",
    "eval": "builtins.eval",
    "__import__": "builtins.__import__",
    "write-file": f"{builtins.open.__module__}.open",
}
KINDS = list(REFUSED_NAME)


@pytest.fixture
def marker(tmp_path, monkeypatch):
    """A path that only a payload would create; the __import__ payload's module creates it too."""
    path = tmp_path / "payload_ran"
    (tmp_path / f"{PAYLOAD_MODULE}.py").write_text(f"open({str(path)!r}, 'w').close()\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield path
    sys.modules.pop(PAYLOAD_MODULE, None)


def _assert_refused(path, marker, name):
    with pytest.raises(CheckpointError) as caught:
        neural_core.load_generator(path, device="cpu")
    assert str(path) in str(caught.value)
    if name:  # protocol 2 spells builtins as __builtin__: compare the name after the module
        assert "refused" in str(caught.value) and name.split(".")[-1] in str(caught.value)
    assert not marker.exists(), "the payload ran"
    assert PAYLOAD_MODULE not in sys.modules


@pytest.mark.parametrize("kind", KINDS)
def test_payload_is_real_under_plain_pickle(kind, marker):
    """Control: a plain unpickler does run each payload (so the tests below can fail)."""
    pickle.loads(pickle.dumps({"G_ema": Payload(kind, marker)}))
    assert marker.exists()


@pytest.mark.parametrize("kind", KINDS)
def test_plain_pickle_payload_refused(kind, marker, tmp_path):
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps({"G_ema": Payload(kind, marker)}))
    _assert_refused(path, marker, REFUSED_NAME[kind])


@pytest.mark.parametrize("protocol", [2, 4])
@pytest.mark.parametrize("kind", KINDS)
def test_nvlabs_shaped_payload_refused(kind, protocol, marker, tmp_path):
    path = tmp_path / "network-snapshot-000000.pkl"
    state = {"mapping.fc0.weight": torch.zeros(2, 2)}
    src = f"open({str(marker)!r}, 'w').close()\n"
    write_snapshot(path, state, {"z_dim": 2}, src, protocol=protocol, g_ema_extra_state={"_init_kwargs": {"evil": Payload(kind, marker)}})
    assert "torch_utils" not in sys.modules and "dnnlib" not in sys.modules
    _assert_refused(path, marker, REFUSED_NAME[kind])


@pytest.mark.parametrize("kind", KINDS)
def test_rosinality_torch_file_payload_refused(kind, marker, tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"g_ema": {"style.1.weight": Payload(kind, marker)}}, path)
    _assert_refused(path, marker, None)


class StorageBlobPayload:
    """An allowed global (``torch.storage._load_from_bytes``) fed a malicious nested pickle."""

    def __init__(self, inner):
        self.inner = inner

    def __reduce__(self):
        return (torch.storage._load_from_bytes, (pickle.dumps(self.inner),))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
@pytest.mark.parametrize("kind", ["os.system", "exec"])
def test_malicious_storage_blob_refused(kind, marker, tmp_path):
    path = tmp_path / "blob.pkl"
    path.write_bytes(pickle.dumps({"G_ema": StorageBlobPayload(Payload(kind, marker))}))
    _assert_refused(path, marker, "tensor storage")


class BuildOnAllowedType:
    """BUILD (``__setstate__``) applied to an allowed type that is not one of our stand-ins."""

    def __reduce__(self):
        from collections import OrderedDict

        return (OrderedDict, (), {"__class__": "x"})


def test_build_on_foreign_object_refused(marker, tmp_path):
    path = tmp_path / "build.pkl"
    path.write_bytes(pickle.dumps({"G_ema": BuildOnAllowedType()}, protocol=2))
    _assert_refused(path, marker, "BUILD")


def test_module_src_is_never_executed(marker, tmp_path):
    """A clean snapshot loads, and its module_src (which would create marker) stays text."""
    import json

    from safetensors.torch import load_file

    folder = Path(__file__).resolve().parents[1] / "data" / "stylegan2"
    state = load_file(str(folder / "nvlabs_uncond.safetensors"))
    init_kwargs = json.loads((folder / "nvlabs_uncond.json").read_text())["init_kwargs"]
    path = tmp_path / "clean.pkl"
    write_snapshot(path, state, init_kwargs, f"import os\nos.system('touch {marker}')\nopen({str(marker)!r}, 'w').close()\n")
    G = neural_core.load_generator(path, device="cpu")
    assert G.source_format == "nvlabs-pickle"
    assert not marker.exists()
    assert "torch_utils" not in sys.modules
