"""Checkpoint formats: our safetensors, rosinality .pt, NVlabs .pkl; info / convert; bad files."""

import pytest

torch = pytest.importorskip("torch")  # the Blender 5.0.1 venv has no torch: skip, do not error

import argparse
import json
import pickle
from pathlib import Path

import numpy as np
from safetensors.torch import load_file, save_file

import neural_core
from neural_core.cli import main
from neural_core.contract.errors import CheckpointError
from neural_core.generator.checkpoints import read_checkpoint, save_generator

from .nvlabs_pickle_writer import write_snapshot
from .test_generator_network import tiny_generator

REFERENCE_DIR = Path(__file__).resolve().parents[1] / "data" / "stylegan2"


@pytest.fixture
def reference_dir():
    """The committed reference checkpoints (tests/data/stylegan2); missing files fail."""
    return REFERENCE_DIR


@pytest.fixture
def nvlabs_pickle(reference_dir, tmp_path):
    path = tmp_path / "network-snapshot.pkl"
    state = load_file(str(reference_dir / "nvlabs_cond.safetensors"))
    init_kwargs = json.loads((reference_dir / "nvlabs_cond.json").read_text())["init_kwargs"]
    write_snapshot(path, state, init_kwargs, "raise SystemExit('module_src must not run')\n")
    return path


def test_native_round_trip_is_bit_identical_and_never_unpickles(tmp_path, monkeypatch):
    G = tiny_generator(c_dim=3, conv_clamp=2.0)
    path = tmp_path / "tiny.safetensors"
    save_generator(G, path)
    assert not list(tmp_path.glob("*.tmp-*"))

    def refuse(*args, **kwargs):
        raise AssertionError("native loading must not unpickle")

    import neural_core.generator.checkpoints.nvlabs  # noqa: F401  (defines its unpickler class at import)

    monkeypatch.setattr(pickle, "Unpickler", refuse)
    monkeypatch.setattr(pickle, "_Unpickler", refuse)
    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(torch, "load", refuse)
    again = neural_core.load_generator(path, device="cpu")
    assert again.config == G.config
    z, c = torch.randn(2, 8), torch.randn(2, 3)
    with torch.no_grad():
        assert torch.equal(again(z, c), G(z, c))


def test_native_metadata_holds_the_config(tmp_path):
    from safetensors import safe_open

    G = tiny_generator()
    path = tmp_path / "tiny.safetensors"
    save_generator(G, path)
    with safe_open(str(path), "pt") as handle:
        metadata = handle.metadata()
    assert metadata["format"] == "neural_face.generator"
    assert json.loads(metadata["config"])["channels"] == {"4": 6, "8": 5, "16": 4}


def test_rosinality_train_checkpoint_with_args_and_no_latent_avg(reference_dir, tmp_path):
    """train.py files hold args (argparse.Namespace), g, d, optimizers and no latent_avg."""
    data = torch.load(reference_dir / "rosinality_s32.pt", weights_only=True)
    path = tmp_path / "010000.pt"
    torch.save(
        {
            "g": data["g_ema"],
            "d": {},
            "g_ema": data["g_ema"],
            "g_optim": {},
            "d_optim": {},
            "args": argparse.Namespace(size=32, n_mlp=2),
            "ada_aug_p": 0.0,
        },
        path,
    )
    G = neural_core.load_generator(path, device="cpu")
    true_avg = data["latent_avg"]
    assert not torch.equal(G.mapping.w_avg, true_avg)
    assert torch.allclose(G.mapping.w_avg, true_avg, atol=0.05), float((G.mapping.w_avg - true_avg).abs().max())
    assert "estimated" in read_checkpoint(path).info["latent_avg"]


def test_convert_and_info_on_both_foreign_formats(reference_dir, nvlabs_pickle, tmp_path, capsys):
    for source, fmt, res in ((reference_dir / "rosinality_s128.pt", "rosinality", 128), (nvlabs_pickle, "nvlabs-pickle", 64)):
        assert main(["info", str(source)]) == 0
        text = capsys.readouterr().out
        assert fmt in text and f"{res} x {res}" in text and "parameters" in text
        assert main(["info", "--json", str(source)]) == 0
        summary = json.loads(capsys.readouterr().out)
        assert summary["source_format"] == fmt and summary["resolution"] == res and summary["parameters"] > 10000
        out = tmp_path / f"{fmt}.safetensors"
        assert main(["convert", str(source), str(out)]) == 0
        assert "wrote" in capsys.readouterr().out
        original, converted = neural_core.load_generator(source, device="cpu"), neural_core.load_generator(out, device="cpu")
        assert converted.source_format == "neural_face" and read_checkpoint(out).info["source_format"] == fmt
        z = torch.randn(2, original.z_dim)
        c = torch.eye(original.c_dim)[:2] if original.c_dim else None
        with torch.no_grad():
            assert torch.equal(original(z, c), converted(z, c))
        assert main(["info", str(out)]) == 0 and "neural_face" in capsys.readouterr().out


