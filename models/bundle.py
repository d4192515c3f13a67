"""`FairDistillModel`: codec + teacher (encoder, shared decoder) + student + sampler + label model
and label calibration as one object.

``generate(n, seed)`` yields synthetic Polars frames chunk by chunk; ``repair(frame)`` decodes real
rows' student latents fairly (a fair twin: NOT privacy-preserving, rows map one-to-one to people);
``save(dir)`` / ``load(dir)`` use a safe format: state_dicts (``torch.save``, loaded with
``weights_only=True``) plus JSON for the configs, the codec and the sampler. No pickled objects.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl
import torch

from fairdistill.codec import TabularCodec
from fairdistill.images import ImageCodec
from fairdistill.lake import atomic_write
from fairdistill.settings import GenerationSettings, StudentSettings, TeacherSettings
from models.calibration import LabelCalibration
from models.decoding import decode_latent
from models.device import in_order, stage_threads, torch_threads
from models.label_model import LabelModel
from models.samplers import SAMPLERS
from models.student import StudentEncoder, make_student
from models.teacher import (
    HeadLayout,
    TeacherVAE,
    as_tensor,
    earlier_columns,
    earlier_pairs,
    head_spec,
)
from models.training import posteriors, save_state

Codec = TabularCodec | ImageCodec

# The MLflow wrapper of the bundle, logged as code (`fairdistill.tracking.register_bundle`).
PYFUNC_CODE = Path(__file__).with_name("pyfunc.py")
FILES = {
    "teacher_config": "teacher.json",
    "student_config": "student.json",
    "codec": "codec.json",
    "sampler": "sampler.json",
    "labels": "labels.json",
    "teacher": "teacher.pt",
    "student": "student.pt",
    "label_model": "label_model.pt",
}


def chunk_sizes(n: int, chunk_size: int) -> list[int]:
    """The rows of each chunk of an ``n``-row request: ``chunk_size`` each, the last one the rest.

    >>> chunk_sizes(1_000, 400)
    [400, 400, 200]
    """
    return [min(chunk_size, n - start) for start in range(0, n, chunk_size)]


@dataclass
class FairDistillModel:
    """The trained parts that turn a seed into fair synthetic rows (or images)."""

    codec: Codec
    teacher: TeacherVAE
    student: StudentEncoder
    sampler: object
    teacher_config: TeacherSettings = field(default_factory=TeacherSettings)
    student_config: StudentSettings = field(default_factory=StudentSettings)
    # The label offsets of the `dp` and `eo` modes (`models.calibration`); None before that stage.
    labels: LabelCalibration | None = None
    # p(y | x, s) of a table's rows (`models.label_model`), fitted with the labels; None for images
    # and models saved before it (the decoder's label head then gives the label).
    label_model: LabelModel | None = None

    def __post_init__(self):
        self.teacher.eval()
        self.student.eval()
        if self.label_model is not None:
            self.label_model.to(self._device()).eval()

    @property
    def target_index(self) -> int:
        """Index of the label block in ``codec.blocks_``."""
        return self.codec.blocks_.index(self.codec.target_block_)

    def _device(self) -> torch.device:
        return next(self.teacher.parameters()).device

    def _decode(
        self, z: np.ndarray, options: GenerationSettings, g: torch.Generator, s_index=None
    ) -> pl.DataFrame:
        offsets = self.labels.offsets(options.mode) if self.labels is not None else None
        fair_temperature = self.labels.temperature if self.labels is not None else 1.0
        values, s_idx = decode_latent(
            self.teacher.decoder,
            self.teacher.layout,
            as_tensor(z, self._device()),
            self.codec.group_freq_,
            self.target_index,
            options,
            g,
            s_index,
            label_offsets=offsets,
            fair_temperature=fair_temperature,
            label_model=self.label_model,
        )
        return self.codec.decode_blocks(values, s_idx)

    def generate(
        self, n: int, settings: GenerationSettings | None = None, *, first_chunk: int = 0
    ) -> Iterator[pl.DataFrame]:
        """Yield ``n`` new rows in the chunks of `chunk_sizes`. Chunk ``i`` (counted from
        ``first_chunk``, so that a later call can continue the same stream) has seeds of its own:
        z from the sampler seeded ``seed·1_000_003 + i``, the decoding's draws seeded
        ``seed + i·1_000_003``; so the rows do not depend on how many chunks are made side by side
        (`models.device.in_order`). Counterfactual mode draws ⌈chunk/K⌉ codes per chunk and keeps
        K twins for each."""
        settings = settings or GenerationSettings()
        per_z = len(self.codec.groups_) if settings.mode == "counterfactual" else 1

        def chunk(index: int, rows: int) -> pl.DataFrame:
            z = self.sampler.sample(
                math.ceil(rows / per_z), random_state=settings.seed * 1_000_003 + index
            )
            g = torch.Generator().manual_seed(settings.seed + index * 1_000_003)
            return self._decode(z, settings, g).head(rows)

        sizes = chunk_sizes(n, settings.chunk_size)
        numbered = enumerate(sizes, start=first_chunk)
        yield from in_order(chunk, numbered, workers=stage_threads("generate"))

    def encode_latent(self, frame: pl.DataFrame) -> np.ndarray:
        """The student's latent means μ_S of real rows, ``[n, k]``."""
        return latent_means(self.student, *self.codec.encode(frame))

    def repair(
        self, frame: pl.DataFrame, settings: GenerationSettings | None = None
    ) -> pl.DataFrame:
        """A fair twin of ``frame``: each row's μ_S decoded with its own s in ``settings.mode``.

        Not privacy-preserving: output row i is derived from input row i.
        """
        settings = settings or GenerationSettings()
        s_index = torch.as_tensor(self.codec.s_index(frame))
        generator = torch.Generator().manual_seed(settings.seed)
        with torch_threads("generate"):  # one large decode: every core
            return self._decode(self.encode_latent(frame), settings, generator, s_index)

    def save(self, directory: str | Path) -> Path:
        """Write every part into ``directory`` (the files of `FILES`; the labels once fitted)."""
        save_codec(self.codec, directory)
        save_teacher(self.teacher, self.teacher_config, directory)
        save_student(self.student, self.student_config, directory)
        if self.labels is not None:
            save_labels(self.labels, directory)
        if self.label_model is not None:
            save_label_model(self.label_model, directory)
        return save_sampler(self.sampler, directory)

    @classmethod
    def load(cls, directory: str | Path, device: str = "cpu") -> FairDistillModel:
        """Read what `save` wrote; tensors via ``torch.load(weights_only=True)``."""
        teacher, teacher_config = load_teacher(directory, device)
        student, student_config = load_student(directory, device)
        return cls(
            load_codec(directory),
            teacher,
            student,
            load_sampler(directory),
            teacher_config,
            student_config,
            load_labels(directory),
            load_label_model(directory, device),
        )


