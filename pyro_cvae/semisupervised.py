r"""Semi-supervised CVAE (M2, Kingma et al. 2014): class labels y that may be missing.

Generative story, for each data point::

    y ~ OneHotCategorical(uniform over C classes)       observed where the label is known
    z ~ N(0, I)
    x ~ likelihood(decoder(z, y))

Guide::

    y ~ OneHotCategorical(q_φ(y | x))                    only where the label is missing
    z ~ q_φ(z | x, y)

A missing label is a discrete latent with C values, so ``TraceEnum_ELBO`` (``elbo="trace-enum"``)
sums over them exactly instead of sampling: for an unlabelled point the objective is
Σ_c q(c | x) [ELBO(x, c) + log p(c) - log q(c | x)]. The classifier q(y | x) gets no signal from
labelled points in that bound, so, as in M2, they add ``classifier_weight`` × log q(y | x) to
the objective (α; the paper's α = 0.1 N). After training, ``classify(x)`` is q(y | x).

Labels come as one-hot rows of y; a row of NaN marks a missing label (``with_missing_labels``
turns integer labels and a mask into that). ``pc.fit`` takes such data as it is.
"""

from __future__ import annotations

import pyro
import pyro.distributions as dist
import torch
from pyro import poutine

from .model import CVAE, _scaled
from .sampling.evaluate import eval_mode, known_condition_terms


def with_missing_labels(labels: torch.Tensor, num_classes: int, known: torch.Tensor) -> torch.Tensor:
    """One-hot rows ``(N, num_classes)`` for integer ``labels``, NaN where ``known`` is False."""
    if labels.dtype.is_floating_point:
        raise TypeError(f"labels must be integer class indices, got {labels.dtype}")
    if known.shape != labels.shape or known.dtype != torch.bool:
        raise ValueError(f"known must be a bool mask shaped like labels {tuple(labels.shape)}")
    y = torch.nn.functional.one_hot(labels, num_classes).float()
    y[~known] = float("nan")
    return y


def semi_supervised_parts(config) -> dict:
    """The classifier q(y | x) (an encoder of x alone with C outputs) and α, for ``build``."""
    from .components.nets import EncoderNet

    classifier = EncoderNet(
        config.x_shape, None, config.y_shape[0], config.network, config.hidden_sizes, config.channels
    )
    return {"classifier": classifier, "classifier_weight": config.classifier_weight}


def _broadcast(x: torch.Tensor, y: torch.Tensor, x_event: int):
    """x ``(n, *x_event)`` and an enumerated y ``(C, 1, classes)`` to common leading dims."""
    lead = torch.broadcast_shapes(x.shape[: x.dim() - x_event], y.shape[:-1])
    return x.expand(*lead, *x.shape[x.dim() - x_event :]), y.expand(*lead, y.shape[-1])