def test_convert_refuses_bad_output_names(reference_dir, tmp_path, capsys):
    source = reference_dir / "rosinality_s32.pt"
    assert main(["convert", str(source), str(tmp_path / "out.pt")]) == 2
    assert "must end in .safetensors" in capsys.readouterr().err
    existing = tmp_path / "out.safetensors"
    existing.write_bytes(b"keep")
    assert main(["convert", str(source), str(existing)]) == 2
    assert existing.read_bytes() == b"keep"
    assert main(["convert", "--force", str(source), str(existing)]) == 0


def _truncated(src, dst, fraction=0.5):
    data = src.read_bytes()
    dst.write_bytes(data[: int(len(data) * fraction)])
    return dst


def _bad_files(reference_dir, nvlabs_pickle, tmp_path):
    native = tmp_path / "native.safetensors"
    save_generator(tiny_generator(), native)
    corrupt_header = tmp_path / "corrupt_header.safetensors"
    data = bytearray(native.read_bytes())
    data[10:30] = b"\x00" * 20
    corrupt_header.write_bytes(bytes(data))
    missing_tensor = tmp_path / "missing_tensor.safetensors"
    tensors = load_file(str(native))
    tensors.pop("synthesis.b8.conv0.weight")
    from safetensors import safe_open

    with safe_open(str(native), "pt") as handle:
        save_file(tensors, str(missing_tensor), metadata=handle.metadata())
    random_bytes = tmp_path / "random.bin"
    random_bytes.write_bytes(np.random.default_rng(0).bytes(5000))
    empty = tmp_path / "empty.pt"
    empty.write_bytes(b"")
    not_a_generator = tmp_path / "list.pkl"
    not_a_generator.write_bytes(pickle.dumps([1, 2, 3]))
    return {
        "truncated safetensors": _truncated(native, tmp_path / "t.safetensors"),
        "truncated rosinality": _truncated(reference_dir / "rosinality_s32.pt", tmp_path / "t.pt"),
        "truncated pickle": _truncated(nvlabs_pickle, tmp_path / "t.pkl"),
        "corrupt header": corrupt_header,
        "missing tensor": missing_tensor,
        "random bytes": random_bytes,
        "empty": empty,
        "no such file": tmp_path / "absent.safetensors",
        "not a generator": not_a_generator,
    }


def test_truncated_or_corrupted_files_give_clear_errors(reference_dir, nvlabs_pickle, tmp_path, capsys):
    for label, path in _bad_files(reference_dir, nvlabs_pickle, tmp_path).items():
        with pytest.raises(CheckpointError) as caught:
            neural_core.load_generator(path, device="cpu")
        message = str(caught.value)
        assert str(path) in message, (label, message)
        assert "Traceback" not in message
        assert main(["info", str(path)]) == 2, label
        err = capsys.readouterr().err
        assert err.startswith("error: ") and "Traceback" not in err, (label, err)


def test_missing_tensor_is_named(reference_dir, nvlabs_pickle, tmp_path):
    path = _bad_files(reference_dir, nvlabs_pickle, tmp_path)["missing tensor"]
    with pytest.raises(CheckpointError, match="synthesis.b8.conv0.weight"):
        neural_core.load_generator(path, device="cpu")


def test_stylegan3_state_dict_is_refused_clearly(tmp_path):
    path = tmp_path / "sg3.safetensors"
    save_file(
        {"mapping.fc0.weight": torch.zeros(4, 4), "synthesis.input.affine.weight": torch.zeros(4, 4)},
        str(path),
        metadata={"init_kwargs": "{}"},
    )
    with pytest.raises(CheckpointError, match="StyleGAN3"):
        neural_core.load_generator(path, device="cpu")


def test_a_safetensors_header_length_with_pickles_first_byte_is_still_safetensors(tmp_path):
    """Bug: a safetensors file whose header is 0x..80 bytes long starts with b"\\x80" and was read as an NVlabs pickle."""
    from neural_core.generator.checkpoints import detect_format

    path = tmp_path / "model.safetensors"
    for padding in range(400):  # grow the metadata until the header length's low byte is 0x80
        save_file({"x": torch.zeros(2)}, str(path), metadata={"pad": "p" * padding})
        if path.read_bytes()[:1] == b"\x80":
            break
    assert path.read_bytes()[:1] == b"\x80"
    assert detect_format(path) == "safetensors"
