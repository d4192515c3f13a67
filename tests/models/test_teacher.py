"""Teacher VAE: loss terms on hand-worked values, training loop, determinism, checkpoint resume."""

import inspect
import json
import math

import numpy as np
import pytest
import torch

from fairdistill.metrics import cramers_v
from fairdistill.settings import GenerationSettings, TeacherSettings
from models.bundle import FILES, load_teacher, save_teacher
from models.decoding import decode_latent
from models.teacher import (
    MIN_ASSOCIATION,
    EarlierColumns,
    HeadLayout,
    TeacherVAE,
    earlier_pairs,
    head_spec,
    kl_to_prior,
    reconstruction_loss,
    train_teacher,
)


def test_head_layout():
    layout = HeadLayout([["categorical", 3], ["numeric", 1], ["categorical", 2]])
    assert (layout.x_dim, layout.out_dim) == (6, 7)
    assert [c for _, c in layout.heads] == [slice(0, 3), slice(3, 5), slice(5, 7)]
    assert layout.num_x.tolist() == [3] and layout.num_mean.tolist() == [3]


def test_reconstruction_loss_by_hand():
    layout = HeadLayout([["categorical", 2], ["numeric", 1]])
    x = torch.tensor([[1.0, 0.0, 1.0]])
    out = torch.tensor([[0.0, 0.0, 0.0, 0.0]])  # logits equal; mean 0, log-variance 0
    expected = math.log(2) + 0.5 * (math.log(2 * math.pi) + 1.0)
    assert float(reconstruction_loss(x, out, layout)) == pytest.approx(expected, rel=1e-6)
    out = torch.tensor([[math.log(3), 0.0, 1.0, math.log(4)]])  # p = 3/4; var 4, error 0
    expected = -math.log(0.75) + 0.5 * (math.log(2 * math.pi) + math.log(4))
    assert float(reconstruction_loss(x, out, layout)) == pytest.approx(expected, rel=1e-6)


def test_a_numeric_score_behind_an_indicator_costs_nothing():
    # a numeric column, its "point mass" indicator, and a label
    layout = HeadLayout(
        [["numeric", 1], ["categorical", 2, "indicator"], ["categorical", 2, "target"]]
    )
    assert layout.indicators == [(0, 2)]
    out = torch.tensor([[1.0, 0.0, 0.0, 0.0, 0.0, 0.0]] * 2)  # mean 1, log-variance 0
    at_mass = torch.tensor([[0.0, 0.0, 1.0, 1.0, 0.0]])
    elsewhere = at_mass + torch.tensor([[3.0, 0.0, 0.0, 0.0, 0.0]])
    assert float(reconstruction_loss(at_mass, out[:1], layout)) == pytest.approx(
        float(reconstruction_loss(elsewhere, out[:1], layout))
    )
    observed = torch.tensor([[0.0, 1.0, 0.0, 1.0, 0.0]])
    expected = 0.5 * (math.log(2 * math.pi) + 1.0) + 2 * math.log(2)
    assert float(reconstruction_loss(observed, out[:1], layout)) == pytest.approx(expected)


def test_kl_to_prior_by_hand():
    assert float(kl_to_prior(torch.zeros(2, 3), torch.zeros(2, 3))) == 0.0
    # μ = 0, σ² = e: −½ (1 + 1 − e) per dim
    assert float(kl_to_prior(torch.zeros(1, 2), torch.ones(1, 2))) == pytest.approx(
        -(2 - math.e), rel=1e-6
    )


def test_default_widths():
    model = TeacherVAE([["categorical", 2]], 2)
    assert [m.out_features for m in model.encoder.net if hasattr(m, "out_features")] == [
        256,
        256,
        24,
    ]


