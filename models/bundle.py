"""`FairDistillModel`: codec + teacher (encoder, shared decoder) + student + sampler as one object.

``generate(n, seed)`` yields synthetic Polars frames chunk by chunk; ``repair(frame)`` decodes real
rows' student latents fairly (a fair twin: NOT privacy-preserving, rows map one-to-one to people);
``save(dir)`` / ``load(dir)`` use a safe format: state_dicts (``torch.save``, loaded with
``weights_only=True``) plus JSON for the configs, the codec and the sampler. No pickled objects.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl
import torch

from fairdistill.codec import TabularCodec
from models.decoding import DecodeOptions, decode_latent
from models.samplers import SAMPLERS
from models.student import DistillConfig, StudentEncoder
from models.teacher import TeacherVAE, TrainConfig, as_tensor, head_spec

FILES = {
    "codec": "codec.json",
    "sampler": "sampler.json",
    "config": "config.json",
    "teacher": "teacher.pt",
    "student": "student.pt",
}


@dataclass
class FairDistillModel:
    """The trained parts that turn a seed into fair synthetic rows."""

    codec: TabularCodec
    teacher: TeacherVAE
    student: StudentEncoder
    sampler: object
    teacher_config: TrainConfig = field(default_factory=TrainConfig)
    student_config: DistillConfig = field(default_factory=DistillConfig)

    def __post_init__(self):
        self.teacher.eval()
        self.student.eval()

    @property
    def target_index(self) -> int:
        """Index of the label block in ``codec.blocks_``."""
        return self.codec.blocks_.index(self.codec.target_block_)

    def _device(self) -> torch.device:
        return next(self.teacher.parameters()).device

    def _decode(
        self, z: np.ndarray, options: DecodeOptions, g: torch.Generator, s_index=None
    ) -> pl.DataFrame:
        zt = as_tensor(z, self._device())
        values, s_idx = decode_latent(
            self.teacher.decoder,
            self.teacher.layout,
            zt,
            self.codec.group_freq_,
            self.target_index,
            options,
            g,
            s_index,
        )
        return self.codec.decode_blocks(values, s_idx)

    def generate(
        self,
        n: int,
        seed: int = 0,
        *,
        mode: str = "label-fair",
        fairness: float = 1.0,
        label_temperature: float = 1.0,
        chunk_size: int = 50_000,
    ) -> Iterator[pl.DataFrame]:
        """Yield ``n`` new rows in chunks of at most ``chunk_size`` (deterministic given seed and
        chunk size). z comes from the sampler (chunk ``i`` uses seed ``seed·1_000_003 + i``);
        counterfactual mode draws ⌈chunk/K⌉ codes per chunk and keeps K twins for each."""
        options = DecodeOptions(mode, fairness, label_temperature)
        g = torch.Generator().manual_seed(seed)
        per_z = len(self.codec.groups_) if mode == "counterfactual" else 1
        done, chunk = 0, 0
        while done < n:
            rows = min(chunk_size, n - done)
            z = self.sampler.sample(math.ceil(rows / per_z), random_state=seed * 1_000_003 + chunk)
            frame = self._decode(z, options, g)
            yield frame.head(rows)
            done, chunk = done + rows, chunk + 1

    @torch.no_grad()
    def encode_latent(self, frame: pl.DataFrame) -> np.ndarray:
        """The student's latent means μ_S of real rows, ``[n, k]``."""
        x, s = self.codec.encode(frame)
        device = self._device()
        mu, _ = self.student(as_tensor(x, device), as_tensor(s, device))
        return mu.cpu().numpy()

    def repair(
        self,
        frame: pl.DataFrame,
        seed: int = 0,
        *,
        fairness: float = 1.0,
        label_temperature: float = 1.0,
    ) -> pl.DataFrame:
        """A fair twin of ``frame``: each row's μ_S decoded with its own s, label-fair.

        Not privacy-preserving: output row i is derived from input row i.
        """
        options = DecodeOptions("label-fair", fairness, label_temperature)
        s_index = torch.as_tensor(self.codec.s_index(frame))
        return self._decode(
            self.encode_latent(frame), options, torch.Generator().manual_seed(seed), s_index
        )

    def save(self, directory: str | Path) -> Path:
        """Write the five files of `FILES` into ``directory``."""
        path = Path(directory)
        path.mkdir(parents=True, exist_ok=True)
        config = {
            "teacher": self.teacher_config.as_dict(),
            "student": self.student_config.as_dict(),
            "spec": self.teacher.layout.spec,
            "s_dim": len(self.codec.groups_),
            "latent_dim": self.teacher_config.latent_dim,
        }
        (path / FILES["config"]).write_text(json.dumps(config, indent=1))
        (path / FILES["codec"]).write_text(json.dumps(self.codec.to_dict()))
        (path / FILES["sampler"]).write_text(json.dumps(self.sampler.to_dict()))
        torch.save(self.teacher.state_dict(), path / FILES["teacher"])
        torch.save(self.student.state_dict(), path / FILES["student"])
        return path

    @classmethod
    def load(cls, directory: str | Path, device: str = "cpu") -> FairDistillModel:
        """Read what `save` wrote; tensors via ``torch.load(weights_only=True)``."""
        path = Path(directory)
        config = json.loads((path / FILES["config"]).read_text())
        codec = TabularCodec.from_dict(json.loads((path / FILES["codec"]).read_text()))
        state = json.loads((path / FILES["sampler"]).read_text())
        sampler = SAMPLERS[state["name"]].from_dict(state)
        tcfg, scfg = TrainConfig(**config["teacher"]), DistillConfig(**config["student"])
        teacher = TeacherVAE(config["spec"], config["s_dim"], tcfg.latent_dim, tcfg.hidden)
        student = StudentEncoder(
            teacher.layout.x_dim, config["s_dim"], tcfg.latent_dim, scfg.hidden
        )
        load = lambda name: torch.load(path / FILES[name], map_location=device, weights_only=True)  # noqa: E731
        teacher.load_state_dict(load("teacher"))
        student.load_state_dict(load("student"))
        return cls(codec, teacher.to(device), student.to(device), sampler, tcfg, scfg)


def build_model(
    codec: TabularCodec,
    teacher: TeacherVAE,
    student: StudentEncoder,
    sampler,
    teacher_config: TrainConfig,
    student_config: DistillConfig,
) -> FairDistillModel:
    """Assemble the bundle (a plain function for pipeline code); checks the parts fit together."""
    if teacher.layout.spec != [tuple(x) for x in head_spec(codec.blocks_)]:
        raise ValueError(
            "the teacher was trained on another codec layout than the codec given; "
            "retrain it on `codec.encode(...)` output"
        )
    return FairDistillModel(codec, teacher, student, sampler, teacher_config, student_config)