@torch.no_grad()
def latent_means(encoder: torch.nn.Module, x: np.ndarray, s: np.ndarray) -> np.ndarray:
    """An encoder's posterior means μ of encoded rows, ``[n, k]`` (numpy)."""
    device = next(encoder.parameters()).device
    mu, _ = posteriors(encoder.eval(), as_tensor(x, device), as_tensor(s, device))
    return mu.cpu().numpy()


# Each stage of the refresh flow saves its part as soon as it is trained, so the next stage (and a
# re-run after a crash) reads it back; JSON and state_dicts only, never a pickled object. Writes go
# through a temporary file and a rename: a concurrent run or a reader never sees half a file.


def _write_json(payload: dict, path: Path) -> Path:
    text = json.dumps(payload, indent=1)
    return atomic_write(path, lambda tmp: tmp.write_text(text))


def save_codec(codec: Codec, directory: str | Path) -> Path:
    return _write_json(codec.to_dict(), Path(directory) / FILES["codec"])


def load_codec(directory: str | Path) -> Codec:
    """The saved codec: an `ImageCodec` when its state says ``kind: image``, else a table's."""
    state = json.loads((Path(directory) / FILES["codec"]).read_text())
    return (ImageCodec if state.get("kind") == ImageCodec.kind else TabularCodec).from_dict(state)


def save_teacher(teacher: TeacherVAE, config: TeacherSettings, directory: str | Path) -> Path:
    path = Path(directory)
    meta = {
        "config": config.model_dump(),
        "spec": teacher.layout.spec,
        "s_dim": teacher.encoder.s_dim,
        "earlier_pairs": earlier.pairs if (earlier := earlier_columns(teacher.decoder)) else [],
    }
    _write_json(meta, path / FILES["teacher_config"])
    save_state(teacher.state_dict(), path / FILES["teacher"])
    return path / FILES["teacher"]


def load_teacher(directory: str | Path, device: str = "cpu") -> tuple[TeacherVAE, TeacherSettings]:
    path = Path(directory)
    meta = json.loads((path / FILES["teacher_config"]).read_text())
    config = TeacherSettings(**meta["config"])
    # Teachers saved before the pairs were recorded had none or all of them (a true/false setting).
    pairs = meta.get("earlier_pairs")
    if pairs is None:
        pairs = earlier_pairs(config.autoregressive, HeadLayout(meta["spec"]))
    teacher = TeacherVAE(
        meta["spec"], meta["s_dim"], config.latent_dim, config.hidden, config.channels, pairs
    )
    teacher.settings = config
    teacher.load_state_dict(
        torch.load(path / FILES["teacher"], map_location=device, weights_only=True)
    )
    return teacher.to(device).eval(), config


