"""The data contract: one `DatasetSpec` per dataset, loaded from YAML or given as flow parameters.

The same pydantic model is the Prefect UI's parameter form and the schema of `datasets/<name>/spec.yaml`.
Checks on the spec itself (field names, types, bounds, overlaps) live here; checks on the data live in
ingest (structure) and in the Great Expectations suite (content).
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic.json_schema import SkipJsonSchema

from fairdistill.errors import UNKNOWN_BUILTIN, FairdistillError, SpecError

BUILTIN_DIR = Path(__file__).resolve().parents[1] / "datasets"
# Shipped datasets: (training file, holdout file or None for a seeded split), under datasets/.
BUILTIN_FILES = {
    "adult": ("adult/train.parquet", "adult/holdout.parquet"),
    "compas": ("compas/data.parquet", None),
    "colored-mnist": ("colored-mnist/train.parquet", "colored-mnist/holdout.parquet"),
    "colored-mnist-mod3": ("colored-mnist/train-mod3.parquet", "colored-mnist/holdout.parquet"),
}
BUILTINS = tuple(BUILTIN_FILES)


class SensitiveAttribute(BaseModel):
    """A protected attribute and its privileged group (the reference group of the audit)."""

    model_config = ConfigDict(extra="forbid")

    column: str = Field(description="Column holding the sensitive attribute, e.g. `sex`.")
    privileged: str = Field(description="Value of the privileged group, e.g. `Male`.")

    @field_validator("privileged", mode="before")
    @classmethod
    def _as_text(cls, value: object) -> object:
        return str(value) if isinstance(value, int | float) else value


class SplitSpec(BaseModel):
    """Where the holdout comes from: a given file, or a seeded fraction stratified on target x group."""

    model_config = ConfigDict(extra="forbid")

    holdout: str | None = Field(
        default=None,
        description="Holdout file (same columns as the source); relative to the spec file.",
    )
    holdout_fraction: float = Field(
        default=0.2,
        gt=0.0,
        lt=0.9,
        description="Share of rows held out when no holdout file is given.",
    )
    seed: int = Field(default=0, ge=0, description="Seed of the stratified split.")


class ImageFormat(BaseModel):
    """The size every image of an `image` column must have (checked by the validation suite)."""

    model_config = ConfigDict(extra="forbid")

    height: int = Field(ge=4, le=256, description="Image height in pixels.")
    width: int = Field(ge=4, le=256, description="Image width in pixels.")
    channels: Literal[1, 3] = Field(default=3, description="1 (grey) or 3 (RGB).")


class DatasetSpec(BaseModel):
    """What a table is: where it lives, its target, its sensitive attributes and its column kinds."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9 _.-]{0,63}$",
        description="Dataset name, shown as given; its slug (`slug`: lowercase letters, digits and "
        "dashes) names the lake folder, the Prefect keys and the MLflow model `fairdistill-<slug>`.",
    )
    source: str = Field(
        description="A built-in dataset (`adult`, `compas`, `colored-mnist`, "
        "`colored-mnist-mod3`), a local path (relative to the spec file) "
        "or an fsspec URL, CSV or Parquet."
    )
    format: Literal["auto", "csv", "parquet"] = Field(default="auto", description="File format.")
    delimiter: str | None = Field(
        default=None,
        min_length=1,
        max_length=1,
        description="CSV field delimiter, e.g. `;`; default: sniffed from the file (`,` `;` tab `|`).",
    )
    decimal: Literal[".", ","] = Field(
        default=".",
        description="Decimal mark of numbers in a CSV: `,` for files written by a European "
        "spreadsheet (`1234,56`).",
    )
    has_header: bool = Field(
        default=True, description="Whether the CSV's first line names the columns."
    )
    column_names: list[str] | None = Field(
        default=None, description="Column names for a CSV without a header line."
    )
    target: str = Field(description="The label column; synthetic rows carry it.")
    positive_label: str = Field(description="Value of the favourable outcome, e.g. `>50K`.")
    label_aliases: dict[str, str] = Field(
        default_factory=dict, description="Label variants to rewrite, e.g. `>50K.: >50K`."
    )
    sensitive: list[SensitiveAttribute] = Field(min_length=1, description="Sensitive attribute(s).")
    categorical: list[str] = Field(default_factory=list, description="Categorical feature columns.")
    numeric: list[str] = Field(default_factory=list, description="Numeric feature columns.")
    datetime: list[str] = Field(
        default_factory=list, description="Datetime columns (modelled as numbers)."
    )
    datetime_format: str | None = Field(
        default=None, description="strftime format of datetime columns."
    )
    image: list[str] = Field(
        default_factory=list,
        max_length=1,
        description="An image column: PNG bytes in a Parquet source, or in a CSV source the PNG "
        "file of each row, relative to the CSV's folder.",
    )
    image_format: ImageFormat | None = Field(
        default=None, description="Size and channels of the images (needed with `image`)."
    )
    drop: list[str] = Field(default_factory=list, description="Columns to ignore.")
    missing_values: list[str] = Field(
        default_factory=lambda: ["", "?", "NA", "N/A", "null"],
        description="Tokens that mean a missing value.",
    )
    split: SplitSpec = Field(default_factory=SplitSpec)
    min_rows: int = Field(default=200, ge=10, description="Fewest training rows accepted.")
    min_group_rows: int = Field(
        default=30, ge=1, description="Fewest rows accepted in each sensitive group."
    )
    min_category_rows: int = Field(
        default=5,
        ge=1,
        description="Categories of a categorical feature seen in fewer training rows are rare: "
        "the codec folds them into the column's most frequent category, so no synthetic row "
        "carries one (the audit counts any that appear). 1 keeps every category.",
    )
    spec_file: SkipJsonSchema[Path | None] = Field(
        default=None, exclude=True, description="The YAML file this spec was read from, if any."
    )

    @field_validator("positive_label", mode="before")
    @classmethod
    def _label_as_text(cls, value: object) -> object:
        return str(value) if isinstance(value, int | float) else value

    @model_validator(mode="after")
    def _columns_declared_once(self) -> DatasetSpec:
        roles = {"target": [self.target], "sensitive": self.sensitive_columns}
        roles |= {
            kind: getattr(self, kind)
            for kind in ("categorical", "numeric", "datetime", "image", "drop")
        }
        seen: dict[str, str] = {}
        for role, columns in roles.items():
            for column in columns:
                if column in seen:
                    raise ValueError(
                        f"column {column!r} is declared both as {seen[column]} and as {role}; "
                        "declare each column once"
                    )
                seen[column] = role
        return self

    @model_validator(mode="after")
    def _images_alone(self) -> DatasetSpec:
        if self.image and self.image_format is None:
            raise ValueError(
                "an `image` column needs `image_format` (height, width, channels); add it"
            )
        tabular = [*self.categorical, *self.numeric, *self.datetime]
        if self.image and tabular:
            raise ValueError(
                f"an image dataset models its image, target and sensitive columns only; move "
                f"{tabular} under `drop`"
            )
        return self

    @property
    def slug(self) -> str:
        """The name as tools want it (Prefect keys, MLflow names, lake folders): `Messy_Loans` →
        `messy-loans`."""
        return slugify(self.name)

    @property
    def sensitive_columns(self) -> list[str]:
        return [attribute.column for attribute in self.sensitive]

    @property
    def feature_columns(self) -> list[str]:
        return [*self.categorical, *self.numeric, *self.datetime, *self.image]

    @property
    def modality(self) -> Literal["table", "image"]:
        """What the rows are: `image` when the spec has an image column, else `table`."""
        return "image" if self.image else "table"

    @property
    def modelled_columns(self) -> list[str]:
        """Every column the generator models and writes: features, target, sensitive."""
        return [*self.feature_columns, self.target, *self.sensitive_columns]

    @property
    def declared_columns(self) -> list[str]:
        return [*self.modelled_columns, *self.drop]

    @property
    def origin(self) -> str:
        """How errors name this spec: its file, or the flow parameters."""
        return str(self.spec_file) if self.spec_file else "the dataset spec"

    def absolute(self) -> DatasetSpec:
        """A copy with file locations made absolute, self-contained as flow parameters."""
        holdout = self.split.holdout
        if holdout and holdout not in BUILTINS:
            holdout = self._resolve(holdout)
        split = self.split.model_copy(update={"holdout": holdout})
        source = self.source if self.source in BUILTINS else self._resolve(self.source)
        return self.model_copy(update={"source": source, "split": split})

    def source_location(self) -> str:
        """The source as a path or URL; a built-in name gives its shipped training file."""
        if self.source in BUILTINS:
            return str(BUILTIN_DIR / BUILTIN_FILES[self.source][0])
        return self._resolve(self.source)

    def holdout_location(self) -> str | None:
        """The holdout file, if one is given; a built-in name gives its shipped holdout file."""
        holdout = self.split.holdout
        if holdout in BUILTINS:
            if BUILTIN_FILES[holdout][1] is None:
                raise SpecError(
                    f"built-in dataset {holdout!r} has no holdout file; remove `split.holdout` from {self.origin}"
                )
            return str(BUILTIN_DIR / BUILTIN_FILES[holdout][1])
        return self._resolve(holdout) if holdout else None

    def _resolve(self, location: str) -> str:
        """Relative paths resolve against the spec file's folder; URLs pass through."""
        if "://" in location:
            return location
        path = Path(location).expanduser()
        if not path.is_absolute() and self.spec_file is not None:
            path = self.spec_file.parent / path
        return str(path.resolve())


