"""NVlabs stylegan2-ada-pytorch / stylegan3 (StyleGAN2 networks) checkpoints.

A training snapshot ``.pkl`` is a pickle whose modules were saved by NVlabs'
``torch_utils.persistence``: each module becomes a call
``_reconstruct_persistent_obj(meta)`` where ``meta`` holds the class name, the module's
``__dict__`` (``state``) and ``module_src``, the full source of the defining file, which
NVlabs' own loader executes. We never do: a restricted unpickler resolves only the
globals in ``ALLOWED`` (to harmless stand-ins or to torch's tensor rebuild functions),
turns every persistent object into a plain ``PersistentNode`` and rebuilds the
``G_ema`` state dict from the node tree. ``module_src`` is kept as an inert string.
Any other global is refused with a ``CheckpointError`` before it is even looked up.

Also reads an NVlabs ``state_dict()`` stored as safetensors with ``class_name`` and
``init_kwargs`` in the metadata (the form of the project's reference files).
"""

import codecs
import io
import pickle
import re
import struct
from collections import OrderedDict
from pathlib import Path

import torch

from ...contract.errors import CheckpointError
from ..config import GeneratorConfig

ENTRY_KEYS = ("G_ema",)  # the generator to use for inference (never "G", the training copy)


class PersistentNode:
    """Stand-in for one NVlabs persistent module: ``class_name`` and ``state`` (its ``__dict__``)."""

    def __init__(self, meta):
        if not isinstance(meta, dict) or not isinstance(meta.get("state"), dict):
            raise CheckpointError("malformed persistent object (its meta is not a dict with a 'state')")
        self.class_name = str(meta.get("class_name"))
        self.version = meta.get("version")
        self.state = meta["state"]


class EasyDictStandIn(dict):
    """``dnnlib.util.EasyDict`` is a dict with attribute access; a dict is all we need."""


class DtypeStandIn:
    """``numpy.dtype('f8', False, True)`` followed by BUILD; keeps only the type code."""

    _CODES = {"f8": "d", "f4": "f", "i8": "q", "i4": "i", "b1": "?", "u1": "B"}

    def __init__(self, code, align=False, copy=False):
        self.code = str(code)
        self.byteorder = "<"
        if self.code not in self._CODES:
            raise CheckpointError(f"numpy dtype {self.code!r} is not supported in a checkpoint")

    def __setstate__(self, state):
        if isinstance(state, tuple) and len(state) > 1 and state[1] in ("<", ">", "|", "="):
            self.byteorder = "<" if state[1] in ("|", "=") else state[1]

    def decode(self, raw: bytes):
        return struct.unpack(self.byteorder + self._CODES[self.code], raw)[0]


def _numpy_scalar(dtype, raw=b""):
    if not isinstance(dtype, DtypeStandIn) or not isinstance(raw, bytes):
        raise CheckpointError("malformed numpy scalar in the pickle")
    return dtype.decode(raw)


def _storage_from_bytes(blob):
    """Nested legacy ``torch.save`` of one storage, read with ``weights_only=True``."""
    if not isinstance(blob, (bytes, bytearray)):
        raise CheckpointError("malformed tensor storage in the pickle")
    try:
        return torch.load(io.BytesIO(blob), weights_only=True, map_location="cpu")
    except pickle.UnpicklingError as error:
        raise CheckpointError(f"refused a tensor storage that is not plain data ({error})") from error


def _no_hooks(hooks):
    if hooks:
        raise CheckpointError("refused a tensor with backward hooks")


def _rebuild_tensor(storage, offset, size, stride, requires_grad=False, backward_hooks=None, *metadata):
    _no_hooks(backward_hooks)
    if not isinstance(storage, (torch.TypedStorage, torch.UntypedStorage)):
        raise CheckpointError("malformed tensor in the pickle (its storage is not a storage)")
    return torch._utils._rebuild_tensor_v2(storage, offset, size, stride, requires_grad, OrderedDict(), *metadata)


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None):
    _no_hooks(backward_hooks)
    if not isinstance(data, torch.Tensor):
        raise CheckpointError("malformed parameter in the pickle")
    return torch.nn.Parameter(data, requires_grad=False)


def _latin1_encode(text, encoding="latin1"):
    if encoding not in ("latin1", "latin-1"):
        raise CheckpointError(f"refused _codecs.encode with encoding {encoding!r}")
    return codecs.encode(text, "latin1")