def save_student(student: StudentEncoder, config: StudentSettings, directory: str | Path) -> Path:
    path = Path(directory)
    meta = {
        "config": config.model_dump(),
        "x_dim": student.x_dim,
        "s_dim": student.s_dim,
        "latent_dim": student.latent_dim,
    }
    _write_json(meta, path / FILES["student_config"])
    save_state(student.state_dict(), path / FILES["student"])
    return path / FILES["student"]


def load_student(
    directory: str | Path, device: str = "cpu"
) -> tuple[StudentEncoder, StudentSettings]:
    path = Path(directory)
    meta = json.loads((path / FILES["student_config"]).read_text())
    config = StudentSettings(**meta["config"])
    # the student reads the teacher's layout (saved beside it): it picks the student's network
    layout = HeadLayout(json.loads((path / FILES["teacher_config"]).read_text())["spec"])
    student = make_student(
        layout, meta["s_dim"], meta["latent_dim"], config.hidden, config.channels
    )
    student.settings = config
    student.load_state_dict(
        torch.load(path / FILES["student"], map_location=device, weights_only=True)
    )
    return student.to(device).eval(), config


def save_sampler(sampler, directory: str | Path) -> Path:
    return _write_json(sampler.to_dict(), Path(directory) / FILES["sampler"])


def load_sampler(directory: str | Path):
    state = json.loads((Path(directory) / FILES["sampler"]).read_text())
    return SAMPLERS[state["name"]].from_dict(state)


def save_labels(labels: LabelCalibration, directory: str | Path) -> Path:
    return _write_json(labels.to_dict(), Path(directory) / FILES["labels"])


def load_labels(directory: str | Path) -> LabelCalibration | None:
    """The label calibration saved beside the model; None for a model saved without one (its
    `dp` and `eo` modes then say so)."""
    path = Path(directory) / FILES["labels"]
    return LabelCalibration.from_dict(json.loads(path.read_text())) if path.is_file() else None


def save_label_model(label_model: LabelModel, directory: str | Path) -> Path:
    return save_state(label_model.state_dict(), Path(directory) / FILES["label_model"])


def load_label_model(directory: str | Path, device: str = "cpu") -> LabelModel | None:
    """The label model saved beside the model; None where there is none (images, older models)."""
    path = Path(directory) / FILES["label_model"]
    if not path.is_file():
        return None
    state = torch.load(path, map_location=device, weights_only=True)
    return LabelModel.from_state_dict(state).to(device)


def parts_digest(directory: str | Path) -> str:
    """SHA-256 over the trained parts (the files of `FILES`, in their order): two folders with the
    same digest hold the same model, whichever run trained or reused it.

    Weights are hashed by name, shape, dtype and values: `torch.save` archives carry the file's
    own name, so the same weights saved twice differ byte for byte."""
    digest = hashlib.sha256()
    for name in FILES.values():
        path = Path(directory) / name
        digest.update(name.encode() + b"\0")
        if not path.is_file():  # a part this model has not (the label model of an image model)
            continue
        if path.suffix != ".pt":
            digest.update(path.read_bytes())
            continue
        for key, tensor in torch.load(path, map_location="cpu", weights_only=True).items():
            # an empty tensor may carry stride 0 (from numpy), which a byte view refuses
            flat = tensor.detach().contiguous().view(-1)
            values = flat.view(torch.uint8).numpy() if flat.numel() else np.zeros(0, np.uint8)
            digest.update(f"{key}:{tuple(tensor.shape)}:{tensor.dtype}".encode() + values.tobytes())
    return digest.hexdigest()


def build_model(
    codec: Codec,
    teacher: TeacherVAE,
    student: StudentEncoder,
    sampler,
    teacher_config: TeacherSettings,
    student_config: StudentSettings,
    labels: LabelCalibration | None = None,
    label_model: LabelModel | None = None,
) -> FairDistillModel:
    """Assemble the bundle (a plain function for pipeline code); checks the parts fit together."""
    if teacher.layout.spec != HeadLayout(head_spec(codec.blocks_)).spec:
        raise ValueError(
            "the teacher was trained on another codec layout than the codec given; "
            "retrain it on `codec.encode(...)` output"
        )
    return FairDistillModel(
        codec, teacher, student, sampler, teacher_config, student_config, labels, label_model
    )
