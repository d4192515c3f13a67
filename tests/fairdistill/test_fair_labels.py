"""Label shifts by criterion, against quantities worked out by hand or computed directly."""

import numpy as np
import pytest
from sklearn.metrics import balanced_accuracy_score

from fairdistill.fair_labels import (
    calibrate_through_proxy,
    coupled_labels,
    criterion_ratio,
    dp_group_shifts,
    dp_threshold_shifts,
    eo_group_thresholds,
    equalized_odds_ratio,
    fair_reference_labels,
    logit,
    sigmoid,
)


def balanced_accuracy_score_of(score, y):
    """The balanced accuracy of ``1[score > ½]``, as the proxy steps judge a proxy."""
    return balanced_accuracy_score(y, np.asarray(score) > 0.5)


def scores(n=20_000, seed=3):
    """Group 1's scores sit higher than group 0's; labels drawn from the scores."""
    rng = np.random.default_rng(seed)
    s = (rng.random(n) < 0.6).astype(int)
    p = sigmoid(rng.normal(size=n) * 1.5 - 1 + 1.2 * s)
    y = (rng.random(n) < p).astype(int)
    return p, y, s


def test_dp_shifts_equalise_the_means_at_the_pooled_rate_and_keep_the_order():
    rng = np.random.default_rng(0)
    p = np.stack([sigmoid(rng.normal(-1, 1, 500)), sigmoid(rng.normal(1, 1, 500))])
    shifts = dp_group_shifts(p, [0.25, 0.75])
    q = sigmoid(logit(p) + shifts[:, None])
    pooled = 0.25 * p[0].mean() + 0.75 * p[1].mean()
    assert q.mean(1) == pytest.approx([pooled, pooled], abs=1e-9)
    assert shifts[0] > 0 > shifts[1]
    for k in (0, 1):  # a monotone map: the ranking inside each group is kept
        assert (np.argsort(q[k]) == np.argsort(p[k])).all()


def test_dp_threshold_shifts_give_equal_positive_rates():
    p, _, s = scores()
    q = sigmoid(logit(p) + dp_threshold_shifts(p, s, 2)[s])
    rates = [(q[s == k] > 0.5).mean() for k in (0, 1)]
    assert rates[0] == pytest.approx(rates[1], abs=0.002)
    assert rates[0] == pytest.approx((p > 0.5).mean(), abs=0.002)


def test_eo_thresholds_reach_the_ratio_on_their_rows():
    p, y, s = scores()
    common = [(p[(s == k) & (y == c)] > 0.5).mean() for k in (0, 1) for c in (1, 0)]
    assert equalized_odds_ratio(np.array(common[::2]), np.array(common[1::2])) < 0.6
    found = eo_group_thresholds(p, y, s, 2)
    predicted = p > found.thresholds[s]
    tpr = np.array([predicted[(s == k) & (y == 1)].mean() for k in (0, 1)])
    fpr = np.array([predicted[(s == k) & (y == 0)].mean() for k in (0, 1)])
    assert found.ratio == pytest.approx(float(equalized_odds_ratio(tpr, fpr)))
    assert found.ratio >= 0.88
    assert found.accuracy == pytest.approx(float((predicted == y).mean()))
    assert (sigmoid(logit(p) + found.shifts[s]) > 0.5).tolist() == predicted.tolist()


def test_eo_thresholds_keep_a_rare_positive_class():
    """15% positives, fewer in group 1: raising both cut-offs until few rows are positive costs
    little accuracy and meets the ratio too, but gives the positives up (balanced accuracy 0.70,
    positive rate 0.10 under the accuracy band alone); the band of both accuracies keeps them."""
    rng = np.random.default_rng(0)
    s = (rng.random(20_000) < 0.3).astype(int)
    p = sigmoid(-2.5 + 2.0 * rng.normal(size=20_000) - 1.0 * s)
    y = (rng.random(20_000) < p).astype(int)
    found = eo_group_thresholds(p, y, s, 2)
    predicted = p > found.thresholds[s]
    assert found.ratio >= 0.88
    assert predicted.mean() >= 0.8 * y.mean()
    assert balanced_accuracy_score(y, predicted) >= 0.74


def test_eo_thresholds_change_nothing_when_the_common_cutoff_is_fair():
    rng = np.random.default_rng(1)
    p = sigmoid(rng.normal(size=20_000))
    y, s = (rng.random(20_000) < p).astype(int), rng.integers(0, 2, 20_000)
    assert eo_group_thresholds(p, y, s, 2).shifts.tolist() == [0.0, 0.0]


def test_the_proxy_step_composes_the_cutoffs_of_what_it_sees():
    """A proxy that returns fixed scores: one dp step moves each group's cut-off to the one with
    equal positive rates; a second step, seeing the same scores, adds the same correction."""
    p, y, s = scores(n=2_000)
    step = dp_threshold_shifts(p, s, 2)

    def generate(shifts):
        return shifts

    start = np.array([0.5, -0.5])
    once = calibrate_through_proxy(generate, lambda _: p, y, s, 2, "dp", start, 1)
    assert once == pytest.approx(start + step)
    twice = calibrate_through_proxy(generate, lambda _: p, y, s, 2, "dp", start, 2)
    assert twice == pytest.approx(start + 2 * step)
    assert calibrate_through_proxy(generate, lambda _: p, y, s, 2, "dp", start, 0) is not start
    with pytest.raises(ValueError, match="unknown fairness criterion 'xx'"):
        calibrate_through_proxy(generate, lambda _: p, y, s, 2, "xx", start, 1)