def slugify(name: str) -> str:
    """Lowercase letters, digits and single dashes, starting with a letter.

    >>> slugify("Messy_Loans 2024"), slugify("adult"), slugify("2024 loans")
    ('messy-loans-2024', 'adult', 'd-2024-loans')
    """
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return slug if slug[:1].isalpha() else f"d-{slug}"


def _known_fields(loc: tuple) -> list[str]:
    """The fields valid where an unknown one was found."""
    nested = {"split": SplitSpec, "sensitive": SensitiveAttribute, "image_format": ImageFormat}
    model = nested.get(str(loc[0]), DatasetSpec) if len(loc) > 1 else DatasetSpec
    return [name for name in model.model_fields if name != "spec_file"]


def _field_problem(error: dict, model: type[BaseModel]) -> str:
    where = ".".join(str(part) for part in error["loc"]) or "spec"
    if error["type"] == "extra_forbidden":
        known = _known_fields(error["loc"])
        close = difflib.get_close_matches(str(error["loc"][-1]), known, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        return f"field {where!r} is not a known field ({hint}valid: {', '.join(known)})"
    if not error["loc"] and error["type"] == "value_error":
        return str(error["ctx"]["error"])
    if error["type"] == "missing":
        return f"field {where!r} is required"
    return f"field {where!r}: {error['msg']} (got {error.get('input')!r})"


def parse_spec(data: dict, origin: str, spec_file: Path | None = None) -> DatasetSpec:
    """Build a spec from a mapping; a bad field raises `SpecError` naming the field and the fix."""
    if not isinstance(data, dict):
        raise SpecError(f"{origin} must be a mapping of fields (got {type(data).__name__})")
    try:
        return DatasetSpec.model_validate({**data, "spec_file": spec_file})
    except ValidationError as error:
        problems = "; ".join(_field_problem(e, DatasetSpec) for e in error.errors())
        raise SpecError(f"invalid dataset spec {origin}: {problems}") from None


def read_yaml(path: Path, *, what: str, option: str, error: type[FairdistillError]) -> object:
    """The content of a user's YAML file; a missing file or broken YAML raises ``error``."""
    if not path.is_file():
        raise error(f"{what} {path} does not exist; pass {option} with a YAML file")
    try:
        return yaml.safe_load(path.read_text())
    except yaml.YAMLError as problem:
        reason = " ".join(str(problem).split())
        raise error(f"{what} {path} is not valid YAML ({reason}); fix its syntax") from None


def load_spec(path: str | Path) -> DatasetSpec:
    """Read a YAML spec; relative paths inside it resolve against the file's folder."""
    path = Path(path).expanduser().resolve()
    data = read_yaml(path, what="spec file", option="--spec", error=SpecError)
    return parse_spec(data, str(path), spec_file=path)


def load_builtin(name: str) -> DatasetSpec:
    """The spec of a shipped dataset (`adult`, `compas`, `colored-mnist`, …)."""
    if name not in BUILTINS:
        raise SpecError(UNKNOWN_BUILTIN.format(name=name, builtins=", ".join(BUILTINS)))
    return load_spec(BUILTIN_DIR / name / "spec.yaml")


def dataset_name(dataset: str | DatasetSpec | dict) -> str:
    """The name of the flow's `dataset` parameter: a built-in name, a spec, or a spec as JSON.

    >>> dataset_name("adult"), dataset_name({"name": "loans", "source": "loans.csv"})
    ('adult', 'loans')
    """
    if isinstance(dataset, str):
        return dataset
    return dataset["name"] if isinstance(dataset, dict) else dataset.name
