"""The worker's CPU threads (issue 13.9): a thread count and passive waiting, set before torch loads."""

import json
import subprocess
import sys

import pytest

from neural_core.contract.errors import NeuralFaceError
from neural_core.worker.threads import WAIT_POLICY, default_threads, prepare_cpu_threads, usable_cpus
from tests.conftest import ROOT
from tests.core.synthetic_shot import write_shot_folder
from tests.core.test_render_pipeline import tiny_model  # noqa: F401 - a fixture


def test_the_default_is_every_usable_cpu_waiting_passively():
    environ = {}
    assert prepare_cpu_threads(0, environ) == usable_cpus() >= 1
    assert environ == {"OMP_NUM_THREADS": str(usable_cpus()), "OMP_WAIT_POLICY": "PASSIVE", "KMP_BLOCKTIME": "0"}


def test_a_farms_omp_num_threads_is_the_default_and_threads_overrides_it():
    assert default_threads({"OMP_NUM_THREADS": "3"}) == 3
    assert default_threads({"OMP_NUM_THREADS": "4,2"}) == 4  # OpenMP's nested list: the outer level
    assert default_threads({"OMP_NUM_THREADS": "lots"}) == usable_cpus()
    environ = {"OMP_NUM_THREADS": "3"}
    assert prepare_cpu_threads(0, environ) == 3 and environ["OMP_NUM_THREADS"] == "3"
    assert prepare_cpu_threads(5, environ) == 5 and environ["OMP_NUM_THREADS"] == "5"


def test_a_wait_policy_the_user_chose_is_kept():
    environ = {"OMP_WAIT_POLICY": "ACTIVE"}
    prepare_cpu_threads(2, environ)
    assert environ["OMP_WAIT_POLICY"] == "ACTIVE" and environ["KMP_BLOCKTIME"] == WAIT_POLICY["KMP_BLOCKTIME"]


@pytest.mark.parametrize("threads", [-1, 1.5, True, "2"])
def test_bad_thread_counts_are_refused(threads):
    with pytest.raises(NeuralFaceError, match="threads must be 0"):
        prepare_cpu_threads(threads, {})


# records the environment at the moment torch is first imported, then runs the worker
WORKER_WATCHING_TORCH = """
import importlib.abc, os, sys

seen = {}

class Watch(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "torch" and not seen:
            seen.update({key: os.environ.get(key) for key in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "KMP_BLOCKTIME")})
        return None

for key in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "KMP_BLOCKTIME"):
    os.environ.pop(key, None)
sys.meta_path.insert(0, Watch())
from neural_core.cli import main
code = main(sys.argv[1:])
import torch
print("TORCH-SAW", {"env": seen, "threads": torch.get_num_threads()}, file=sys.stderr)
sys.exit(code)
"""


def test_the_worker_sets_its_threads_before_torch_loads(tmp_path, tiny_model):  # noqa: F811
    write_shot_folder(tmp_path / "shot", n_frames=1)
    command = [sys.executable, "-c", WORKER_WATCHING_TORCH, "render", str(tmp_path / "shot"), "--out",
               str(tmp_path / "out"), "--model", str(tiny_model), "--device", "cpu", "--json", "--threads", "1"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    start = json.loads(result.stdout.splitlines()[0])
    assert start["event"] == "start" and start["device_note"] == "using CPU (requested), 1 thread(s)"
    seen = next(line for line in result.stderr.splitlines() if line.startswith("TORCH-SAW"))
    assert seen == ("TORCH-SAW {'env': {'OMP_NUM_THREADS': '1', 'OMP_WAIT_POLICY': 'PASSIVE', "
                    "'KMP_BLOCKTIME': '0'}, 'threads': 1}")


def test_a_negative_thread_count_is_a_usage_error(tmp_path):
    result = subprocess.run([sys.executable, "-m", "neural_core", "render", str(tmp_path), "--threads", "-2"],
                            capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert result.returncode == 2 and "--threads: invalid thread_count value: '-2'" in result.stderr