def test_the_proxy_steps_keep_the_shifts_whose_proxy_was_fairest_on_the_real_rows():
    """Proxies that answer, call by call, unfair, fair, unfair (the next shifts would drift off):
    with ``keep_fairest`` the shifts of the fair one come back, not the last ones."""
    p, y, s = scores(n=4_000)
    fair = sigmoid(logit(p) + dp_threshold_shifts(p, s, 2)[s])
    answers = iter([p, fair, p])
    tried = []

    def generate(shifts):
        tried.append(shifts)
        return shifts

    out = calibrate_through_proxy(
        generate, lambda _: next(answers), y, s, 2, "dp", np.zeros(2), 2, keep_fairest=True
    )
    assert len(tried) == 3  # two steps, and the proxy of the last shifts
    np.testing.assert_array_equal(out, tried[1])
    assert criterion_ratio(fair, y, s, 2, "dp") > 0.95 > criterion_ratio(p, y, s, 2, "dp")


def test_the_proxy_steps_never_keep_cutoffs_that_predict_almost_no_positives():
    """A proxy that predicts positive every 20th row, whatever the row, has equal rates in every
    group, so a high ratio; it loses to proxies that rank: its balanced accuracy (½) is outside the
    band of the best corrected proxy's."""
    p, y, s = scores(n=20_000)
    fairer = sigmoid(logit(p) + dp_threshold_shifts(p, s, 2)[s])
    rare = np.where(np.arange(len(p)) % 20 == 0, 0.9, 0.1)
    assert criterion_ratio(rare, y, s, 2, "eo") > 0.8 > criterion_ratio(fairer, y, s, 2, "eo")
    answers, tried = iter([p, fairer, rare]), []

    def generate(shifts):
        tried.append(shifts)
        return shifts

    out = calibrate_through_proxy(
        generate, lambda _: next(answers), y, s, 2, "eo", np.zeros(2), 2, keep_fairest=True
    )
    assert not np.array_equal(out, tried[2])


def test_the_band_is_drawn_from_the_corrected_proxies():
    """The starting shifts (the faithful label) are the most accurate; a fair proxy that costs more
    than the band in accuracy still wins over them."""
    p, y, s = scores(n=20_000)
    shifted = sigmoid(logit(p) + eo_group_thresholds(p, y, s, 2, max_accuracy_loss=0.2).shifts[s])
    flip = np.random.default_rng(0).random(len(p)) < 0.1  # fair, but at a cost in accuracy
    fair = np.where(flip != (shifted > 0.5), 0.9, 0.1)
    assert balanced_accuracy_score_of(fair, y) < balanced_accuracy_score_of(p, y) - 0.03
    assert criterion_ratio(fair, y, s, 2, "eo") > criterion_ratio(p, y, s, 2, "eo")
    answers = iter([p, fair])
    out = calibrate_through_proxy(
        lambda shifts: shifts, lambda _: next(answers), y, s, 2, "eo", np.zeros(2), 1, True
    )
    assert out.tolist() != [0.0, 0.0]


def test_criterion_ratio_by_hand():
    y, s = np.array([1, 0, 1, 0]), np.array([0, 0, 1, 1])
    # dp: positive rates 1/2 and 1; eo: TPR 1 and 1, FPR 0 and 1 → 0
    assert criterion_ratio(np.array([0.9, 0.1, 0.9, 0.9]), y, s, 2, "dp") == 0.5
    assert criterion_ratio(np.array([0.9, 0.1, 0.9, 0.9]), y, s, 2, "eo") == 0.0
    assert balanced_accuracy_score_of(np.array([0.9, 0.1, 0.9, 0.1]), y) == 1.0
    with pytest.raises(ValueError, match="unknown fairness criterion"):
        criterion_ratio(np.zeros(4), y, s, 2, "xx")


def test_coupled_labels_follow_q_and_change_as_few_as_possible():
    rng = np.random.default_rng(2)
    n = 200_000
    p = rng.uniform(0.05, 0.95, n)
    y = (rng.random(n) < p).astype(int)
    q = sigmoid(logit(p) + rng.choice([-1.0, 1.0], n))
    fair = coupled_labels(y, p, q, rng.random(n))
    assert fair.mean() == pytest.approx(q.mean(), abs=0.005)
    assert (fair != y).mean() == pytest.approx(np.abs(q - p).mean(), abs=0.005)  # the minimum
    assert (coupled_labels(y, p, p, rng.random(n)) == y).all()


@pytest.mark.parametrize("criterion", ["dp", "eo"])
def test_fair_reference_labels_are_fair_and_seeded(criterion):
    p, y, s = scores()
    labels = fair_reference_labels(p, y, s, 2, criterion, random_state=0)
    assert (labels == fair_reference_labels(p, y, s, 2, criterion, random_state=0)).all()
    assert (labels != fair_reference_labels(p, y, s, 2, criterion, random_state=1)).any()
    rates = [labels[s == k].mean() for k in (0, 1)]
    if criterion == "dp":
        assert rates == pytest.approx([y.mean(), y.mean()], abs=0.01)
    else:  # toward equal error rates, which keep unequal base rates apart
        real = [y[s == k].mean() for k in (0, 1)]
        assert 0 < rates[1] - rates[0] < real[1] - real[0]
    with pytest.raises(ValueError, match="choose 'dp' or 'eo'"):
        fair_reference_labels(p, y, s, 2, "parity", random_state=0)
