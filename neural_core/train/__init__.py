"""Training the conditional face model (pure torch; imported lazily by ``commands/train.py``).

- ``dataset.py``: sample folders (shot folder + target images) -> training batches;
- ``discriminator.py``: the conditional discriminator (passes concatenated, coefficients projected);
- ``losses.py``: non-saturating GAN loss, lazy R1, multi-scale masked L1;
- ``config.py``: :class:`TrainConfig`;
- ``trainer.py``: the loop, EMA, checkpoints/resume, JSONL log, sample grids;
- ``progress.py``: the progress line (losses, speed, time left).
"""
