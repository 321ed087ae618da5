"""GLAD's EM: the objective, the gradients, recovery of simulated parameters, numerical edge cases."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy.special import expit, logsumexp
from scipy.stats import spearmanr

from emcrowd import GLAD, Labels, majority_vote
from emcrowd.errors import ConvergenceWarning, EmcrowdError
from emcrowd.models.classification import glad as glad_module
from emcrowd.models.classification.glad import (
    GaussianPrior,
    _Observations,
    alpha_block_values,
    alpha_derivatives,
    b_block_values,
    b_derivatives,
    expected_log_posterior,
    expected_log_posterior_grad,
    posteriors_and_log_likelihood,
)
from emcrowd.models.simulate import simulate_glad
from tests.helpers import assert_non_decreasing


def dense_loglik(alpha, b, matrix, n_classes, log_prior):
    """The GLAD log likelihood written the slow, obvious way over a dense matrix (NaN = no label)."""
    beta = np.exp(b)
    total = 0.0
    post = np.zeros((matrix.shape[0], n_classes))
    for j, row in enumerate(matrix):
        scores = log_prior.copy()
        for i, label in enumerate(row):
            if np.isnan(label):
                continue
            p = expit(alpha[i] * beta[j])
            for k in range(n_classes):
                scores[k] += np.log(p) if k == label else np.log((1 - p) / (n_classes - 1))
        norm = logsumexp(scores)
        total += norm
        post[j] = np.exp(scores - norm)
    return post, total


@pytest.mark.parametrize(
    "priors",
    [
        {},
        {"beta_prior": (0.0, 1000.0)},  # nearly flat: alpha * beta runs to ~1e30, where sums cancel
        {"alpha_prior": (0.0, 1000.0), "beta_prior": (0.0, 0.1)},
        {"alpha_prior": (-1.0, 0.5)},
    ],
    ids=["default", "flat-beta", "flat-alpha", "negative-alpha"],
)
@pytest.mark.parametrize(
    "n_items,n_workers,per_item,n_classes,seed",
    [
        (200, 8, None, 2, 0),
        (300, 30, 3, 2, 1),
        (500, 100, 2, 2, 2),  # very sparse: 2% of the matrix
        (150, 12, None, 3, 3),
        (200, 20, 5, 4, 4),
        (100, 10, 4, 6, 5),
        (50, 5, None, 2, 6),
    ],
)
def test_objective_never_decreases(n_items, n_workers, per_item, n_classes, seed, priors):
    sim = simulate_glad(
        n_items, n_workers, labels_per_item=per_item, n_classes=n_classes, alpha_sd=1.5, seed=seed
    )
    model = GLAD(tol=0, max_iter=60, **priors)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(sim.labels)
    # tol=0 runs all 60 iterations unless the objective stops changing at all.
    assert len(model.history_) == 60 or model.history_[-1] == model.history_[-2]
    assert len(model.history_) >= 5  # (no early stop: the objective kept changing)
    assert_non_decreasing(model.history_)
    assert np.allclose(model.posteriors_.sum(axis=1), 1.0)


@pytest.mark.parametrize("n_classes", [2, 3, 5])
def test_e_step_matches_dense_reference(n_classes):
    sim = simulate_glad(40, 7, labels_per_item=4, n_classes=n_classes, seed=11)
    rng = np.random.default_rng(0)
    alpha = rng.normal(0.5, 1.5, 7)
    b = rng.normal(0, 1, 40)
    log_prior = np.log(np.full(n_classes, 1 / n_classes))
    obs = _Observations.from_labels(sim.labels)
    post, loglik = posteriors_and_log_likelihood(alpha, b, obs, log_prior)
    ref_post, ref_loglik = dense_loglik(alpha, b, sim.labels.to_matrix(), n_classes, log_prior)
    assert loglik == pytest.approx(ref_loglik, rel=1e-12)
    np.testing.assert_allclose(post, ref_post, atol=1e-12)


@pytest.mark.parametrize("n_classes", [2, 4])
def test_gradients_match_finite_differences(n_classes):
    sim = simulate_glad(30, 6, labels_per_item=4, n_classes=n_classes, seed=5)
    obs = _Observations.from_labels(sim.labels)
    rng = np.random.default_rng(1)
    correct = rng.random(sim.labels.n_labels)
    alpha = rng.normal(0.5, 1.0, 6)
    b = rng.normal(0.3, 0.7, 30)
    ap, bp = GaussianPrior(1.0, 1.0), GaussianPrior(1.0, 1.0)
    g_alpha, g_b = expected_log_posterior_grad(alpha, b, obs, correct, ap, bp)

    def f(a, bb):
        return expected_log_posterior(a, bb, obs, correct, ap, bp)

    eps = 1e-6
    for i in range(6):
        e = np.zeros(6)
        e[i] = eps
        fd = (f(alpha + e, b) - f(alpha - e, b)) / (2 * eps)
        assert g_alpha[i] == pytest.approx(fd, rel=1e-6, abs=1e-7)
    for j in range(30):
        e = np.zeros(30)
        e[j] = eps
        fd = (f(alpha, b + e) - f(alpha, b - e)) / (2 * eps)
        assert g_b[j] == pytest.approx(fd, rel=1e-6, abs=1e-7)


@pytest.mark.parametrize("n_classes", [2, 4])
def test_second_derivatives_match_finite_differences(n_classes):
    sim = simulate_glad(30, 6, labels_per_item=4, n_classes=n_classes, seed=7)
    obs = _Observations.from_labels(sim.labels)
    rng = np.random.default_rng(2)
    correct = rng.random(sim.labels.n_labels)
    alpha, b = rng.normal(0.5, 1.0, 6), rng.normal(0.3, 0.7, 30)
    prior = GaussianPrior(1.0, 1.5)
    eps = 1e-4
    # The block objectives are separable, so each coordinate's second derivative is that of its own part.
    g0, curv = alpha_derivatives(alpha, b, obs, correct, prior)
    g_plus, _ = alpha_derivatives(alpha + eps, b, obs, correct, prior)
    g_minus, _ = alpha_derivatives(alpha - eps, b, obs, correct, prior)
    np.testing.assert_allclose(curv, (g_plus - g_minus) / (2 * eps), rtol=1e-5)
    v_plus = alpha_block_values(alpha + eps, b, obs, correct, prior)
    v_minus = alpha_block_values(alpha - eps, b, obs, correct, prior)
    np.testing.assert_allclose(g0, (v_plus - v_minus) / (2 * eps), rtol=1e-5, atol=1e-8)

    g0, newton, fisher = b_derivatives(alpha, b, obs, correct, prior)
    g_plus = b_derivatives(alpha, b + eps, obs, correct, prior)[0]
    g_minus = b_derivatives(alpha, b - eps, obs, correct, prior)[0]
    np.testing.assert_allclose(newton, (g_plus - g_minus) / (2 * eps), rtol=1e-5, atol=1e-8)
    assert np.all(fisher < 0)
    v_plus = b_block_values(alpha, b + eps, obs, correct, prior)
    v_minus = b_block_values(alpha, b - eps, obs, correct, prior)
    np.testing.assert_allclose(g0, (v_plus - v_minus) / (2 * eps), rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("n_classes", [2, 3])
def test_converged_fit_is_a_stationary_point(n_classes):
    """At an EM fixed point the parameters maximise the M-step objective of their own posteriors."""
    sim = simulate_glad(300, 12, labels_per_item=5, n_classes=n_classes, seed=9)
    model = GLAD(tol=1e-12, max_iter=2000).fit(sim.labels)
    assert model.converged_
    obs = _Observations.from_labels(sim.labels)
    correct = model.posteriors_.ravel()[obs.item_label]
    g_alpha, g_b = expected_log_posterior_grad(
        model.alpha_, model.b_, obs, correct, model._alpha_p, model._b_p
    )
    assert np.abs(g_alpha).max() < 1e-3
    assert np.abs(g_b).max() < 1e-3


@pytest.mark.parametrize("engine", ["numpy", "numba"])
def test_m_step_raises_expected_log_posterior(engine):
    sim = simulate_glad(300, 15, labels_per_item=5, seed=8)
    model = GLAD(engine=engine)
    model._prepare(sim.labels)
    state, post = model._initial_params(sim.labels), model._initial_posteriors(sim.labels)
    log_pi = np.log([0.5, 0.5])
    obs = _Observations.from_labels(sim.labels)
    for _ in range(5):
        correct = post.ravel()[obs.item_label]
        before = expected_log_posterior(state.alpha, state.b, obs, correct, model._alpha_p, model._b_p)
        state = model._m_step(sim.labels, post, state)
        new_post, _ = model._e_step(sim.labels, state, log_pi, None)  # numba: both steps happen here
        after = expected_log_posterior(state.alpha, state.b, obs, correct, model._alpha_p, model._b_p)
        assert after > before
        post = new_post


def test_recovers_abilities_and_beats_majority_vote():
    sim = simulate_glad(2000, 10, seed=0)
    model = GLAD().fit(sim.labels)
    mv = majority_vote(sim.labels)
    assert model.converged_
    assert spearmanr(model.alpha_, sim.alpha).statistic >= 0.9
    glad_acc = np.mean(model.labels_ == sim.truth)
    mv_acc = np.mean(mv.labels == sim.truth)
    assert glad_acc > mv_acc + 0.02
    # A fixed, unchanged prior must not bias beta wholesale: easier items get larger beta.
    assert spearmanr(model.beta_, sim.beta).statistic > 0.2


def test_adversarial_annotators_get_negative_alpha_and_no_sign_flip():
    sim = simulate_glad(1000, 9, alpha_mean=1.0, alpha_sd=2.0, seed=3)
    assert (sim.alpha < 0).sum() >= 1
    model = GLAD().fit(sim.labels)
    np.testing.assert_array_equal(
        np.sign(model.alpha_[np.abs(sim.alpha) > 0.5]), np.sign(sim.alpha[np.abs(sim.alpha) > 0.5])
    )
    assert np.mean(model.labels_ == sim.truth) > 0.9


def test_unanimous_annotators_stay_finite():
    matrix = np.tile(np.array([[1.0], [0.0], [1.0], [1.0], [0.0]]), (1, 6))
    model = GLAD().fit(Labels.from_matrix(matrix))
    assert model.converged_
    assert np.all(np.isfinite(model.alpha_)) and np.all(np.isfinite(model.beta_))
    assert np.all(model.alpha_ < 20) and np.all(model.beta_ < 1e3)
    np.testing.assert_array_equal(model.labels_, [1, 0, 1, 1, 0])


def test_hundreds_of_labels_per_item_do_not_underflow():
    sim = simulate_glad(20, 800, alpha_mean=2.0, alpha_sd=0.5, b_mean=1.0, seed=2)
    model = GLAD().fit(sim.labels)
    assert np.all(np.isfinite(model.posteriors_))
    assert np.allclose(model.posteriors_.sum(axis=1), 1.0)
    assert np.isfinite(model.lower_bound_)
    np.testing.assert_array_equal(model.labels_, sim.truth)


def test_items_without_labels_keep_the_prior():
    matrix = np.array([[1, 1, 0], [np.nan, np.nan, np.nan], [0, 0, np.nan]], dtype=float)
    model = GLAD().fit(Labels.from_matrix(matrix))
    np.testing.assert_allclose(model.posteriors_[1], [0.5, 0.5])


def test_not_converging_warns_and_says_so():
    sim = simulate_glad(200, 10, seed=4)
    with pytest.warns(ConvergenceWarning):
        model = GLAD(max_iter=2).fit(sim.labels)
    assert not model.converged_ and model.n_iter_ == 2


def test_final_posteriors_belong_to_returned_parameters():
    sim = simulate_glad(200, 10, labels_per_item=4, seed=6)
    model = GLAD().fit(sim.labels)
    obs = _Observations.from_labels(sim.labels)
    post, _ = posteriors_and_log_likelihood(model.alpha_, np.log(model.beta_), obs, np.log([0.5, 0.5]))
    np.testing.assert_allclose(model.posteriors_, post, atol=1e-12)
    np.testing.assert_array_equal(model.predict(), model.labels_)
    np.testing.assert_array_equal(model.predict_proba(), model.posteriors_)


def test_bad_parameters_are_user_errors():
    data = simulate_glad(10, 3, seed=0).labels
    with pytest.raises(EmcrowdError, match="prior"):
        GLAD(alpha_prior=(1.0, 0.0)).fit(data)
    with pytest.raises(EmcrowdError, match="max_iter"):
        GLAD(max_iter=0).fit(data)
    with pytest.raises(EmcrowdError, match="class_prior"):
        GLAD(class_prior=[1.0, 0.0]).fit(data)
    with pytest.raises(EmcrowdError, match="not fitted"):
        GLAD().predict()


# -- gold labels, class priors, restarts (semi-supervised and "trustworthy fit" features) -------------
def _with_gold(truth: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    known = np.flatnonzero(truth >= 0)
    pick = rng.choice(known, size=max(1, int(len(known) * fraction)), replace=False)
    gold = np.full(truth.shape, -1)
    gold[pick] = truth[pick]
    return gold


@pytest.mark.parametrize("n_classes", [2, 3])
def test_gold_labels_are_clamped_and_monotone(n_classes):
    sim = simulate_glad(500, 20, labels_per_item=4, n_classes=n_classes, seed=n_classes)
    gold = _with_gold(sim.truth, 0.1, 0)
    model = GLAD().fit(sim.labels, gold=gold)
    known = gold >= 0
    np.testing.assert_array_equal(model.posteriors_[known], np.eye(n_classes)[gold[known]])
    np.testing.assert_array_equal(model.labels_[known], gold[known])
    assert model.n_gold_ == known.sum()
    assert_non_decreasing(model.history_)


@pytest.mark.parametrize("n_classes", [2, 3])
def test_ten_percent_gold_does_not_hurt_the_other_items(n_classes):
    # Gold moves a well-specified fit by a few items either way; summed over ten data sets (sparse:
    # about 30 labels per annotator, so abilities are uncertain) it must not lose.
    gained = 0
    for seed in range(10):
        sim = simulate_glad(300, 30, labels_per_item=3, n_classes=n_classes, alpha_sd=1.5, seed=seed)
        gold = _with_gold(sim.truth, 0.1, seed)
        rest = gold < 0
        plain = GLAD().fit(sim.labels)
        clamped = GLAD().fit(sim.labels, gold=gold)
        gained += int((clamped.labels_[rest] == sim.truth[rest]).sum())
        gained -= int((plain.labels_[rest] == sim.truth[rest]).sum())
    assert gained >= 0


def test_bad_gold_is_a_user_error():
    data = simulate_glad(20, 4, seed=0).labels
    with pytest.raises(EmcrowdError, match="gold"):
        GLAD().fit(data, gold=np.zeros(19, dtype=int))
    with pytest.raises(EmcrowdError, match="gold"):
        GLAD().fit(data, gold=np.full(20, 5))


def test_learned_class_prior_recovers_an_imbalanced_truth():
    prior = np.array([0.7, 0.2, 0.1])
    sim = simulate_glad(3000, 15, labels_per_item=5, n_classes=3, class_prior=prior, seed=4)
    model = GLAD(learn_class_prior=True).fit(sim.labels)
    assert_non_decreasing(model.history_)
    np.testing.assert_allclose(model.class_prior_, prior, atol=0.03)
    fixed = GLAD().fit(sim.labels)
    np.testing.assert_allclose(fixed.class_prior_, [1 / 3] * 3)
    assert np.mean(model.labels_ == sim.truth) >= np.mean(fixed.labels_ == sim.truth)


def test_pseudocount_keeps_an_unseen_class_possible():
    L = np.array([[0, 0, 1], [0, 0, 0], [1, 1, 1], [0, 1, 0]], dtype=float)
    data = Labels.from_matrix(L, classes=("0", "1", "2"))
    model = GLAD(learn_class_prior=True, class_pseudocount=1.0).fit(data)
    assert model.class_prior_[2] > 0
    np.testing.assert_allclose(model.class_prior_.sum(), 1.0)


def test_given_class_prior_is_used_and_checked():
    sim = simulate_glad(200, 5, labels_per_item=3, seed=1)
    model = GLAD(class_prior=[0.9, 0.1]).fit(sim.labels)
    np.testing.assert_allclose(model.class_prior_, [0.9, 0.1])
    uniform = GLAD().fit(sim.labels)
    assert (model.labels_ == 0).sum() > (uniform.labels_ == 0).sum()


def test_restarts_keep_the_best_objective():
    sim = simulate_glad(300, 8, labels_per_item=4, alpha_sd=1.5, seed=5)
    single = GLAD().fit(sim.labels)
    multi = GLAD(n_init=4, random_state=1).fit(sim.labels)
    assert len(multi.init_objectives_) == 4
    assert multi.lower_bound_ == max(multi.init_objectives_)
    assert multi.init_objectives_[0] == pytest.approx(single.lower_bound_)
    assert multi.lower_bound_ >= single.lower_bound_
    again = GLAD(n_init=4, random_state=1).fit(sim.labels)
    np.testing.assert_array_equal(again.posteriors_, multi.posteriors_)


def test_a_flipped_fit_is_flagged_both_ways():
    from emcrowd.analysis.aggregate import aggregate

    sim = simulate_glad(300, 10, labels_per_item=5, alpha_sd=0.3, seed=3)
    flipped = aggregate(sim.labels, "glad", alpha_prior=(-3.0, 0.1))
    assert np.mean(flipped.labels == sim.truth) < 0.5
    assert any("worse than chance" in w for w in flipped.warnings)
    assert any("disagrees with majority vote" in w for w in flipped.warnings)
    assert aggregate(sim.labels, "glad").warnings == []


def _objective_by_hand(model: GLAD, data: Labels, gold: np.ndarray | None) -> float:
    """The MAP objective computed densely and independently: log p(L, z_gold | params) + log priors."""
    log_pi = np.log(model.class_prior_)
    K = data.n_classes
    L = data.to_matrix()
    beta = model.beta_
    total = 0.0
    for j, row in enumerate(L):
        scores = log_pi.copy()
        for i, label in enumerate(row):
            if not np.isnan(label):
                p = expit(model.alpha_[i] * beta[j])
                scores += np.where(np.arange(K) == label, np.log(p), np.log((1 - p) / (K - 1)))
        total += scores[gold[j]] if gold is not None and gold[j] >= 0 else logsumexp(scores)
    total += GaussianPrior(*model.alpha_prior).log_pdf(model.alpha_).sum()
    total += GaussianPrior(*model.beta_prior, "beta").log_pdf(model.b_).sum()
    if model.learn_class_prior:
        total += model.class_pseudocount * log_pi.sum()
    return float(total)


@pytest.mark.parametrize("n_classes", [2, 3, 4, 6])
@pytest.mark.parametrize("learn", [False, True])
@pytest.mark.parametrize("with_gold", [False, True])
def test_monotone_and_the_objective_is_what_it_says(n_classes, learn, with_gold):
    sim = simulate_glad(60, 8, labels_per_item=4, n_classes=n_classes, alpha_sd=1.5, seed=n_classes)
    gold = _with_gold(sim.truth, 0.2, 1) if with_gold else None
    model = GLAD(learn_class_prior=learn, tol=1e-10, max_iter=300).fit(sim.labels, gold=gold)
    assert_non_decreasing(model.history_)
    assert model.lower_bound_ == pytest.approx(_objective_by_hand(model, sim.labels, gold), rel=1e-9)


def test_a_given_class_prior_is_the_start_of_a_learned_one():
    sim = simulate_glad(200, 6, labels_per_item=3, seed=2)
    a = GLAD(learn_class_prior=True, class_prior=[0.5, 0.5]).fit(sim.labels)
    b = GLAD(learn_class_prior=True, class_prior=[0.9, 0.1]).fit(sim.labels)
    assert a.history_[0] != b.history_[0]


def test_zero_pseudocount_with_an_unseen_class_stays_finite():
    L = np.array([[0, 0, 1], [0, 0, 0], [1, 1, 1], [0, 1, 0]], dtype=float)
    data = Labels.from_matrix(L, classes=("0", "1", "2"))
    model = GLAD(learn_class_prior=True, class_pseudocount=0.0).fit(data)
    assert np.isfinite(model.lower_bound_)
    assert model.class_prior_[2] == pytest.approx(0.0, abs=1e-9)  # shrinks by a factor every iteration
    assert_non_decreasing(model.history_)


def test_restarts_really_start_elsewhere_and_follow_the_seed():
    sim = simulate_glad(300, 8, labels_per_item=4, alpha_sd=1.5, seed=5)
    a = GLAD(n_init=4, random_state=1).fit(sim.labels)
    b = GLAD(n_init=4, random_state=2).fit(sim.labels)
    assert len(set(a.init_objectives_)) > 1  # the perturbed starts end (slightly) elsewhere
    assert a.init_objectives_[0] == b.init_objectives_[0]  # the majority-vote start is not random
    assert a.init_objectives_[1:] != b.init_objectives_[1:]


# -- no sign flip whatever the prior means (issue 11) -------------------------------------------------
PRIOR_GRID = [(a, b) for a in (0.0, 0.5, 1.0, 1.5, 2.0, 3.0) for b in (0.0, 1.0, 2.0)]


@pytest.mark.parametrize(
    ("n_classes", "alpha_mean", "alpha_sd", "per_item", "seed"),
    [(2, 1.0, 1.0, 5, 0), (3, 0.3, 1.5, 3, 3)],  # the previous start and M-step flipped 3 of 18 fits
)
def test_no_flipped_fit_over_a_grid_of_prior_means(n_classes, alpha_mean, alpha_sd, per_item, seed):
    from emcrowd.analysis.aggregate import aggregate

    sim = simulate_glad(
        300, 20, labels_per_item=per_item, n_classes=n_classes, alpha_mean=alpha_mean, alpha_sd=alpha_sd,
        seed=seed,
    )  # fmt: skip
    mv_acc = np.mean(majority_vote(sim.labels).labels == sim.truth)
    for a, b in PRIOR_GRID:
        result = aggregate(sim.labels, "glad", alpha_prior=(a, 1.0), beta_prior=(b, 1.0))
        assert np.mean(result.labels == sim.truth) >= mv_acc, (a, b)
        assert result.warnings == [], (a, b)
        assert_non_decreasing(result.history)


def test_start_follows_agreement_with_majority_vote():
    sim = simulate_glad(400, 12, labels_per_item=6, alpha_sd=1.5, seed=2)
    model = GLAD()
    model._prepare(sim.labels)
    alpha0, b0 = model._start
    np.testing.assert_array_equal(b0, np.full(400, 1.0))
    assert spearmanr(alpha0, sim.alpha).statistic > 0.8
    # the first posteriors are the E-step at the start: a majority vote weighted by those abilities
    post = model._initial_posteriors(sim.labels)
    obs = _Observations.from_labels(sim.labels)
    expected, _ = posteriors_and_log_likelihood(alpha0, b0, obs, np.log([0.5, 0.5]))
    np.testing.assert_allclose(post, expected)
    assert np.all(alpha0[sim.alpha < -1] < 0)


def _one_m_step(data: Labels, **options) -> tuple[float, float, int]:
    """The M-step objective before and after the first M-step, and the sweeps it took (NumPy engine)."""
    model = GLAD(engine="numpy", **options)
    model._prepare(data)
    state, post = model._initial_params(data), model._initial_posteriors(data)
    obs = _Observations.from_labels(data)
    correct = post.ravel()[obs.item_label]
    before = expected_log_posterior(state.alpha, state.b, obs, correct, model._alpha_p, model._b_p)
    state = model._m_step(data, post, state)
    after = expected_log_posterior(state.alpha, state.b, obs, correct, model._alpha_p, model._b_p)
    return before, after, state.sweeps


def test_m_step_sweeps_until_a_sweep_gains_little():
    sim = simulate_glad(500, 25, labels_per_item=4, alpha_sd=1.5, seed=1)
    before, one, sweeps = _one_m_step(sim.labels, max_sweeps=1)
    assert sweeps == 1 and one > before
    assert GLAD().max_sweeps == 1  # the default: one sweep per M-step
    _, full, sweeps = _one_m_step(sim.labels, max_sweeps=glad_module.MAX_SWEEPS)
    assert 1 < sweeps < glad_module.MAX_SWEEPS
    assert full > one
    # more sweeps than the rule allows gain little more than the rule's share of the total
    _, capped, _ = _one_m_step(sim.labels, max_sweeps=sweeps - 1)
    assert full - capped <= glad_module.SWEEP_SHARE * (full - before)
    # only MIN_SWEEP_TOL and SWEEP_SHARE stop it
    _, longer, _ = _one_m_step(sim.labels, tol=0.0, max_sweeps=glad_module.MAX_SWEEPS)
    assert longer >= full - 1e-9


@pytest.mark.parametrize("bad", [0, -1, 2.5, True, "3"])
def test_bad_max_sweeps_is_a_user_error(bad):
    data = simulate_glad(10, 3, seed=0).labels
    with pytest.raises(EmcrowdError, match="max_sweeps"):
        GLAD(max_sweeps=bad).fit(data)


def test_accuracy_is_at_a_typical_item_and_chance_is_one_over_k():
    """Five classes, most annotators right 35-50% of the time: worse than a coin (alpha < 0) but far
    better than chance (1/5). GLAD beats majority vote here and must not call that a sign flip."""
    from emcrowd.analysis.aggregate import aggregate, below_chance

    sim = simulate_glad(600, 15, labels_per_item=11, n_classes=5, alpha_mean=-0.3, alpha_sd=0.5, seed=1)
    result = aggregate(sim.labels, "glad")
    model = result.model
    assert np.mean(model.alpha_ < 0) > 0.5  # the old test (alpha < 0) would have fired
    labelled = sim.labels.labels_per_item() > 0
    typical = np.exp(np.median(model.b_[labelled]))
    np.testing.assert_allclose(model.accuracy_, expit(model.alpha_ * typical), rtol=1e-12)
    d = sim.labels
    right = np.bincount(d.worker, weights=d.label == sim.truth[d.item]) / d.labels_per_worker()
    assert spearmanr(model.accuracy_, right).statistic > 0.7
    assert not below_chance(sim.labels, model).any()
    assert result.warnings == []
    assert np.mean(result.labels == sim.truth) > np.mean(result.majority.labels == sim.truth)
    # and a real flip still shows: accuracy below 1/K for most annotators
    flipped = aggregate(sim.labels, "glad", alpha_prior=(-3.0, 0.1))
    assert np.mean(below_chance(sim.labels, flipped.model)) > 0.5


# -- the item difficulty integrated out of the reported posteriors (issue 23) ---------------------------
def _log_loss(posteriors, truth):
    return float(np.mean(-np.log(np.maximum(posteriors[np.arange(truth.size), truth], 1e-15))))


@pytest.mark.parametrize(("n_classes", "per_item"), [(2, 3), (2, 5), (4, 5)])
def test_integrated_posteriors_are_better_calibrated_than_the_map_plug_in(n_classes, per_item):
    """On data drawn from GLAD itself, the posteriors with b_j at its MAP value (fitted to the item's
    few labels) are overconfident; with b_j integrated out they are calibrated at least as well as
    one-coin's, with the same accuracy."""
    from emcrowd.analysis.aggregate import aggregate
    from emcrowd.models.simulate import simulate_glad

    sim = simulate_glad(2000, 100, labels_per_item=per_item, n_classes=n_classes, seed=per_item)
    glad = aggregate(sim.labels, "glad")
    coin = aggregate(sim.labels, "one_coin")
    integrated = _log_loss(glad.posteriors, sim.truth)
    plug_in = _log_loss(glad.model.map_posteriors_, sim.truth)
    assert integrated < plug_in
    assert integrated <= _log_loss(coin.posteriors, sim.truth) + 0.002
    accuracy = np.mean(glad.labels == sim.truth)
    assert accuracy >= np.mean(glad.model.map_posteriors_.argmax(axis=1) == sim.truth) - 0.003
    np.testing.assert_allclose(glad.posteriors.sum(axis=1), 1.0)
    assert np.array_equal(glad.labels, glad.model.labels_)


def test_the_fitted_difficulty_spread_follows_the_data():
    from emcrowd.models.simulate import simulate_glad

    spreads = {}
    for b_sd in (0.05, 1.0):
        sim = simulate_glad(2000, 60, labels_per_item=8, b_sd=b_sd, seed=3)
        model = GLAD()
        model.fit(sim.labels).integrate_difficulty(sim.labels)
        spreads[b_sd] = model.difficulty_prior_.sd
    assert spreads[0.05] < 0.5 * spreads[1.0]


def test_integrated_posteriors_clamp_gold_and_keep_the_fit():
    from emcrowd.models.simulate import simulate_glad

    sim = simulate_glad(300, 12, labels_per_item=4, n_classes=3, seed=4)
    gold = np.where(np.arange(300) % 4 == 0, sim.truth, -1)
    model = GLAD().fit(sim.labels, gold=gold)
    history, alpha = list(model.history_), model.alpha_.copy()
    model.integrate_difficulty(sim.labels, gold)
    known = gold >= 0
    np.testing.assert_array_equal(model.posteriors_[known], np.eye(3)[gold[known]])
    assert model.history_ == history and np.array_equal(model.alpha_, alpha)  # the fit is unchanged
    assert_non_decreasing(model.history_)
