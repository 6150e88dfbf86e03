"""Per-epoch training record: ELBO and its two terms, for train and validation data."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Dict, List, Optional


@dataclass
class History:
    """Per data point, one entry per epoch. ELBO = reconstruction - KL (higher is better).

    ``train_loss`` is the mean mini-batch loss of the epoch (what the optimizer saw, with the
    KL weight applied). The ``train_*`` / ``val_*`` terms come from an evaluation pass after the
    epoch, in eval mode and with KL weight 1, so they are comparable across epochs.
    """

    epoch: List[int] = field(default_factory=list)
    kl_weight: List[float] = field(default_factory=list)
    train_loss: List[float] = field(default_factory=list)
    train_elbo: List[float] = field(default_factory=list)
    train_reconstruction: List[float] = field(default_factory=list)
    train_kl: List[float] = field(default_factory=list)
    val_elbo: List[float] = field(default_factory=list)
    val_reconstruction: List[float] = field(default_factory=list)
    val_kl: List[float] = field(default_factory=list)
    #: weighted sum of the penalties (models with penalties only; not part of the ELBO)
    train_penalty: List[float] = field(default_factory=list)
    val_penalty: List[float] = field(default_factory=list)
    #: the IWAE bound with the fit's K particles (fits on ``elbo="iwae"`` or ``"iwae-dreg"`` only): what they train on
    train_iwae: List[float] = field(default_factory=list)
    val_iwae: List[float] = field(default_factory=list)
    seconds: List[float] = field(default_factory=list)

    def append(self, **values: Optional[float]) -> None:
        for key, value in values.items():
            if value is not None:
                getattr(self, key).append(value)

    def to_dict(self) -> Dict[str, List[float]]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: Dict[str, List[float]]) -> "History":
        return cls(**{k: list(v) for k, v in values.items()})  # type: ignore[arg-type]

    def __len__(self) -> int:
        return len(self.epoch)
