"""Per-frame appearance codes (GLO-style) and how a render picks one.

Real footage changes lighting and exposure from photo to photo. A model trained with
codes learns one vector per training frame (``codes`` [F, D], an ``nn.Embedding``
optimised with the networks, starting at 0, with a small L2 prior) and a linear map
``to_w`` [D -> w_dim] whose output is added to every row of W+ after the mapping network.
The identity and expression then need not absorb the lighting: it sits in the code.

The offset enters W, not z, on purpose: z is normalised to unit mean square before the
mapping network, which makes its scale meaningless (an L2 prior would shrink the codes
without changing the image). Because ``to_w`` is linear, the *mean code* gives exactly the
mean of the frames' W offsets: the training set's average look.

A render chooses a look (``--appearance`` / ``--appearance-frame``; the names are the
contract's, ``contract/looks.py``): ``"mean"`` (the mean code), ``"typical"`` (the code of
the training frame whose W offset lies nearest the mean's: one photo's real look, the most
ordinary one; the mean code itself renders a paler face than any photo, the generator not
being linear in W), ``"frame:N"`` (training frame N's code, N counted from 0 in
``appearance_frames`` order) or an integer seed: 0 = the mean code, any other seed one
training frame's code drawn from it. Models without codes keep their z behaviour (see ``worker/model.py``).
"""

import torch
from torch import nn

from ..contract.errors import NeuralFaceError
from ..contract.looks import parse_look


class AppearanceCodes(nn.Module):
    def __init__(
        self,
        num_frames: int,  # one code per training frame
        dim: int,  # code size
        w_dim: int,  # the generator's W size
    ):
        super().__init__()
        self.codes = nn.Embedding(num_frames, dim)
        nn.init.zeros_(self.codes.weight)  # every frame starts at the mean look; the map below is random
        self.to_w = nn.Linear(dim, w_dim, bias=False)

    def mean(self) -> torch.Tensor:
        """The mean code [D]."""
        return self.codes.weight.mean(dim=0)

    def select(self, appearance, batch: int) -> torch.Tensor:
        """Codes [N, D] from ``appearance``: None (the mean code for all), frame indices
        (int64 [N]) or codes (float [N, D] / [D], e.g. from :func:`choose_code`)."""
        if appearance is None:
            return self.mean()[None].expand(batch, -1)
        if not appearance.is_floating_point():
            return self.codes(appearance.to(self.codes.weight.device))
        code = appearance if appearance.ndim == 2 else appearance[None]
        if code.shape[-1] != self.codes.embedding_dim:
            raise ValueError(f"appearance codes must be [N, {self.codes.embedding_dim}], got {list(appearance.shape)}")
        return code.expand(batch, -1) if code.shape[0] == 1 else code

    def offset(self, code: torch.Tensor) -> torch.Tensor:
        """W offsets [N, w_dim] of codes [N, D]."""
        return self.to_w(code.to(self.to_w.weight.dtype))


@torch.no_grad()
def choose_code(model, spec, model_name="the model") -> torch.Tensor:
    """The code [1, D] a render uses on ``model`` (a ConditionalModel with codes) for ``spec``."""
    kind, value = parse_look(spec)
    codes = model.appearance.codes.weight
    frames = model.config.appearance_frames
    if kind == "frame":
        if not 0 <= value < len(frames):
            raise NeuralFaceError(f"{model_name}: appearance frame {value} does not exist (it has codes for frames 0-{len(frames) - 1})")
        return codes[value][None].clone()
    if kind == "seed" and value != 0:
        index = int(torch.randint(len(frames), [1], generator=torch.Generator().manual_seed(value)))
        return codes[index][None].clone()
    if kind == "typical":
        return codes[typical_frame(model.appearance)][None].clone()
    return model.appearance.mean()[None].clone()


@torch.no_grad()
def typical_frame(appearance: AppearanceCodes) -> int:
    """The index of the training frame whose W offset lies nearest (L2) the mean code's."""
    offsets = appearance.offset(appearance.codes.weight)  # [F, w_dim]
    return int(torch.linalg.vector_norm(offsets - offsets.mean(dim=0), dim=1).argmin())
