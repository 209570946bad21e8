"""A real Ray cluster on this machine for tests and benchmarks: ``ray start`` processes.

    with LocalRayCluster(tmp_path, nodes=2) as cluster:
        ... python -m neural_core farm ray SHOT --address cluster.address ...
        cluster.kill_node(1)  # SIGKILL every process of the second node

Each node is one ``ray start --block`` process started in a session of its own (its
GCS, raylet and agents share its process group); Ray starts its worker processes (the
actors) in process groups of their own, as children of the node's raylet. Stopping a node
therefore kills its process group and the raylet's children, by process id: nothing
outside this cluster is touched (never ``ray stop``, which stops every Ray process on the
machine).

Addresses: loopback only. Ray refuses 127.0.0.1 for a node of a multi-node cluster (it
swaps it for the machine's network address, ``resolve_ip_for_localhost``), so the head
uses 127.0.0.2 and the other nodes 127.0.0.3, 127.0.0.4, ...: loopback addresses Linux
answers without configuration, which Ray takes as they are. Every Ray file (sockets,
logs, the session) lives in a temporary folder of its own, removed by :meth:`stop`
(the node logs of ``ray start`` are kept in the given folder). Object stores are small (80 MB) and the
health check quick (a lost node is noticed within a few seconds, not Ray's 30).
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RAY = Path(sys.executable).with_name("ray")
OBJECT_STORE_BYTES = 80 * 1000 * 1000  # Ray's minimum is 75 MB
ENVIRONMENT = {
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_health_check_period_ms": "1000",  # default 3000
    "RAY_health_check_failure_threshold": "4",  # default 5
    "RAY_health_check_timeout_ms": "2000",  # default 10000
}


def node_address(index):
    """127.0.0.2 for the head (node 0), 127.0.0.3 for node 1, ..."""
    return f"127.0.0.{2 + index}"


def free_port(host):
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def _stat(pid):
    """(parent pid, process group, start time in clock ticks) of ``pid``, or None when gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return int(fields[1]), int(fields[2]), int(fields[19])


