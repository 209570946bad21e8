"""Test helper: write pickles shaped like NVlabs training snapshots, without NVlabs code.

NVlabs' ``torch_utils.persistence`` pickles each module as a call to
``torch_utils.persistence._reconstruct_persistent_obj(meta)``. Here stand-in modules with
those names are placed in ``sys.modules`` only while pickling, so the stream references
exactly the same globals as a real snapshot; they are removed again before any test loads
the file. ``module_src`` is a caller-chosen string (tests use one that would leave a marker
file if anyone executed it).
"""

import contextlib
import pickle
import sys
import types
from collections import OrderedDict

import numpy as np
import torch

BUFFER_NAMES = ("w_avg", "noise_const", "resample_filter")


@contextlib.contextmanager
def fake_nvlabs_modules():
    """``torch_utils.persistence`` and ``dnnlib.util`` stand-ins, present only inside the block."""
    persistence = types.ModuleType("torch_utils.persistence")
    util = types.ModuleType("dnnlib.util")

    def _reconstruct_persistent_obj(meta):  # never called by the code under test
        raise AssertionError("the stand-in reconstructor must never run")

    _reconstruct_persistent_obj.__module__ = persistence.__name__
    _reconstruct_persistent_obj.__qualname__ = "_reconstruct_persistent_obj"
    persistence._reconstruct_persistent_obj = _reconstruct_persistent_obj

    class EasyDict(dict):
        pass

    EasyDict.__module__ = util.__name__
    EasyDict.__qualname__ = "EasyDict"
    util.EasyDict = EasyDict
    names = {
        "torch_utils": types.ModuleType("torch_utils"),
        "torch_utils.persistence": persistence,
        "dnnlib": types.ModuleType("dnnlib"),
        "dnnlib.util": util,
    }
    saved = {name: sys.modules.get(name) for name in names}
    sys.modules.update(names)
    try:
        yield persistence, util
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


class PersistentStandIn:
    """Pickles as ``_reconstruct_persistent_obj(meta)``, like an NVlabs persistent module."""

    def __init__(self, reconstruct, meta):
        self.reconstruct, self.meta = reconstruct, meta

    def __reduce__(self):
        return (self.reconstruct, (self.meta,))


def module_tree(state_dict: dict) -> dict:
    """{'': {'params': {...}, 'buffers': {...}, 'children': {name: subtree}}} from dotted keys."""
    root = {"params": OrderedDict(), "buffers": OrderedDict(), "children": OrderedDict()}
    for key, value in state_dict.items():
        *path, leaf = key.split(".")
        node = root
        for part in path:
            node = node["children"].setdefault(part, {"params": OrderedDict(), "buffers": OrderedDict(), "children": OrderedDict()})
        if leaf in BUFFER_NAMES:
            node["buffers"][leaf] = value.clone()
        else:
            node["params"][leaf] = torch.nn.Parameter(value.clone(), requires_grad=False)
    return root


def persistent(tree, class_name, reconstruct, easydict, module_src, init_kwargs=None, extra_state=None):
    children = OrderedDict((name, persistent(sub, "Layer", reconstruct, easydict, module_src)) for name, sub in tree["children"].items())
    state = {
        "training": False,
        "_parameters": dict(tree["params"]),
        "_buffers": dict(tree["buffers"]),
        "_non_persistent_buffers_set": set(),
        "_backward_hooks": OrderedDict(),
        "_forward_hooks": OrderedDict(),
        "_modules": dict(children),
        "_is_full_backward_hook": None,
        "_init_args": (),
        "_init_kwargs": easydict(init_kwargs or {}),
        "act_gain": np.float64(np.sqrt(2)),
    }
    state.update(extra_state or {})
    meta = dict(type="class", version=6, module_src=module_src, class_name=class_name, state=state)
    return PersistentStandIn(reconstruct, meta)


def write_snapshot(path, g_ema_state, init_kwargs, module_src, g_state=None, extra_entries=None, protocol=4, g_ema_extra_state=None):
    """Write an NVlabs-shaped snapshot dict (training_set_kwargs, G, D, G_ema, augment_pipe).

    ``g_ema_extra_state`` is merged into G_ema's module state (tests put payloads there).
    """
    with fake_nvlabs_modules() as (persistence, util):
        reconstruct, easydict = persistence._reconstruct_persistent_obj, util.EasyDict
        kwargs = easydict(init_kwargs)
        for key in ("mapping_kwargs", "synthesis_kwargs"):
            if key in kwargs:
                kwargs[key] = easydict(kwargs[key])
        top = {
            "training_set_kwargs": {"class_name": "training.dataset.ImageFolderDataset", "resolution": 64},
            "G": persistent(module_tree(g_state or g_ema_state), "Generator", reconstruct, easydict, module_src, kwargs),
            "D": persistent(module_tree({"b4.fc.weight": torch.zeros(2, 2)}), "Discriminator", reconstruct, easydict, module_src),
            "G_ema": persistent(module_tree(g_ema_state), "Generator", reconstruct, easydict, module_src, kwargs, g_ema_extra_state),
            "augment_pipe": None,
        }
        top.update(extra_entries or {})
        with open(path, "wb") as handle:
            pickle.dump(top, handle, protocol=protocol)
