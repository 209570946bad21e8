"""farm/flamenco/neural_face.js compiled under Node by a stand-in for Flamenco 3's job
compiler (tests/core/flamenco/compile_job.js, written from Flamenco's documentation).
tests/blender/test_farm_jobs.py runs the compiled commands."""

import json
import shutil
import subprocess

import pytest

from tests.conftest import ROOT

JOB_TYPE = ROOT / "farm" / "flamenco" / "neural_face.js"
COMPILER = ROOT / "tests" / "core" / "flamenco" / "compile_job.js"
NODE = shutil.which("node")
pytestmark = pytest.mark.skipif(NODE is None, reason="Node.js is not installed")

SETTINGS = {"frames": "1-48", "chunk_size": 12, "job_folder": "/farm/jobs/shot010",
            "render_shot_script": "/farm/neural_face/tools/render_shot.py",
            "worker_python": "/farm/neural_face/.venv/bin/python", "blendfile": "/farm/jobs/shot010.blend",
            "scene": "Scene", "fps": 24.0, "smoothing": 1.5}


def compile_job(tmp_path, script=JOB_TYPE, **settings):
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({**SETTINGS, **settings}))
    return subprocess.run([NODE, str(COMPILER), str(script), str(path)], capture_output=True, text=True, timeout=60)


def compiled(tmp_path, **settings):
    result = compile_job(tmp_path, **settings)
    assert result.returncode == 0, result.stderr
    job = json.loads(result.stdout)
    return job, {task["name"]: task for task in job["tasks"]}


def test_a_job_becomes_chunked_export_synthesis_composite_tasks_without_barriers(tmp_path):
    job, tasks = compiled(tmp_path)
    assert job["label"] == "Neural Face"
    chunks = ["1-12", "13-24", "25-36", "37-48"]
    assert list(tasks) == ["prepare"] + [f"{stage}-{c}" for c in chunks for stage in ("export", "synthesise", "composite")] \
        + ["preview-video"]
    for chunk in chunks:  # each stage waits for its own chunk's previous stage only
        assert tasks[f"export-{chunk}"]["dependencies"] == ["prepare"]
        assert tasks[f"synthesise-{chunk}"]["dependencies"] == [f"export-{chunk}"]
        assert tasks[f"composite-{chunk}"]["dependencies"] == [f"synthesise-{chunk}"]
    assert tasks["preview-video"]["dependencies"] == [f"composite-{c}" for c in chunks]

    prepare = tasks["prepare"]["commands"][0]
    assert tasks["prepare"]["type"] == "blender" and prepare["name"] == "exec"
    assert prepare["parameters"] == {"exe": "{blender}", "args": [
        "-b", "-y", "/farm/jobs/shot010.blend", "--python-exit-code", "1", "--python",
        "/farm/neural_face/tools/render_shot.py", "--", "--out", "/farm/jobs/shot010", "--scene", "Scene",
        "--shot-frames", "1-48", "--only", "prepare"]}
    export = tasks["export-13-24"]["commands"][0]["parameters"]["args"]
    assert export[-6:] == ["--shot-frames", "1-48", "--frames", "13-24", "--only", "export"]
    synthesise = tasks["synthesise-13-24"]
    assert synthesise["type"] == "misc" and synthesise["commands"][0]["name"] == "exec"
    assert synthesise["commands"][0]["parameters"] == {
        "exe": "/farm/neural_face/.venv/bin/python",
        "args": ["-m", "neural_core", "render", "/farm/jobs/shot010/shot", "--out", "/farm/jobs/shot010/frames",
                 "--frames", "13-24", "--model", "default", "--appearance", "0", "--smoothing", "1.5",
                 "--format", "png", "--device", "auto", "--json"]}
    composite = tasks["composite-13-24"]["commands"][0]  # blender-render: its "Saved:" lines become previews
    assert composite["name"] == "blender-render" and composite["parameters"]["exe"] == "{blender}"
    assert composite["parameters"]["blendfile"] == "/farm/jobs/shot010.blend"
    assert composite["parameters"]["args"][:5] == ["--python-exit-code", "1", "--python",
                                                   "/farm/neural_face/tools/render_shot.py", "--"]
    assert composite["parameters"]["args"][-6:] == ["--frames", "13-24", "--format", "png", "--only", "composite"]
    video = tasks["preview-video"]["commands"][0]
    assert video["name"] == "frames-to-video"
    assert video["parameters"]["inputGlob"] == "/farm/jobs/shot010/composite/*.png"


def test_the_last_chunk_takes_the_frames_left_and_composite_is_optional(tmp_path):
    job, tasks = compiled(tmp_path, frames="5-30", chunk_size=10, composite=False)
    assert list(tasks) == ["prepare", "export-5-14", "synthesise-5-14", "export-15-24", "synthesise-15-24",
                           "export-25-30", "synthesise-25-30"]
    job, tasks = compiled(tmp_path, frames="7", chunk_size=4)
    assert [name for name in tasks if name.startswith("export")] == ["export-7-7"]


def test_a_stabilised_job_exports_the_colour_reference_in_prepare_and_stabilises_every_chunk(tmp_path):
    job, tasks = compiled(tmp_path, stabilise_colour=True)
    assert tasks["prepare"]["commands"][0]["parameters"]["args"][-5:] == [
        "--shot-frames", "1-48", "--only", "prepare", "--stabilise-colour"]
    for chunk in ("1-12", "13-24", "25-36", "37-48"):
        assert tasks[f"synthesise-{chunk}"]["commands"][0]["parameters"]["args"][-2:] == ["--json", "--stabilise-colour"]
        assert tasks[f"synthesise-{chunk}"]["dependencies"] == [f"export-{chunk}"]  # prepare holds the barrier
        assert "--stabilise-colour" not in tasks[f"export-{chunk}"]["commands"][0]["parameters"]["args"]
    job, tasks = compiled(tmp_path, stabilise_brightness=True)  # implies the colour stabiliser
    assert tasks["prepare"]["commands"][0]["parameters"]["args"][-1] == "--stabilise-colour"
    assert tasks["synthesise-1-12"]["commands"][0]["parameters"]["args"][-3:] == [
        "--json", "--stabilise-colour", "--stabilise-brightness"]


@pytest.mark.parametrize("settings, words", [
    ({"frames": "1-48,60"}, "frames must be one range FIRST-LAST"),
    ({"frames": "48-1"}, "ends before it starts"),
    ({"chunk_size": 0}, "chunk_size must be a whole number of frames, at least 1"),
    ({"job_folder": ""}, 'the setting "job_folder" is empty'),
])
def test_bad_settings_are_refused_with_a_clear_message(tmp_path, settings, words):
    result = compile_job(tmp_path, **settings)
    assert result.returncode == 1 and words in result.stderr


def test_the_stand_in_refuses_what_the_manager_refuses(tmp_path):
    script = tmp_path / "broken.js"
    script.write_text(JOB_TYPE.read_text().replace(
        "        synthesise.addDependency(exportTask);\n        job.addTask(synthesise);",
        "        synthesise.addDependency(author.Task('elsewhere', 'misc'));\n        job.addTask(synthesise);"))
    result = compile_job(tmp_path, script=script)
    assert result.returncode == 1 and 'depends on "elsewhere", which is not in the job' in result.stderr
    script.write_text(JOB_TYPE.read_text().replace('type: "int32", default: 12', 'type: "int32", default: "12"'))
    result = compile_job(tmp_path, script=script)
    assert result.returncode == 1 and 'setting "chunk_size": default "12" is not a int32' in result.stderr
