"""Training samples: sample folders holding a shot folder and the rendered target images.

A *sample folder* (what ``tools/make_dataset.py`` writes, one per chunk)::

    FOLDER/shot/              a shot folder (docs/shot-format.md) with passes
    FOLDER/targets/####.png   the target image of each frame (sRGB RGB, 8 or 16 bit)
    FOLDER/frames.json        written last, when the folder is complete; may hold
                              {"appearance_names": [...], "frames": [{"appearance": [u...]}, ...]}
                              (uniforms in [0, 1] per frame, in frame order)

``--data DIR`` is a sample folder or a folder of them (searched two levels deep). Folders
without ``frames.json`` are still being written and are skipped until they are complete;
:meth:`FaceDataset.scan` picks up new ones (the trainer rescans at every epoch), unless
the run learns per-frame appearance codes: their frames are fixed at the start
(:meth:`FaceDataset.freeze`) and named by :meth:`FaceDataset.label`.

A sample is numpy float32: ``planes`` [C_in, R, R] (``conditional.inputs``), ``coefficients``
[c_dim] in the model's order, ``z`` [z_dim] (the probit of the appearance uniforms, or
None when the data has none), ``target`` [3, R, R] in [-1, 1], ``mask`` [1, R, R].
"""

import json
from pathlib import Path

import numpy as np

from ..face_model.inputs import coefficient_vector, pass_planes
from ..contract.errors import NeuralFaceError, ShotFormatError
from ..contract.shot import read_shot
from ..contract.shot.passes import read_passes


def find_sample_folders(root) -> list[Path]:
    """Complete sample folders at ``root`` or up to two levels below it, sorted by path."""
    root = Path(root)
    if not root.is_dir():
        raise NeuralFaceError(f"data folder {root} does not exist")
    found = []
    for candidate in [root, *root.glob("*"), *root.glob("*/*")]:
        if (candidate / "shot" / "shot.json").is_file() and (candidate / "frames.json").is_file():
            found.append(candidate)
    return sorted(set(found))


def probit(uniforms) -> np.ndarray:
    """Inverse normal CDF of values in (0, 1) (clipped to [1e-4, 1 - 1e-4]): appearance -> latent."""
    from statistics import NormalDist

    inverse = NormalDist().inv_cdf
    return np.array([inverse(min(max(float(u), 1e-4), 1 - 1e-4)) for u in uniforms], dtype=np.float32)


class SampleFolder:
    """One complete sample folder: its parsed shot and appearance records."""

    def __init__(self, path):
        self.path = Path(path)
        self.shot_folder = self.path / "shot"
        self.shot = read_shot(self.shot_folder, check_passes=False)
        record = json.loads((self.path / "frames.json").read_text())
        self.appearance_names = tuple(record.get("appearance_names") or ())
        self.appearance = {}
        for frame, entry in zip(self.shot.frames, record.get("frames") or []):
            if isinstance(entry, dict) and "appearance" in entry:
                self.appearance[frame.frame] = probit(entry["appearance"])
        self.frames = [f.frame for f in self.shot.frames if self.target_path(f.frame).is_file()]

    def target_path(self, frame) -> Path:
        return self.path / "targets" / f"{frame:04d}.png"


