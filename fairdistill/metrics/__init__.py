"""Audit metrics (DESIGN §5): small pure functions of arrays or Polars tables; no I/O, no hidden seeds.

- `fairness`: data-level P(y=1|s), parity ratio/difference; model-level DPR/DPD/EOR/EOD (fairlearn).
- `utility`: TSTR / TRTR with logistic regression or gradient-boosted trees, scored on the real
  holdout (accuracy, F1, AUROC and the fairness of the predictions).
- `fidelity`: marginal similarity, association similarity, detection AUC.
- `manifold`: α-precision, β-recall, authenticity, density, coverage in a fixed embedding.
- `privacy`: exact-copy rate, rare training values reproduced, distance to closest record against
  the holdout.
- `leakage`: AUROC of s from latent means.
- `images`: accuracy per group, the group-balanced resample, Fréchet distance, precision/recall and
  pixel-space privacy, for the image audit (`models.image_audit`).
- `bootstrap`: intervals over the holdout: the percentile bootstrap over its rows, and the
  likelihood-ratio interval of a ratio of group rates (DPR, EOR).
- `tables`: the one Polars → pandas conversion, the seeded subsample, the fixed embedding.
"""

from fairdistill.metrics.bootstrap import bootstrap_ci, rate_ratio_interval
from fairdistill.metrics.fairness import (
    as_groups,
    data_parity_difference,
    data_parity_ratio,
    demographic_parity_difference,
    demographic_parity_ratio,
    equalized_odds_difference,
    equalized_odds_ratio,
    group_counts,
    group_rates,
    intersectional_groups,
    positive_rates,
    prediction_fairness,
    prediction_fairness_at_parity,
    prediction_fairness_intervals,
)
from fairdistill.metrics.fidelity import (
    association_matrix,
    association_similarity,
    correlation_ratio,
    cramers_v,
    detection_auc,
    ks_statistic,
    marginal_similarity,
    total_variation_distance,
)
from fairdistill.metrics.images import (
    accuracy_per_group,
    balanced_resample,
    frechet_distance,
    pixel_privacy,
    precision_recall,
)
from fairdistill.metrics.leakage import latent_leakage_auroc
from fairdistill.metrics.manifold import (
    alpha_precision_beta_recall,
    density_coverage,
    embedding_fidelity,
)
from fairdistill.metrics.privacy import (
    closest_record_distances,
    distance_to_closest_record,
    duplicate_rate,
    exact_copy_rate,
    rare_values_reproduced,
)
from fairdistill.metrics.tables import TableEmbedding, subsample, to_pandas
from fairdistill.metrics.utility import (
    Predictions,
    fit_predict,
    make_classifier,
    out_of_fold_scores,
    score_intervals,
    score_predictions,
    trtr,
    tstr,
)

__all__ = [
    "Predictions",
    "TableEmbedding",
    "accuracy_per_group",
    "alpha_precision_beta_recall",
    "as_groups",
    "association_matrix",
    "association_similarity",
    "balanced_resample",
    "bootstrap_ci",
    "closest_record_distances",
    "correlation_ratio",
    "cramers_v",
    "data_parity_difference",
    "data_parity_ratio",
    "demographic_parity_difference",
    "demographic_parity_ratio",
    "density_coverage",
    "detection_auc",
    "distance_to_closest_record",
    "embedding_fidelity",
    "duplicate_rate",
    "equalized_odds_difference",
    "equalized_odds_ratio",
    "exact_copy_rate",
    "rare_values_reproduced",
    "fit_predict",
    "frechet_distance",
    "group_counts",
    "group_rates",
    "intersectional_groups",
    "ks_statistic",
    "latent_leakage_auroc",
    "make_classifier",
    "marginal_similarity",
    "out_of_fold_scores",
    "pixel_privacy",
    "positive_rates",
    "precision_recall",
    "prediction_fairness",
    "prediction_fairness_at_parity",
    "prediction_fairness_intervals",
    "rate_ratio_interval",
    "score_intervals",
    "score_predictions",
    "subsample",
    "to_pandas",
    "total_variation_distance",
    "trtr",
    "tstr",
]