def _processes():
    """{pid: (parent, group, start time)} of every process."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            stat = _stat(int(entry.name))
            if stat is not None:
                found[int(entry.name)] = stat
    return found


def _comm(pid):
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return None


def _kill(pid, started):
    """SIGKILL ``pid`` if it is still the process that started at ``started`` (not a reused id)."""
    stat = _stat(pid)
    if stat is not None and stat[2] == started:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


class LocalRayCluster:
    """``nodes`` Ray nodes on loopback addresses, files under ``folder``. ``cpus``: CPUs
    of every node, or a list with each node's (the head first; 0 = a head that only
    coordinates, as on many clusters)."""

    def __init__(self, folder, nodes=2, cpus=1, start_timeout=120):
        self.folder = Path(folder)
        self.node_count = nodes
        self.cpus = list(cpus) if isinstance(cpus, (list, tuple)) else [cpus] * nodes
        self.start_timeout = start_timeout
        self.processes = []  # one `ray start --block` per node
        self.ray_folder = None  # Ray's --temp-dir: short, as its socket paths must stay under 108 bytes
        self.port = None
        self.env = dict(os.environ, **ENVIRONMENT)
        self.env.pop("RAY_ADDRESS", None)

    @property
    def address(self):
        return f"{node_address(0)}:{self.port}"

    def __enter__(self):
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc):
        self.stop()
        return False

    def start(self):
        self.folder.mkdir(parents=True, exist_ok=True)
        self.ray_folder = Path(tempfile.mkdtemp(prefix="nf-ray-"))
        self.port = free_port(node_address(0))
        self._start_node(0, ["--head", "--port", str(self.port), "--include-dashboard=false",
                             "--dashboard-port", str(free_port(node_address(0)))])
        self._wait_until_started(0)
        for index in range(1, self.node_count):  # one after another: a raylet has 30 s to register
            for attempt in (1, 2):
                self._start_node(index, ["--address", self.address], replace=attempt > 1)
                try:
                    self._wait_until_started(index)
                    break
                except RuntimeError:
                    if attempt == 2 or self.processes[index].poll() is None:
                        raise  # (a start that timed out on a loaded machine exits by itself: then once more)
        self._wait_for_nodes(self.node_count)

    def _start_node(self, index, extra, replace=False):
        if replace:
            try:
                os.killpg(self.processes[index].pid, signal.SIGKILL)  # what the failed start left, if anything
            except ProcessLookupError:
                pass
        log = open(self.folder / f"node{index}.log", "w")
        command = [str(RAY), "start", "--block", "--node-ip-address", node_address(index), "--num-cpus", str(self.cpus[index]),
                   "--num-gpus", "0", "--object-store-memory", str(OBJECT_STORE_BYTES),
                   "--temp-dir", str(self.ray_folder), *extra]
        process = subprocess.Popen(command, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True)
        log.close()
        if replace:
            self.processes[index] = process
        else:
            self.processes.append(process)

    def log(self, index):
        return (self.folder / f"node{index}.log").read_text(errors="replace")

    def _wait_until_started(self, index):
        """Until ``ray start`` of node ``index`` says "Ray runtime started"."""
        deadline = time.monotonic() + self.start_timeout
        while "Ray runtime started" not in self.log(index):
            if self.processes[index].poll() is not None:
                raise RuntimeError(f"ray node {index} exited ({self.processes[index].returncode}):\n{self.log(index)[-3000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"ray node {index} did not start in {self.start_timeout} s:\n{self.log(index)[-3000:]}")
            time.sleep(0.2)

    def _wait_for_nodes(self, count):
        """Until the GCS's node table has ``count`` live nodes."""
        script = ("import ray,sys,time; ray.init(address=sys.argv[1], logging_level='ERROR', log_to_driver=False)\n"
                  "while sum(1 for n in ray.nodes() if n['Alive']) < int(sys.argv[2]): time.sleep(0.2)")
        result = subprocess.run([sys.executable, "-c", script, self.address, str(count)], env=self.env,
                                capture_output=True, text=True, timeout=self.start_timeout)
        if result.returncode != 0:
            raise RuntimeError(f"the Ray cluster did not reach {count} node(s): {result.stderr[-3000:]}")

    def node_pids(self, index):
        """{pid: start time} of every process of node ``index``: its process group and its
        raylet's children (the Ray workers)."""
        table = _processes()
        group = self.processes[index].pid
        pids = {pid for pid, (_, pgid, _) in table.items() if pgid == group}
        raylets = {pid for pid in pids if _comm(pid) == "raylet"}
        pids |= {pid for pid, (parent, _, _) in table.items() if parent in raylets}
        return {pid: table[pid][2] for pid in pids}

    def cpu_by_process(self):
        """{(pid, start time): user + system CPU seconds} of every live process of the
        cluster (GCS, raylet, agents, workers). A process that has exited is gone from it:
        sample it while the work runs (tools/bench_farm.py)."""
        found = {}
        for index in range(len(self.processes)):
            for pid, started in self.node_pids(index).items():
                try:
                    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                except OSError:
                    continue
                found[(pid, started)] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime
        return found

    def kill_node(self, index):
        """SIGKILL every process of node ``index`` at once, as if the machine had died."""
        process = self.processes[index]
        pids = self.node_pids(index)
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        for pid, started in pids.items():
            _kill(pid, started)
        process.wait(timeout=30)

    def stop(self):
        """Every node: SIGTERM (Ray's own clean stop), then SIGKILL for anything left."""
        workers = {}
        for index, process in enumerate(self.processes):
            if process.poll() is None:
                workers.update(self.node_pids(index))
                try:
                    os.killpg(process.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + 15
        for process in self.processes:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
        for process in self.processes:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            if process.poll() is None:
                process.wait(timeout=30)
        for pid, started in workers.items():
            _kill(pid, started)
        if self.ray_folder is not None:
            shutil.rmtree(self.ray_folder, ignore_errors=True)