class FaceDataset:
    """All frames of the sample folders under ``roots``, read on demand.

    ``model_config``: the ConditionalConfig the samples are prepared for (passes,
    coefficient order, resolution).
    """

    def __init__(self, roots, model_config):
        # absolute: a resumed run's saved data order names folders by path, whatever form --data took
        self.roots = [Path(r).resolve() for r in ([roots] if isinstance(roots, (str, Path)) else roots)]
        self.config = model_config
        self.folders = {}
        self.keys = []  # (folder path as str, frame)
        self.labels = {}  # folder path as str -> its label prefix (path below its --data root)
        self.frozen = False  # True: scan() adds nothing (per-frame codes need a fixed frame list)
        self.scan()

    def scan(self) -> int:
        """Pick up complete sample folders not seen yet; returns the number of frames."""
        for root in self.roots if not self.frozen else ():
            for path in find_sample_folders(root):
                if str(path) not in self.folders:
                    folder = SampleFolder(path)
                    self.folders[str(path)] = folder
                    relative = path.relative_to(root).as_posix()
                    label = root.name if relative == "." else relative
                    self.labels[str(path)] = f"{root.name}/{label}" if len(self.roots) > 1 and relative != "." else label
                    self.keys.extend((str(path), frame) for frame in folder.frames)
        if not self.keys:
            raise NeuralFaceError(f"no complete sample folders (shot/ + targets/ + frames.json) under {', '.join(map(str, self.roots))}")
        return len(self.keys)

    def __len__(self):
        return len(self.keys)

    def label(self, key) -> str:
        """A frame's name that survives moving the data: "chunk_00000/0012" (folder below its root / frame;
        with several --data roots the root's name comes first)."""
        return f"{self.labels.get(key[0], Path(key[0]).name)}/{key[1]:04d}"

    def freeze(self, labels=None) -> list:
        """Stop picking up new folders; with ``labels`` (a resumed run's code order) keep only
        the frames named there. Returns the labels of the frames left out."""
        self.frozen = True
        if labels is None:
            return []
        known = set(labels)
        dropped = [self.label(k) for k in self.keys if self.label(k) not in known]
        self.keys = [k for k in self.keys if self.label(k) in known]
        if not self.keys:
            raise NeuralFaceError("none of the frames the run's appearance codes were learnt on is in the data any more")
        return dropped

    def appearance_of(self, key):
        """The data's appearance latent [z_dim] of ``key`` (probit of its uniforms), or None."""
        return self.folders[key[0]].appearance.get(key[1])

    def first_folder(self) -> SampleFolder:
        return self.folders[self.keys[0][0]]

    def coefficient_rows(self) -> np.ndarray:
        """float32 [N, c_dim]: every frame's coefficients in the model's order (no images read)."""
        names = self.config.coefficient_names
        rows = [coefficient_vector(self.folders[k[0]].shot.coefficient_names, self.folders[k[0]].shot.frame(k[1]).coefficients, names)
                for k in self.keys]
        return np.stack(rows) if rows else np.zeros((0, len(names)), np.float32)

    def load(self, key) -> dict:
        """The sample of ``key`` = (folder, frame) as numpy arrays (see module docstring)."""
        from PIL import Image

        folder = self.folders[key[0]]
        frame = key[1]
        resolution = self.config.generator.resolution
        passes = read_passes(folder.shot, frame, folder.shot_folder, names=self.config.encoder.read_passes())
        planes = pass_planes(passes, self.config.encoder, frame=frame)
        mask = passes["mask"][None].astype(np.float32)
        path = folder.target_path(frame)
        try:
            image = Image.open(path)
            image = image.convert("RGB")
        except OSError as error:
            raise ShotFormatError(f"target image unreadable ({error})", file=path, frame=frame) from error
        if image.size != (planes.shape[-1], planes.shape[-2]):
            raise ShotFormatError(f"target is {image.size[0]}x{image.size[1]}, the passes are {planes.shape[-1]}x{planes.shape[-2]}",
                                  file=path, frame=frame)
        target = np.asarray(image, dtype=np.float32).transpose(2, 0, 1) / 127.5 - 1.0
        if planes.shape[-1] != resolution:
            planes, mask, target = (_resize(a, resolution) for a in (planes, mask, target))
        record = folder.shot.frame(frame)
        coefficients = coefficient_vector(folder.shot.coefficient_names, record.coefficients, self.config.coefficient_names)
        return {"planes": planes, "coefficients": coefficients, "z": folder.appearance.get(frame), "target": target, "mask": mask}


def _resize(array, size):
    """[C, H, W] -> [C, size, size] by block averaging (downscale by an integer factor)."""
    factor = array.shape[-1] // size
    if factor < 1 or array.shape[-1] != factor * size:
        raise NeuralFaceError(f"cannot resize {array.shape[-1]} px samples to {size} px (needs an integer factor)")
    c, h, w = array.shape
    return array.reshape(c, h // factor, factor, w // factor, factor).mean(axis=(2, 4)).astype(np.float32)


class Sampler:
    """Endless shuffled order over a growing dataset, with a JSON-able state for resume."""

    def __init__(self, dataset: FaceDataset, seed: int):
        self.dataset = dataset
        self.rng = np.random.default_rng(seed)
        self.order = []
        self.position = 0
        self.epoch = 0

    def next_keys(self, count: int) -> list:
        keys = []
        while len(keys) < count:
            if self.position >= len(self.order):
                self.dataset.scan()
                self.order = [self.dataset.keys[i] for i in self.rng.permutation(len(self.dataset.keys))]
                self.position = 0
                self.epoch += 1
            keys.append(self.order[self.position])
            self.position += 1
        return keys

    def state(self) -> dict:
        return {"rng": self.rng.bit_generator.state, "order": [list(k) for k in self.order], "position": self.position, "epoch": self.epoch}

    def restore(self, state: dict):
        self.rng.bit_generator.state = state["rng"]
        self.order = [(str(a), int(b)) for a, b in state["order"]]
        self.position = int(state["position"])
        self.epoch = int(state["epoch"])
        known = {str(k[0]) for k in self.order}
        for root in sorted(known):  # the folders of the saved order, even if the scan would add more
            if root not in self.dataset.folders and self.dataset.frozen:
                raise NeuralFaceError(f"the run's saved data order reads {root}, which is not under --data now "
                                      f"({', '.join(map(str, self.dataset.roots))}): resume with the data the run started on")
            if root not in self.dataset.folders and Path(root).is_dir():
                self.dataset.folders[root] = SampleFolder(root)
