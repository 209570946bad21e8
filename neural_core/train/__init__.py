"""Training the conditional face model (pure torch; imported lazily by ``commands/train.py``).

- ``dataset.py``: sample folders (shot folder + target images) -> training batches;
- ``discriminator.py``: the conditional discriminator (passes concatenated, coefficients projected);
- ``losses.py``: non-saturating GAN loss, lazy R1, multi-scale masked L1;
- ``config.py``: :class:`TrainConfig` and the presets (torch-free);
- ``trainer.py``: the loop, EMA, the generator and discriminator steps, the time budget;
- ``checkpoints.py``: the training state on disk (checkpoint.pt, ema/best.safetensors), resume;
- ``warm_start.py``: a new run's generator and encoder from a model file (the bundled one);
- ``divergence.py``: the watch that stops a run whose losses blow up while staying finite;
- ``previews.py``: PNG grids of outputs next to targets;
- ``precision.py``: autocast and float16 loss scaling;
- ``distributed.py``: torchrun + DistributedDataParallel;
- ``progress.py``: the progress line (losses, speed, time left).

See docs/training.md.
"""
