"""Student encoder: loss terms by hand, size, distillation loop, determinism, resume."""

import math

import pytest
import torch

from models.student import (
    StudentEncoder,
    count_parameters,
    distill,
    gaussian_kl,
    mean_matching_loss,
    recon_ramp,
)
from models.teacher import TeacherVAE, head_spec, train_teacher


def test_mean_matching_by_hand():
    mu_s = torch.tensor([[1.0, 2.0], [0.0, 0.0]])
    mu_t = torch.tensor([[0.0, 0.0], [0.0, 3.0]])
    assert float(mean_matching_loss(mu_s, mu_t)) == pytest.approx((5 + 9) / 2)


def test_gaussian_kl_by_hand():
    mu = torch.tensor([[0.3, -1.0]])
    lv = torch.tensor([[0.2, -0.5]])
    assert float(gaussian_kl(mu, lv, mu, lv)) == pytest.approx(0.0, abs=1e-7)
    # KL(N(0, 1) ‖ N(1, e)) = ½ [1 − 0 + (1 + 1)/e − 1] in one dim
    got = gaussian_kl(torch.zeros(1, 1), torch.zeros(1, 1), torch.ones(1, 1), torch.ones(1, 1))
    assert float(got) == pytest.approx(0.5 * (1 + 2 / math.e - 1), rel=1e-6)
    # Asymmetric: swapping the arguments changes the value
    assert float(
        gaussian_kl(torch.ones(1, 1), torch.ones(1, 1), torch.zeros(1, 1), torch.zeros(1, 1))
    ) != pytest.approx(float(got))


def test_recon_ramp():
    assert [recon_ramp(e, 4, 2.0) for e in range(6)] == [0.4, 0.8, 1.2, 1.6, 2.0, 2.0]
    assert recon_ramp(-1, 4, 2.0) == 2.0


@pytest.mark.parametrize("x_dim", [10, 108, 400])
def test_student_at_most_a_quarter_of_teacher_encoder(x_dim):
    teacher = TeacherVAE([["categorical", x_dim]], 2)
    student = StudentEncoder(x_dim, 2, 12)
    assert count_parameters(student) <= count_parameters(teacher.encoder) / 4


def test_distill_runs_matches_teacher_and_is_deterministic(toy, teacher_cfg, student_cfg):
    _, codec, x, s = toy
    teacher, _ = train_teacher(x, s, head_spec(codec.blocks_), teacher_cfg())
    seen = []
    cfg = student_cfg(rounds=6)
    student, history = distill(teacher, x, s, cfg, on_round=seen.append)
    assert seen == history and len(history) == 6
    assert set(history[0]) == {"match", "penalty", "kl", "recon", "total", "val_total", "round"}
    assert history[-1]["match"] < history[0]["match"]
    assert all(not p.requires_grad for p in teacher.parameters())  # frozen
    again, _ = distill(teacher, x, s, cfg)
    for a, b in zip(student.state_dict().values(), again.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_distill_resume_equals_uninterrupted(toy, tmp_path, teacher_cfg, student_cfg):
    _, codec, x, s = toy
    teacher, _ = train_teacher(x, s, head_spec(codec.blocks_), teacher_cfg(rounds=2))
    full, full_hist = distill(teacher, x, s, student_cfg())

    def interrupt(logs):
        if logs["round"] == 0:
            raise RuntimeError("killed")

    path = tmp_path / "student.ckpt"
    with pytest.raises(RuntimeError):
        distill(teacher, x, s, student_cfg(), on_round=interrupt, checkpoint_path=path)
    resumed, hist = distill(teacher, x, s, student_cfg(), checkpoint_path=path)
    assert hist == full_hist
    for a, b in zip(full.state_dict().values(), resumed.state_dict().values(), strict=True):
        assert torch.equal(a, b)
