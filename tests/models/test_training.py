"""The shared training loop: what its validation pass reads."""

import pytest
import torch
from torch import nn

from fairdistill.settings import VALIDATION_ROWS, TrainingSettings
from models.training import fit_loop


@pytest.mark.parametrize(
    ("rows", "validated"),
    [(1_000, 100), (10 * VALIDATION_ROWS + 1_000, VALIDATION_ROWS)],
    ids=["all held-out rows", "capped"],
)
def test_each_validation_pass_reads_at_most_validation_rows_held_out_rows(rows, validated):
    """10% of the rows are held out; a round's validation pass reads all of them on a small table,
    and `VALIDATION_ROWS` of them on a large one, whose held-out rows are more."""
    x = torch.randn(rows, 2, generator=torch.Generator().manual_seed(0))
    model = nn.Linear(2, 1)
    passes = [0]  # rows read by each round's validation pass

    def loss(batch, generator, round_):
        (rows_,) = batch
        if round_ == -1:  # the validation pass's marker
            passes[-1] += len(rows_)
        return {"total": model(rows_).pow(2).mean()}

    def next_pass(logs):
        passes.append(0)

    config = TrainingSettings(steps=10, rounds=2, batch_size=256)
    fit_loop(model, loss, (x,), config, on_round=next_pass)
    assert passes[:2] == [validated, validated]