class SemiSupervisedCVAE(CVAE):
    """A CVAE whose one-hot condition y may be missing (NaN rows): M2 (module docstring).

    ``classifier`` maps x to C logits; ``classifier_weight`` is α. Everything else is a CVAE:
    with every label known, or to generate x from y, it is the same model as ``CVAE``."""

    #: the objective must enumerate the missing labels
    enumerates = True

    def __init__(self, *args, classifier: torch.nn.Module, classifier_weight: float = 50.0, **kwargs):
        super().__init__(*args, **kwargs)
        assert self.y_shape is not None and len(self.y_shape) == 1, "labels are one-hot vectors"
        self.classifier, self.classifier_weight = classifier, classifier_weight
        self.num_classes = self.y_shape[0]

    # ------------------------------------------------------------------ data

    def check_data(self, x, y, allow_batchless=False):
        if y is not None and isinstance(y, torch.Tensor) and y.dtype.is_floating_point:
            missing = torch.isnan(y)
            partly = missing.any(-1) & ~missing.all(-1)
            if partly.any():
                raise ValueError(f"y has {int(partly.sum())} row(s) partly NaN; a missing label is a whole row of NaN")
            # the CVAE's checks on y with the missing rows filled, then the one-hot rule
            x, filled = super().check_data(x, torch.where(missing, torch.zeros_like(y), y), allow_batchless)
            known = filled[~torch.isnan(y).reshape(filled.shape).all(-1)]
            if not ((known == 0) | (known == 1)).all() or (known.sum(-1) != 1).any():
                raise ValueError("y must hold one-hot rows (or NaN rows for missing labels)")
            return x, y.reshape(filled.shape)
        return super().check_data(x, y, allow_batchless)

    def classify(self, x: torch.Tensor) -> torch.Tensor:
        """q(y | x): class probabilities ``(N, C)``, on the CPU."""
        x, _ = super().check_data(x, None if self.y_shape is None else torch.zeros(len(x), *self.y_shape))
        with torch.no_grad(), eval_mode(self):
            probs = torch.softmax(self.classifier(x.to(self.device)), -1)
        return probs.cpu()

    # ------------------------------------------------------------------ Pyro program

    def _split(self, x, y):
        missing = torch.isnan(y).all(-1)
        return (~missing).nonzero().squeeze(-1), missing.nonzero().squeeze(-1)

    def raw_model(self, x=None, y=None, kl_weight=1.0, num_data=None, batch_size=None):
        if x is None or y is None or not torch.isnan(y).any():
            return self._labelled_model(x, y, kl_weight, num_data, batch_size)
        labelled, unlabelled = self._split(x, y)
        batch = x.shape[0]
        prior_y = dist.OneHotCategorical(logits=torch.zeros(self.num_classes, device=x.device))
        with poutine.scale(scale=(num_data or batch) / batch):
            if len(labelled):
                with pyro.plate("labelled", len(labelled)):
                    xs, ys = x[labelled], y[labelled]
                    pyro.sample("y_labelled", prior_y, obs=ys)
                    self._generate(xs, ys, "labelled", kl_weight)
                    self._classifier_term(xs, ys)
            with pyro.plate("unlabelled", len(unlabelled)):
                ys = pyro.sample("y_unlabelled", prior_y)
                self._generate(x[unlabelled], ys, "unlabelled", kl_weight)
        return x

    def raw_guide(self, x=None, y=None, kl_weight=1.0, num_data=None, batch_size=None):
        if x is None or y is None or not torch.isnan(y).any():
            return self._labelled_guide(x, y, kl_weight, num_data, batch_size)
        labelled, unlabelled = self._split(x, y)
        batch = x.shape[0]
        event = len(self.x_shape)
        with poutine.scale(scale=(num_data or batch) / batch):
            if len(labelled):
                with pyro.plate("labelled", len(labelled)), _scaled(kl_weight):
                    pyro.sample("z_labelled", self.encoder(x[labelled], y[labelled]))
            with pyro.plate("unlabelled", len(unlabelled)):
                xs = x[unlabelled]
                q_y = dist.OneHotCategorical(logits=self.classifier(xs))
                ys = pyro.sample("y_unlabelled", q_y, infer={"enumerate": "parallel"})
                with _scaled(kl_weight):
                    pyro.sample("z_unlabelled", self.encoder(*_broadcast(xs, ys, event)))

    @torch.no_grad()
    def pointwise_elbo_terms(self, x, y, batch_size: int = 2048):
        """Per point: the ELBO with y known, and for a missing label its sum over the classes,
        Σ_c q(c | x) [ELBO(x, c) + log p(c) - log q(c | x)] (what ``trace-enum`` optimizes)."""
        missing = torch.isnan(y).all(-1)
        if not missing.any():
            return known_condition_terms(self, x, y, batch_size)
        terms = {"reconstruction": torch.zeros(len(x)), "kl": torch.zeros(len(x))}
        if (~missing).any():
            known = known_condition_terms(self, x[~missing], y[~missing], batch_size)
            for name in terms:
                terms[name][~missing.cpu()] = known[name]
        xs = x[missing]
        with eval_mode(self):
            q = torch.softmax(self.classifier(xs), -1).cpu()  # (n, C)
        eye = torch.eye(self.num_classes, device=x.device)
        per_class = [
            known_condition_terms(self, xs, eye[c].expand(len(xs), -1), batch_size) for c in range(self.num_classes)
        ]
        recon = torch.stack([t["reconstruction"] for t in per_class], -1)
        kl_z = torch.stack([t["kl"] for t in per_class], -1)
        kl_y = (q * (q.clamp_min(1e-12).log() + torch.log(torch.tensor(float(self.num_classes))))).sum(-1)
        terms["reconstruction"][missing.cpu()] = (q * recon).sum(-1)
        terms["kl"][missing.cpu()] = (q * kl_z).sum(-1) + kl_y
        terms["elbo"] = terms["reconstruction"] - terms["kl"]
        return terms

    def _labelled_model(self, x, y, kl_weight, num_data, batch_size):
        """Every label known (or generation from y): the CVAE, plus the classifier's term."""
        out = super().raw_model(x, y, kl_weight, num_data, batch_size)
        if x is not None and y is not None and self.training:
            # a plate of its own: the data plate's name is taken by the CVAE's sites
            with poutine.scale(scale=(num_data or len(x)) / len(x)), pyro.plate("classified", len(x)):
                self._classifier_term(x, y)
        return out

    def _labelled_guide(self, x, y, kl_weight, num_data, batch_size):
        return super().raw_guide(x, y, kl_weight, num_data, batch_size)

    def _generate(self, x, y, part, kl_weight):
        with _scaled(kl_weight):
            z = pyro.sample(f"z_{part}", self.prior(None))
        pyro.sample(f"x_{part}", self.likelihood(self.decoder(z, y)), obs=x)

    def _classifier_term(self, x, y):
        if self.classifier_weight and self.training:
            log_q = dist.OneHotCategorical(logits=self.classifier(x)).log_prob(y)
            pyro.factor("classifier", self.classifier_weight * log_q)
