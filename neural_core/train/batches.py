"""A training step's batch: the frames' samples read in parallel threads, their latents or code rows."""

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

# threads reading a batch's samples (EXR and PNG decoding release the GIL): on an H200 the
# cuda-512 preset spent 41% of each step reading its 16 frames one after another
LOAD_THREADS = min(8, os.cpu_count() or 1)


class BatchReader:
    """Reads this process's share of a global batch of frame keys onto ``device``."""

    def __init__(self, dataset, z_dim, code_index, latents, world, device):
        self.dataset = dataset  # FaceDataset
        self.z_dim = z_dim  # the generator's latent size
        self.code_index = code_index  # (folder, frame) -> row of the appearance codes; None: no codes
        self.latents = latents  # torch.Generator drawing z for frames without an appearance record
        self.world = world  # distributed.World: which frames of the batch are this process's
        self.device = device
        self.threads = None  # the reading threads, started by the first batch of several frames

    def read(self, keys):
        """planes, c, z, appearance, target, mask of this process's share of ``keys``.

        z: the data's appearance latent, else a draw from the run's latent generator, drawn
        for every frame of the global batch in order (so any number of processes draws the
        same); 0 in a run with codes, whose ``appearance`` are the frames' code rows (else None).
        """
        if self.code_index is not None:
            z = [torch.zeros([self.z_dim]) for _ in keys]
        else:
            z = []
            for key in keys:
                data_z = self.dataset.appearance_of(key)
                z.append(
                    torch.from_numpy(data_z)
                    if data_z is not None and len(data_z) == self.z_dim
                    else torch.randn([self.z_dim], generator=self.latents)
                )
        mine = self.world.shard(list(range(len(keys))))
        samples = self.load_samples([keys[i] for i in mine])
        to = lambda name: torch.from_numpy(np.stack([s[name] for s in samples])).to(self.device)  # noqa: E731
        appearance = None
        if self.code_index is not None:
            appearance = torch.tensor([self.code_index[keys[i]] for i in mine], dtype=torch.int64, device=self.device)
        z = torch.stack([z[i] for i in mine]).to(self.device)
        return to("planes"), to("coefficients"), z, appearance, to("target"), to("mask")

    def load_samples(self, keys) -> list:
        """The samples of ``keys`` in order, read by ``LOAD_THREADS`` threads (the same arrays as one by one)."""
        if len(keys) == 1 or LOAD_THREADS == 1:
            return [self.dataset.load(key) for key in keys]
        if self.threads is None:
            self.threads = ThreadPoolExecutor(max_workers=LOAD_THREADS, thread_name_prefix="neural-face-load")
        return list(self.threads.map(self.dataset.load, keys))

    def shutdown(self):
        """End the reading threads (a later batch starts new ones)."""
        if self.threads is not None:
            self.threads.shutdown(wait=True)
            self.threads = None
