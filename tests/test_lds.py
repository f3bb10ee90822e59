"""The shared LDS prior (Li & Fisher 2021): values, gradients, and agreement with the duplicate metrics."""

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from scenebench.baselines.common import lds  # noqa: E402


def test_hand_computed_three_slot_example():
    # slots (1, 0), (0, 1), (1, 1): cosines S_12 = 0, S_13 = S_23 = 1/sqrt(2)
    z = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], dtype=torch.float64)
    s = 1 / math.sqrt(2)
    expected_sim = torch.tensor([[1, 0, s], [0, 1, s], [s, s, 1]], dtype=torch.float64)
    assert torch.allclose(lds.cosine_similarity_matrix(z), expected_sim)
    # sum over the 6 ordered pairs h != j of log N(S_hj; 0, 0.1^2):
    # squares 0, 0, 1/2, 1/2, 1/2, 1/2 -> -2 / (2 * 0.01) = -100, and 6 normalising constants
    by_hand = -100.0 - 6 * math.log(0.1 * math.sqrt(2 * math.pi))  # = -91.69812...
    assert float(lds.lds_log_prior(z, 0.1)) == pytest.approx(by_hand, abs=1e-9)
    assert float(lds.lds_log_prior(z, 0.1)) == pytest.approx(-91.6981206, abs=1e-6)
    # sigma is a parameter (the paper's ablation): sigma = 0.5 -> -2 / 0.5 - 6 log(0.5 sqrt(2 pi))
    assert float(lds.lds_log_prior(z, 0.5)) == pytest.approx(-4.0 - 6 * math.log(0.5 * math.sqrt(2 * math.pi)))
    # the training-loss term is -lambda * L_LDS
    assert float(lds.lds_penalty(z, 0.5, 0.1)) == pytest.approx(-0.5 * by_hand)
    assert float(lds.mean_off_diagonal_similarity(z)) == pytest.approx(4 * s / 6)
    with pytest.raises(ValueError, match="sigma"):
        lds.lds_log_prior(z, 0.0)


def test_matches_a_scipy_reference_over_a_batch_and_ignores_scale():
    from scipy.stats import norm

    from scenebench.evaluation.metrics import slot_similarity

    g = torch.Generator().manual_seed(0)
    z = torch.randn(4, 2, 5, 3, generator=g, dtype=torch.float64)  # leading dims are images
    got = lds.lds_log_prior(z, 0.1)
    assert got.shape == (4, 2)
    zn = z.numpy()
    for i in np.ndindex(4, 2):
        u = zn[i] / np.linalg.norm(zn[i], axis=1, keepdims=True)
        sim = u @ u.T
        ref = sum(norm.logpdf(sim[h, j], 0.0, 0.1) for h in range(5) for j in range(5) if h != j)
        assert float(got[i]) == pytest.approx(ref, rel=1e-12)
    # cosine similarity: rescaling a slot by a positive factor changes nothing
    scaled = z * torch.tensor([0.1, 3.0, 7.0, 1.0, 0.5], dtype=torch.float64)[:, None]
    assert torch.allclose(lds.lds_log_prior(scaled, 0.1), got)
    # the same similarities as the duplicate metrics score
    assert float(lds.mean_off_diagonal_similarity(z).mean()) == pytest.approx(slot_similarity(zn))


def test_the_prior_pushes_duplicate_slots_apart():
    z = torch.tensor([[[1.0, 0.1, 0.0], [1.0, 0.0, 0.1], [0.0, 0.0, 1.0]]], requires_grad=True)
    before = lds.cosine_similarity_matrix(z.detach())[0, 0, 1]
    lds.lds_log_prior(z).sum().backward()  # ascend L_LDS
    assert torch.isfinite(z.grad).all()
    with torch.no_grad():
        after = lds.cosine_similarity_matrix(z + 1e-3 * z.grad)[0, 0, 1]
    assert after < before
    # orthogonal slots are its maximum: the gradient vanishes there
    e = torch.eye(3, requires_grad=True)
    lds.lds_log_prior(e).backward()
    assert float(e.grad.abs().max()) < 1e-6


def test_zero_slots_are_similar_to_nothing_and_stay_finite():
    z = torch.tensor([[0.0, 0.0], [1.0, 0.0], [1.0, 0.0]], requires_grad=True)
    sim = lds.cosine_similarity_matrix(z).detach()
    assert torch.equal(sim[0], torch.zeros(3)) and float(sim[1, 2]) == pytest.approx(1.0)
    value = lds.lds_log_prior(z, 0.1)
    by_hand = -2 / (2 * 0.01) - 6 * math.log(0.1 * math.sqrt(2 * math.pi))  # one pair (both orders) has S = 1
    assert float(value.detach()) == pytest.approx(by_hand, rel=1e-6)
    value.backward()
    assert torch.isfinite(z.grad).all()


def test_config_fields_are_checked():
    from types import SimpleNamespace

    lds.check_fields(SimpleNamespace(lds_weight=0.0, lds_sigma=0.1))
    with pytest.raises(ValueError, match="lds_weight"):
        lds.check_fields(SimpleNamespace(lds_weight=-1.0, lds_sigma=0.1))
    with pytest.raises(ValueError, match="lds_sigma"):
        lds.check_fields(SimpleNamespace(lds_weight=0.5, lds_sigma=0.0))
