"""Common checks over every public metric: documented parameters = signature, numpydoc sections,
an ideal value, a doctest, an explicit seed, and the same result twice for the same seed."""

import inspect
import re

import numpy as np
import polars as pl
import pytest

import fairdistill.metrics as M

RNG = np.random.default_rng(0)
Y = RNG.integers(0, 2, 120)
SCORE = np.clip(Y * 0.3 + RNG.random(120) * 0.7, 0, 1)
PRED = (SCORE >= 0.5).astype(int)
S = RNG.choice(["F", "M"], 120)
TABLE = pl.DataFrame(
    {"c": RNG.choice(["a", "b", None], 120), "x": RNG.normal(size=120), "s": S, "y": Y}
)
OTHER = TABLE.with_columns(pl.col("x") + RNG.normal(size=120), pl.col("c").shuffle(seed=1))
COLS = dict(categorical=["c", "s"], numeric=["x"])
FIT = dict(target="y", positive_label=1, sensitive="s", categorical=["c"], numeric=["x"])
X = RNG.normal(size=(60, 3))

# One call per public function: (positional args, keyword args). A new metric needs an entry here.
CASES = {
    "accuracy_per_group": ((Y, PRED), dict(sensitive=S)),
    "alpha_precision_beta_recall": ((X, X + 0.1), {}),
    "as_groups": ((np.c_[S, S],), {}),
    "association_similarity": ((TABLE, OTHER), COLS),
    "association_matrix": ((TABLE,), COLS),
    "balanced_resample": ((Y,), dict(sensitive=S, random_state=0)),
    "bootstrap_ci": (
        (M.score_predictions, Y, SCORE),
        dict(sensitive=S, n_resamples=20, random_state=0),
    ),
    "closest_record_distances": ((X, X + 0.1), {}),
    "correlation_ratio": ((S, TABLE["x"].to_numpy()), {}),
    "cramers_v": ((S, TABLE["c"].to_numpy()), {}),
    "data_parity_difference": ((Y,), dict(sensitive=S)),
    "data_parity_ratio": ((Y,), dict(sensitive=S)),
    "demographic_parity_difference": ((Y, PRED), dict(sensitive=S)),
    "demographic_parity_ratio": ((Y, PRED), dict(sensitive=S)),
    "density_coverage": ((X, X + 0.1), {}),
    "detection_auc": ((TABLE, OTHER), dict(**COLS, random_state=0)),
    "distance_to_closest_record": (
        (TABLE, OTHER, OTHER),
        dict(**COLS, max_rows=50, random_state=0),
    ),
    "duplicate_rate": ((TABLE,), {}),
    "embedding_fidelity": ((TABLE, OTHER), dict(**COLS, max_rows=50, random_state=0)),
    "equalized_odds_difference": ((Y, PRED), dict(sensitive=S)),
    "equalized_odds_ratio": ((Y, PRED), dict(sensitive=S)),
    "exact_copy_rate": ((TABLE, OTHER), {}),
    "fit_predict": ((TABLE, OTHER), dict(**FIT, model="hgb", random_state=0)),
    "frechet_distance": ((X, X + 0.1), {}),
    "group_counts": ((Y, PRED), dict(sensitive=S)),
    "group_rates": ((Y, PRED), dict(sensitive=S)),
    "intersectional_groups": ((S, S), {}),
    "ks_statistic": ((X[:, 0], X[:, 1]), {}),
    "latent_leakage_auroc": ((X[:, :2], S[:60]), dict(random_state=0)),
    "make_classifier": (("hgb", ["c"], ["x"]), dict(random_state=0)),
    "marginal_similarity": ((TABLE, OTHER), COLS),
    "pixel_privacy": ((X, X + 0.1, X + 0.2), {}),
    "out_of_fold_scores": ((TABLE,), dict(**FIT, random_state=0)),
    "positive_rates": ((Y,), dict(sensitive=S)),
    "precision_recall": ((X, X + 0.1), {}),
    "rare_values_reproduced": ((TABLE, OTHER), dict(columns=["c"], min_count=50)),
    "prediction_fairness": ((Y, PRED), dict(sensitive=S)),
    "prediction_fairness_at_parity": ((Y, PRED), dict(sensitive=S, random_state=0)),
    "prediction_fairness_intervals": ((Y, PRED), dict(sensitive=S, random_state=0)),
    "rate_ratio_interval": (([3, 9], [40, 50]), dict(random_state=0)),
    "score_intervals": ((Y, SCORE), dict(sensitive=S, n_resamples=20, random_state=0)),
    "score_predictions": ((Y, SCORE), dict(sensitive=S)),
    "subsample": ((TABLE, 10, np.random.default_rng(0)), {}),
    "to_pandas": ((TABLE,), COLS),
    "total_variation_distance": ((TABLE["c"].to_numpy(), OTHER["c"].to_numpy()), {}),
    "trtr": ((TABLE, OTHER), dict(**FIT, random_state=0)),
    "tstr": ((TABLE, OTHER), dict(**FIT, random_state=0)),
}
# The functions that score something carry an ideal value (STYLE rule 7); helpers need not.
HELPERS = {
    "as_groups",
    "group_counts",
    "intersectional_groups",
    "make_classifier",
    "subsample",
    "to_pandas",
    "fit_predict",
    "out_of_fold_scores",
}
FUNCTIONS = sorted(n for n in M.__all__ if inspect.isfunction(getattr(M, n)))
DOCUMENTED = [*FUNCTIONS, "TableEmbedding"]


