"""The worker Python of an installed extension: the .venv of the checkout that built the
zip (``checkout.json`` in the package), else the environment variable, else a clear error."""

import json

import pytest

from blender_addon.jobs import worker_client as worker
from tests.blender.render_helpers import make_fake_python


@pytest.fixture
def installed(monkeypatch):
    """Pretend the add-on runs as an installed extension (no checkout around it)."""
    monkeypatch.setattr(worker, "repository_root", lambda: None)


def build_info(tmp_path, checkout, python):
    path = tmp_path / "checkout.json"
    path.write_text(json.dumps({"checkout": str(checkout), "worker_python": str(python)}))
    return path


def test_the_building_checkouts_venv_is_the_default(installed, tmp_path):
    checkout = tmp_path / "checkout"
    venv_python = make_fake_python(checkout / ".venv" / "bin")
    env_python = make_fake_python(tmp_path / "env")
    info = build_info(tmp_path, checkout, venv_python)
    chosen = worker.resolve_worker_python("", environ={"NEURAL_FACE_PYTHON": str(env_python)}, build_info=info)
    assert chosen == str(venv_python)
    preference = make_fake_python(tmp_path / "pref")
    assert worker.resolve_worker_python(str(preference), environ={}, build_info=info) == str(preference)


def test_a_checkout_that_is_gone_falls_back_to_the_environment_variable(installed, tmp_path):
    env_python = make_fake_python(tmp_path / "env")
    info = build_info(tmp_path, tmp_path / "moved", tmp_path / "moved/.venv/bin/python")
    assert worker.resolve_worker_python("", environ={"NEURAL_FACE_PYTHON": str(env_python)}, build_info=info) == str(env_python)


def test_nothing_found_names_the_preference_and_the_path_looked_for(installed, tmp_path):
    missing = tmp_path / "moved/.venv/bin/python"
    info = build_info(tmp_path, tmp_path / "moved", missing)
    with pytest.raises(worker.WorkerError) as caught:
        worker.resolve_worker_python("", environ={}, build_info=info)
    message = str(caught.value)
    assert "'Worker Python'" in message and str(missing) in message and str(tmp_path / "moved") in message


def test_an_unreadable_build_info_is_ignored(installed, tmp_path):
    (tmp_path / "checkout.json").write_text("{not json")
    assert worker.built_from(tmp_path / "checkout.json") is None
    assert worker.built_from(tmp_path / "absent.json") is None
    with pytest.raises(worker.WorkerError, match="Worker Python"):
        worker.resolve_worker_python("", environ={}, build_info=tmp_path / "checkout.json")
