"""How a render names the look (appearance) it gives the face: the one spelling both halves use.

The worker takes it as ``render --appearance LOOK``; the add-on builds it from its *Look*
settings. A look is

- an integer **seed**: 0 is the model's median look (for an actor model the mean of its
  per-frame appearance codes), any other seed draws one (for an actor model one training
  frame's code, picked by the seed);
- ``mean``: the median look / the mean code (the same as seed 0);
- ``typical`` (actor models): the code of the training photo whose look lies nearest the
  mean code's, a real photo's look where the mean code renders a paler face than any photo;
- ``frame:N`` (actor models): training frame N's code, N counted from 0.

What a look does to the pixels is the neural core's (``face_model/appearance.py``); this
module only reads and writes the names, and needs no torch.
"""

from .errors import NeuralFaceError

KINDS = ("seed", "mean", "typical", "frame")
CODE_ONLY = ("typical", "frame")  # looks that need a model with per-frame appearance codes


def parse_look(spec) -> tuple[str, int]:
    """("seed", k) | ("mean", 0) | ("typical", 0) | ("frame", n) from an int, "mean",
    "typical", "frame:N" or a digit string; NeuralFaceError for anything else."""
    if isinstance(spec, bool):
        raise NeuralFaceError(f"bad appearance {spec!r}")
    if isinstance(spec, int):
        return "seed", spec
    text = str(spec).strip()
    if text in ("mean", "typical"):
        return text, 0
    if text.startswith("frame:") and text[6:].isdigit():
        return "frame", int(text[6:])
    try:
        return "seed", int(text)
    except ValueError:
        raise NeuralFaceError(f"bad appearance {spec!r}: use a seed (integer), 'mean', 'typical' or 'frame:N'") from None


def look_name(kind, number=0):
    """The spelling of a look: an int for a seed, else "mean", "typical" or "frame:N"."""
    if kind == "seed":
        return int(number)
    if kind == "frame":
        if int(number) < 0:
            raise NeuralFaceError(f"training frame {number}: frames count from 0")
        return f"frame:{int(number)}"
    if kind in ("mean", "typical"):
        return kind
    raise NeuralFaceError(f"unknown look {kind!r}: one of {', '.join(KINDS)}")


def look_argument(text):
    """argparse type of ``--appearance``: the look, as :func:`look_name` spells it."""
    import argparse

    try:
        return look_name(*parse_look(text))
    except NeuralFaceError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
