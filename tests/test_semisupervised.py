import pytest
import torch

import pyro_cvae as pc
from pyro_cvae.sampling.evaluate import pointwise_elbo_terms
from pyro_cvae.semisupervised import SemiSupervisedCVAE, with_missing_labels
from pyro_cvae.train.elbos import make_elbo

from .conftest import tiny


def _toy(n=120, classes=3, seed=0):
    """Three well separated clusters of binary 6-pixel "images", one per class."""
    generator = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % classes
    patterns = torch.tensor([[1, 1, 0, 0, 0, 0], [0, 0, 1, 1, 0, 0], [0, 0, 0, 0, 1, 1]], dtype=torch.float32)
    flips = torch.rand(n, 6, generator=generator) < 0.05
    x = (patterns[labels] + flips.float()) % 2
    return x, labels


def _model(**fields):
    return pc.build("custom", x_shape=(6,), y_shape=(3,), likelihood="bernoulli", missing_labels=True, **tiny(**fields))


def test_with_missing_labels_marks_unknown_rows_with_nan():
    y = with_missing_labels(torch.tensor([0, 2, 1]), 3, torch.tensor([True, False, True]))
    assert torch.equal(y[0], torch.tensor([1.0, 0, 0])) and torch.isnan(y[1]).all() and y[2, 1] == 1
    with pytest.raises(TypeError, match="integer"):
        with_missing_labels(torch.tensor([0.0]), 3, torch.tensor([True]))


def test_semi_supervised_model_learns_to_classify_from_few_labels():
    x, labels = _toy()
    known = torch.arange(len(x)) < 12  # 10% of the labels
    model = _model()
    assert isinstance(model, SemiSupervisedCVAE)
    pc.fit(model, (x, with_missing_labels(labels, 3, known)), epochs=60, batch_size=40, elbo="trace-enum",
           learning_rate=1e-2, progress=False)  # fmt: skip
    probabilities = model.classify(x)
    assert torch.allclose(probabilities.sum(-1), torch.ones(len(x)))
    assert (probabilities.argmax(-1) == labels)[~known].float().mean() > 0.9


def test_enumerated_loss_is_the_sum_over_classes_of_the_labelled_elbo():
    # two independent computations: TraceEnum_ELBO's exact sum over the missing label, and
    # Σ_c q(c|x) [ELBO(x, c) + log p(c) - log q(c|x)] from labelled passes, in expectation
    torch.manual_seed(0)
    x, _ = _toy(8)
    y = torch.full((8, 3), float("nan"))
    model = _model().eval()  # eval: no classifier term, the bound alone
    elbo = make_elbo("trace-enum")
    enum = torch.stack([elbo.differentiable_loss(model.raw_model, model.raw_guide, x, y).detach() for _ in range(400)])
    with torch.no_grad():
        by_class = torch.stack([pointwise_elbo_terms(model, x, y)["elbo"].sum() for _ in range(400)])
    assert abs(float(enum.mean() + by_class.mean())) < 4 * float((enum.var() / 400 + by_class.var() / 400).sqrt())


def test_the_model_refuses_an_objective_that_would_sample_its_labels():
    x, labels = _toy(20)
    with pytest.raises(ValueError, match="trace-enum"):
        pc.fit(_model(), (x, with_missing_labels(labels, 3, labels == 0)), epochs=1, progress=False)


@pytest.mark.parametrize(
    "y, message",
    [
        (torch.tensor([[1.0, float("nan"), 0.0]]), "partly NaN"),
        (torch.tensor([[0.5, 0.5, 0.0]]), "one-hot"),
    ],
)
def test_bad_label_rows_are_refused(y, message):
    with pytest.raises(ValueError, match=message):
        _model().check_data(torch.zeros(1, 6), y)


def test_missing_labels_needs_one_hot_conditions():
    with pytest.raises(ValueError, match="missing_labels needs one-hot labels"):
        pc.build("custom", x_shape=(6,), y_shape=(3, 2), missing_labels=True)


def test_batches_with_every_label_known_or_none_train_alike():
    x, labels = _toy(60)
    model = _model()
    for known in (torch.ones(60, dtype=torch.bool), torch.zeros(60, dtype=torch.bool)):
        history = pc.fit(model, (x, with_missing_labels(labels, 3, known)), epochs=1, batch_size=20,
                         elbo="trace-enum", progress=False)  # fmt: skip
        assert torch.isfinite(torch.tensor(history.train_elbo)).all()