def test_train_reports_losses_and_is_deterministic(toy, teacher_cfg):
    _, codec, x, s = toy
    seen = []
    model, history = train_teacher(
        x, s, head_spec(codec.blocks_), teacher_cfg(), on_round=seen.append
    )
    assert len(history) == 4 and seen == history
    assert set(history[0]) == {"recon", "kl", "penalty", "total", "val_total", "round"}
    assert history[-1]["recon"] < history[0]["recon"]
    again, _ = train_teacher(x, s, head_spec(codec.blocks_), teacher_cfg())
    for a, b in zip(model.state_dict().values(), again.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_early_stopping_restores_best(toy, teacher_cfg):
    _, codec, x, s = toy
    cfg = teacher_cfg(rounds=30, patience=1, lr=0.05)
    model, history = train_teacher(x, s, head_spec(codec.blocks_), cfg)
    assert len(history) < 30
    best = min(h["val_total"] for h in history)
    assert history[-1]["val_total"] > best  # stopped after a worse round, weights from the best


def test_checkpoint_resume_equals_uninterrupted(toy, tmp_path, teacher_cfg):
    _, codec, x, s = toy
    spec, cfg = head_spec(codec.blocks_), teacher_cfg()
    full, full_hist = train_teacher(x, s, spec, cfg)

    def interrupt(logs):
        if logs["round"] == 1:
            raise KeyboardInterrupt

    path = tmp_path / "teacher.ckpt"
    with pytest.raises(KeyboardInterrupt):
        train_teacher(x, s, spec, cfg, on_round=interrupt, checkpoint_path=path)
    resumed, hist = train_teacher(x, s, spec, cfg, checkpoint_path=path)
    assert hist == full_hist
    for a, b in zip(full.state_dict().values(), resumed.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    torch.load(path, weights_only=True)  # a safe format


def test_checkpoint_of_another_config_is_refused(toy, tmp_path, teacher_cfg):
    _, codec, x, s = toy
    path = tmp_path / "t.ckpt"
    train_teacher(x, s, head_spec(codec.blocks_), teacher_cfg(rounds=1), checkpoint_path=path)
    with pytest.raises(ValueError, match="another configuration"):
        train_teacher(
            x, s, head_spec(codec.blocks_), teacher_cfg(rounds=1, beta=5.0), checkpoint_path=path
        )


def test_documented_parameters_match_signature():
    doc = inspect.getdoc(train_teacher)
    params = doc.split("Parameters\n----------\n")[1].split("\n\n")[0]
    documented = {
        name.strip()
        for line in params.splitlines()
        if not line.startswith(" ")
        for name in line.split(":")[0].split(",")
    }
    assert documented == set(inspect.signature(train_teacher).parameters)


def test_the_decoder_starts_at_the_marginals(toy):
    """Each categorical head's initial bias gives the training frequencies (smoothed by ½)."""
    from models.teacher import init_output_bias

    _, codec, x, s = toy
    model = TeacherVAE(head_spec(codec.blocks_), s.shape[1], 4, [8])
    init_output_bias(model, x)
    bias = model.decoder.net[-1].bias.detach()
    for columns, outputs in model.layout.categorical:
        counts = torch.as_tensor(x[:, columns].sum(0) + 0.5)
        expected = (counts / counts.sum()).float()
        assert torch.softmax(bias[outputs], 0) == pytest.approx(expected, abs=1e-5)


def test_earlier_columns_see_only_the_blocks_before_and_never_the_label():
    # job (2), label (2), hours (numeric), city (3)
    layout = HeadLayout(
        [["categorical", 2], ["categorical", 2, "target"], ["numeric", 1], ["categorical", 3]]
    )
    mask = EarlierColumns(layout, earlier_pairs("all", layout)).mask
    job, label, hours, city = layout.inputs
    (_, job_out), (_, label_out), (_, hours_out), (_, city_out) = layout.heads
    assert mask[job_out].sum() == 0  # the first block sees nothing
    assert mask[label_out].sum() == 0  # the label head stays p(y | z, s)
    assert mask[hours_out][:, job].all() and mask[hours_out][:, label].sum() == 0
    assert mask[city_out][:, job].all() and mask[city_out][:, hours].all()
    assert mask[city_out][:, label].sum() == 0 and mask[:, city].sum() == 0


def test_associated_pairs_are_the_categorical_blocks_that_go_together():
    # a, a's copy, b independent of a, hours (numeric, equal to a), label
    rng = np.random.default_rng(0)
    a, b = rng.integers(0, 3, 2000), rng.integers(0, 3, 2000)
    eye = np.eye(3)
    x = np.concatenate([eye[a], eye[a], eye[b], a[:, None] * 1.0, np.eye(2)[a % 2]], 1)
    layout = HeadLayout([["categorical", 3]] * 3 + [["numeric", 1], ["categorical", 2, "target"]])
    assert earlier_pairs("associated", layout, x) == [(0, 1)]  # not the label, not the number
    assert earlier_pairs("none", layout, x) == []
    assert earlier_pairs("all", layout) == [(0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3)]
    mask = EarlierColumns(layout, [(0, 1)]).mask
    assert mask[layout.heads[1][1]][:, layout.inputs[0]].all() and mask.sum() == 9
    with pytest.raises(ValueError, match="earlier, later"):
        EarlierColumns(layout, [(1, 0)])


def test_independent_columns_with_many_categories_on_few_rows_are_not_paired():
    # 30 categories each on 300 rows: the plain V of independent columns is ≈ √(29/300) = 0.31
    rng = np.random.default_rng(0)
    a, b = rng.integers(0, 30, 300), rng.integers(0, 30, 300)
    noisy_copy = np.where(rng.random(300) < 0.7, a, b)
    eye = np.eye(30)
    x = np.concatenate([eye[a], eye[b], eye[noisy_copy], np.eye(2)[a % 2]], 1)
    layout = HeadLayout([["categorical", 30]] * 3 + [["categorical", 2, "target"]])
    assert cramers_v(a, b) > MIN_ASSOCIATION > cramers_v(a, b, bias_correction=True)
    assert earlier_pairs("associated", layout, x) == [(0, 2)]  # the copy, not the chance pair


@pytest.mark.parametrize(
    "setting, mode", [(True, "all"), (False, "none"), ("associated", "associated")]
)
def test_the_earlier_columns_setting_reads_its_older_switch(setting, mode):
    assert TeacherSettings(autoregressive=setting).autoregressive == mode
    assert TeacherSettings().autoregressive == "associated"


def pairs_table(n: int = 3000, pairs: int = 4, seed: int = 0):
    """``pairs`` independent columns of 4 values, each followed by an exact copy of itself, and a
    label: more independent choices than a 2-dimensional latent can hold."""
    rng = np.random.default_rng(seed)
    values = rng.integers(0, 4, (n, pairs))
    eye4, eye2 = np.eye(4), np.eye(2)
    blocks = [eye4[values[:, p]] for p in range(pairs) for _ in range(2)]
    x = np.concatenate([*blocks, eye2[rng.integers(0, 2, n)]], 1)
    s = eye2[rng.integers(0, 2, n)]
    spec = [["categorical", 4]] * (2 * pairs) + [["categorical", 2, "target"]]
    return x, s, spec


@pytest.mark.parametrize("autoregressive", ["none", "associated", "all"])
def test_the_earlier_columns_term_keeps_a_dependency_the_latent_cannot_hold(autoregressive):
    x, s, spec = pairs_table()
    config = TeacherSettings(
        latent_dim=2,
        hidden=[32],
        steps=400,
        rounds=2,
        lr=0.02,
        seed=0,
        autoregressive=autoregressive,
    )
    model, _ = train_teacher(x, s, spec, config)
    assert (model.decoder.earlier is not None) == (autoregressive != "none")
    if autoregressive == "associated":  # each column with its copy, and nothing else
        assert model.decoder.earlier.pairs == [(0, 1), (2, 3), (4, 5), (6, 7)]
    z = torch.randn(4000, 2, generator=torch.Generator().manual_seed(1))
    values, _ = decode_latent(
        model.decoder, model.layout, z, [0.5, 0.5], 8, GenerationSettings(mode="faithful")
    )
    agreement = min(float((values[2 * p] == values[2 * p + 1]).mean()) for p in range(4))
    if autoregressive != "none":
        assert agreement > 0.95
    else:  # drawn independently given (z, s): the copies agree far less often
        assert agreement < 0.8


def test_a_saved_teacher_with_the_earlier_columns_term_decodes_the_same(tmp_path):
    x, s, spec = pairs_table(n=500)
    config = TeacherSettings(latent_dim=2, hidden=[16], steps=20, rounds=1)
    model, _ = train_teacher(x, s, spec, config)
    save_teacher(model, model.settings, tmp_path)
    loaded, settings = load_teacher(tmp_path)
    assert settings.autoregressive == "associated"
    assert (
        loaded.decoder.earlier.pairs
        == model.decoder.earlier.pairs
        == [(0, 1), (2, 3), (4, 5), (6, 7)]
    )
    z = torch.randn(200, 2, generator=torch.Generator().manual_seed(0))

    def decode(m):
        g = torch.Generator().manual_seed(3)
        faithful = GenerationSettings(mode="faithful")
        return decode_latent(m.decoder, m.layout, z, [0.5, 0.5], 8, faithful, g)[0]

    for a, b in zip(decode(model), decode(loaded), strict=True):
        assert np.array_equal(a, b)


def test_a_teacher_saved_with_one_dense_earlier_weight_loads_into_its_blocks(tmp_path):
    x, s, spec = pairs_table(n=500)
    config = TeacherSettings(latent_dim=2, hidden=[16], steps=20, rounds=1)
    model, _ = train_teacher(x, s, spec, config)
    save_teacher(model, model.settings, tmp_path)
    # the format of 2026-12-02: one [out_dim, x_dim] weight, zero outside the pairs (the term is
    # linear without bias: its value at each unit row is a column of that weight)
    earlier = model.decoder.earlier
    state = {k: v for k, v in model.state_dict().items() if ".earlier.weights." not in k}
    with torch.no_grad():
        state["decoder.earlier.weight"] = earlier(torch.eye(model.layout.x_dim)).T
    torch.save(state, tmp_path / FILES["teacher"])
    loaded, _ = load_teacher(tmp_path)
    assert loaded.decoder.earlier.weights.keys() == earlier.weights.keys()
    for b, weight in earlier.weights.items():
        assert torch.equal(loaded.decoder.earlier.weights[b], weight)
    rows = torch.as_tensor(x[:50], dtype=torch.float32)
    assert earlier(rows).abs().sum() > 0 and torch.equal(
        loaded.decoder.earlier(rows), earlier(rows)
    )


def test_a_teacher_saved_before_the_pairs_were_recorded_loads_with_its_switch(tmp_path):
    x, s, spec = pairs_table(n=500)
    config = TeacherSettings(latent_dim=2, hidden=[16], steps=20, rounds=1, autoregressive="all")
    model, _ = train_teacher(x, s, spec, config)
    save_teacher(model, model.settings, tmp_path)
    meta_path = tmp_path / FILES["teacher_config"]
    meta = json.loads(meta_path.read_text())
    del meta["earlier_pairs"]
    meta["config"]["autoregressive"] = True  # the setting was a switch then
    meta_path.write_text(json.dumps(meta))
    loaded, settings = load_teacher(tmp_path)
    assert settings.autoregressive == "all"
    assert loaded.decoder.earlier.pairs == model.decoder.earlier.pairs