def documented_parameters(doc: str) -> list[str]:
    """Names in the numpydoc 'Parameters' section ('a, b : type' lines at the section's indent)."""
    section = re.search(
        r"Parameters\n\s*-+\n(.*?)(?:\n\s*\n\s*(?:Returns|Attributes|Examples)\n)", doc, re.S
    )
    assert section, "no numpydoc Parameters section"
    names = re.findall(r"^(\*{0,2}\w+(?:, \*{0,2}\w+)*) :", section.group(1), re.M)
    return [n.strip() for group in names for n in group.split(",")]


def signature_parameters(fn) -> list[str]:
    kind = {inspect.Parameter.VAR_POSITIONAL: "*", inspect.Parameter.VAR_KEYWORD: "**"}
    params = inspect.signature(fn).parameters.values()
    return [kind.get(p.kind, "") + p.name for p in params if p.name != "self"]


def test_every_public_function_has_a_case():
    assert set(FUNCTIONS) == set(CASES)


@pytest.mark.parametrize("name", DOCUMENTED)
def test_docstring_matches_signature(name):
    obj = getattr(M, name)
    doc = inspect.getdoc(obj)
    target = obj.__init__ if inspect.isclass(obj) else obj
    assert documented_parameters(doc) == signature_parameters(target)
    assert ">>> " in doc.split("Examples")[-1], "no doctest"
    if inspect.isfunction(obj):
        assert "\nReturns\n" in doc
    if name not in HELPERS and not inspect.isclass(obj):
        assert "ideal" in doc.lower(), "the docstring does not state the ideal value"


@pytest.mark.parametrize("name", FUNCTIONS)
def test_seed_is_explicit(name):
    parameter = inspect.signature(getattr(M, name)).parameters.get("random_state")
    if parameter is not None:
        assert parameter.kind is inspect.Parameter.KEYWORD_ONLY
        assert parameter.default is inspect.Parameter.empty, "a default seed would be a hidden seed"


def _same(a, b) -> bool:
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, tuple) and not hasattr(a, "_fields"):
        return all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, pl.DataFrame):
        return a.equals(b)
    if hasattr(a, "equals"):  # pandas
        return a.equals(b)
    if hasattr(a, "get_params"):  # an unfitted estimator: its parameters
        return repr(a.get_params()) == repr(b.get_params())
    if isinstance(a, tuple):  # a NamedTuple of arrays
        return all(_same(x, y) for x, y in zip(a, b, strict=True))
    return np.array_equal(np.asarray(a), np.asarray(b), equal_nan=np.asarray(a).dtype.kind == "f")


@pytest.mark.parametrize("name", FUNCTIONS)
def test_deterministic(name):
    args, kwargs = CASES[name]
    fresh = [a for a in args]
    if name == "subsample":  # the generator is consumed: hand each call an identical one
        fresh[-1] = np.random.default_rng(0)
    first = getattr(M, name)(*fresh, **kwargs)
    if name == "subsample":
        fresh[-1] = np.random.default_rng(0)
    assert _same(first, getattr(M, name)(*fresh, **kwargs))