ALLOWED = {
    ("torch_utils.persistence", "_reconstruct_persistent_obj"): PersistentNode,
    ("dnnlib.util", "EasyDict"): EasyDictStandIn,
    ("collections", "OrderedDict"): OrderedDict,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch.storage", "_load_from_bytes"): _storage_from_bytes,
    ("numpy", "dtype"): DtypeStandIn,
    ("numpy.core.multiarray", "scalar"): _numpy_scalar,
    ("numpy._core.multiarray", "scalar"): _numpy_scalar,
    ("builtins", "set"): set,
    ("__builtin__", "set"): set,
    ("_codecs", "encode"): _latin1_encode,
}


class RestrictedUnpickler(pickle._Unpickler):
    """Resolves only ``ALLOWED`` globals; refuses persistent ids and everything else.

    The pure-Python unpickler is used so that BUILD (which would call an object's
    ``__setstate__``) can be limited to our own stand-in types; the outer stream is small
    (tensor data sit in byte blobs), so its speed does not matter.
    """

    dispatch = dict(pickle._Unpickler.dispatch)

    def load_build(self):
        target = self.stack[-2] if len(self.stack) >= 2 else None
        if not isinstance(target, (DtypeStandIn, PersistentNode, EasyDictStandIn)):
            raise CheckpointError(f"refused BUILD on a {type(target).__name__} object")
        pickle._Unpickler.load_build(self)

    dispatch[pickle.BUILD[0]] = load_build

    def find_class(self, module, name):
        target = ALLOWED.get((module, name))
        if target is None:
            raise CheckpointError(f"refused to load global '{module}.{name}': not on the allow-list of harmless names")
        return target

    def persistent_load(self, pid):
        raise CheckpointError("refused a persistent id in the outer pickle stream")


def read_pickle(path: Path):
    """The unpickled top-level object, or CheckpointError (refused global, truncated, ...)."""
    try:
        with open(path, "rb") as handle:
            return RestrictedUnpickler(handle).load()
    except CheckpointError as error:
        raise CheckpointError(f"{path}: {error}") from None
    except (
        pickle.UnpicklingError,
        EOFError,
        ValueError,
        TypeError,
        AttributeError,
        IndexError,
        KeyError,
        struct.error,
        RuntimeError,
    ) as error:
        raise CheckpointError(f"{path}: corrupt or truncated pickle ({type(error).__name__}: {error})") from None


def state_dict_from_node(node: PersistentNode, prefix: str = "") -> "OrderedDict[str, torch.Tensor]":
    """Walk the node tree like ``Module.state_dict()``: parameters, buffers, then children."""
    state = node.state
    out = OrderedDict()
    skip = set(state.get("_non_persistent_buffers_set") or ())
    for group in ("_parameters", "_buffers"):
        for name, value in (state.get(group) or {}).items():
            if value is None or (group == "_buffers" and name in skip):
                continue
            if not isinstance(value, torch.Tensor):
                raise CheckpointError(f"'{prefix}{name}' is not a tensor")
            out[prefix + name] = value.detach()
    for name, child in (state.get("_modules") or {}).items():
        if child is None:
            continue
        if not isinstance(child, PersistentNode):
            raise CheckpointError(f"'{prefix}{name}' is not a persistent module")
        out.update(state_dict_from_node(child, f"{prefix}{name}."))
    return out


def read_nvlabs_pickle(path: Path) -> tuple[GeneratorConfig, dict, dict]:
    """(config, our state dict, info) from a snapshot pickle's ``G_ema``."""
    top = read_pickle(path)
    if isinstance(top, dict):
        node = next((top[k] for k in ENTRY_KEYS if k in top), None)
        if node is None:
            raise CheckpointError(f"{path}: the pickle has no 'G_ema' entry (keys: {', '.join(map(str, top))})")
    else:
        node = top
    if not isinstance(node, PersistentNode) or node.class_name != "Generator":
        what = node.class_name if isinstance(node, PersistentNode) else type(node).__name__
        raise CheckpointError(f"{path}: 'G_ema' is a {what}, not an NVlabs Generator")
    init_args = node.state.get("_init_args") or ()
    init_kwargs = dict(node.state.get("_init_kwargs") or {})
    if init_args:
        names = ("z_dim", "c_dim", "w_dim", "img_resolution", "img_channels")
        init_kwargs.update(zip(names, init_args))
    try:
        state = state_dict_from_node(node)
    except CheckpointError as error:
        raise CheckpointError(f"{path}: {error}") from None
    config, ours = convert_state_dict(state, init_kwargs, path)
    return config, ours, {"init_kwargs": _plain(init_kwargs)}


def _plain(value):
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _get(state, key, path):
    if key not in state:
        raise CheckpointError(f"{path}: missing tensor '{key}'")
    return state[key]


def convert_state_dict(state: dict, init_kwargs: dict, path) -> tuple[GeneratorConfig, dict]:
    """NVlabs Generator state dict + init_kwargs -> (GeneratorConfig, our state dict)."""
    if "synthesis.b4.const" not in state:
        if any(k.startswith("synthesis.input.") or k.startswith("synthesis.L0_") for k in state):
            raise CheckpointError(f"{path}: this is a StyleGAN3 (alias-free) generator; only StyleGAN2 networks are supported")
        raise CheckpointError(f"{path}: not an NVlabs StyleGAN2 generator (no 'synthesis.b4.const')")
    mapping_kwargs = dict(init_kwargs.get("mapping_kwargs") or {})
    synthesis_kwargs = dict(init_kwargs.get("synthesis_kwargs") or {})
    architecture = synthesis_kwargs.get("architecture", "skip")
    if architecture != "skip":
        raise CheckpointError(f"{path}: synthesis architecture {architecture!r} is not supported (only 'skip')")
    if mapping_kwargs.get("activation", "lrelu") != "lrelu":
        raise CheckpointError(f"{path}: mapping activation {mapping_kwargs['activation']!r} is not supported")
    fc = sorted(int(m.group(1)) for k in state if (m := re.fullmatch(r"mapping\.fc(\d+)\.weight", k)))
    if not fc or fc != list(range(len(fc))):
        raise CheckpointError(f"{path}: mapping layers 'mapping.fc*.weight' missing or not numbered 0..n-1")
    fc0 = _get(state, "mapping.fc0.weight", path)
    embed = state.get("mapping.embed.weight")
    c_dim = int(embed.shape[1]) if embed is not None else 0
    embed_features = int(embed.shape[0]) if embed is not None else None
    w_dim = int(_get(state, f"mapping.fc{fc[-1]}.weight", path).shape[0])
    z_dim = int(fc0.shape[1]) - (embed_features or 0)
    resolutions = sorted({int(m.group(1)) for k in state if (m := re.match(r"synthesis\.b(\d+)\.", k))})
    channels = {res: int(_get(state, f"synthesis.b{res}.conv1.weight", path).shape[0]) for res in resolutions}
    img_channels = int(_get(state, f"synthesis.b{resolutions[-1]}.torgb.weight", path).shape[0])
    taps = (1.0, 3.0, 3.0, 1.0)
    filters = [v for k, v in state.items() if k.endswith("resample_filter")]
    if filters:
        f2d = filters[0].double()
        taps = tuple(float(t) for t in f2d.sum(dim=1) / f2d.sum(dim=1)[0])
    for name, value in (
        ("z_dim", z_dim),
        ("w_dim", w_dim),
        ("c_dim", c_dim),
        ("img_resolution", resolutions[-1]),
        ("img_channels", img_channels),
    ):
        if name in init_kwargs and int(init_kwargs[name]) != value:
            raise CheckpointError(f"{path}: init_kwargs {name}={init_kwargs[name]} but the tensors say {value}")
    try:
        config = GeneratorConfig(
            resolution=resolutions[-1],
            z_dim=z_dim,
            w_dim=w_dim,
            c_dim=c_dim,
            img_channels=img_channels,
            mapping_layers=len(fc),
            mapping_lr_multiplier=float(mapping_kwargs.get("lr_multiplier", 0.01)),
            embed_features=embed_features,
            layer_features=int(fc0.shape[0]) if len(fc) > 1 else None,
            channels=channels,
            resample_filter=taps,
            conv_clamp=synthesis_kwargs.get("conv_clamp"),
            w_avg_beta=float(mapping_kwargs.get("w_avg_beta") or 0.995),
        )
    except Exception as error:
        raise CheckpointError(f"{path}: cannot build a config from this checkpoint ({error})") from error
    ours = OrderedDict((k, v) for k, v in state.items() if not k.endswith("resample_filter"))
    return config, ours
