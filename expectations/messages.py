"""Failed expectations in words: the markdown table of the Prefect artifact and the one clear error.

Each failure row (`expectations.check.ValidationReport.failures`) becomes a sentence naming the column,
the counts, examples and the fix; templates live in `fairdistill.errors`.
"""

from __future__ import annotations

import json

from expectations.check import FAILURE_ORDER, ValidationReport
from fairdistill import errors
from fairdistill.spec import DatasetSpec


def summary_markdown(report: ValidationReport) -> str:
    """A markdown table of the failures (for a Prefect artifact)."""
    stats = report.statistics
    head = (
        f"### `{report.suite_name}`: {stats.get('successful_expectations')} of "
        f"{stats.get('evaluated_expectations')} expectations passed"
    )
    if not report.failures:
        return head + "\n\nAll expectations passed.\n"
    lines = [head, "", "| expectation | column | unexpected | % | examples | observed |"]
    lines.append("|---" * 6 + "|")
    for row in report.failures:
        percent = row["unexpected_percent"]
        cells = [
            row["expectation"],
            row["column"] or "(table)",
            row["unexpected_count"],
            "" if percent is None else f"{percent:.2f}",
            _quoted(row["examples"]),
            None if row["observed_value"] is None else json.dumps(row["observed_value"]),
        ]
        lines.append("| " + " | ".join(_cell(cell) for cell in cells) + " |")
    return "\n".join(lines) + "\n"


def _cell(value) -> str:
    return "" if value is None else str(value).replace("|", "\\|").replace("\n", " ")


def _quoted(values: list) -> str:
    return ", ".join(repr(value) for value in values)


def _number(value):
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _columns(row: dict, spec: DatasetSpec, fields: dict) -> str:
    found = {
        key: _quoted(row["observed_value"][key]) or "none" for key in ("missing", "unexpected")
    }
    return errors.CHECK_COLUMNS.format(**found, spec=spec.origin)


def _row_count(row: dict, spec: DatasetSpec, fields: dict) -> str:
    minimum = _number(row["kwargs"].get("min_value"))
    if minimum is not None and row["observed_value"] < minimum:
        return errors.CHECK_ROW_COUNT_LOW.format(minimum=minimum, **fields)
    return errors.CHECK_ROW_COUNT_HIGH.format(maximum=_number(row["kwargs"]["max_value"]), **fields)


def _classes(row: dict, spec: DatasetSpec, fields: dict) -> str:
    """Distinct values: the target's two classes, at least two sensitive groups, a feature's any."""
    if row["column"] in spec.sensitive_columns:
        return errors.CHECK_ONE_GROUP.format(**fields)
    if row["column"] != spec.target:
        return errors.CHECK_ALL_NULL.format(**fields)
    one = row["observed_value"] <= 1
    return (errors.CHECK_ONE_CLASS if one else errors.CHECK_CLASS_COUNT).format(**fields)


def _positive_label(row: dict, spec: DatasetSpec, fields: dict) -> str:
    """A value that must occur: the target's positive label, or a sensitive column's privileged."""
    privileged = {a.column: a.privileged for a in spec.sensitive}
    if row["column"] in privileged:
        return errors.CHECK_PRIVILEGED.format(label=privileged[row["column"]], **fields)
    return errors.CHECK_POSITIVE_LABEL.format(label=spec.positive_label, **fields)


def _type(row: dict, spec: DatasetSpec, fields: dict) -> str:
    column, observed = row["column"], row["observed_value"]
    kind = next(
        (kind for kind in ("numeric", "datetime") if column in getattr(spec, kind)), "categorical"
    )
    observed = ", ".join(observed) if isinstance(observed, list) else observed
    rows = f" in {fields['count']} row(s) (e.g. {fields['examples']})" if row["examples"] else ""
    return errors.CHECK_TYPE.format(**{**fields, "kind": kind, "observed": observed, "rows": rows})


def _nulls(row: dict, spec: DatasetSpec, fields: dict) -> str:
    mostly = row["kwargs"].get("mostly")
    if mostly is None:
        role = "target" if row["column"] == spec.target else "sensitive"
        rows = ", ".join(str(index) for index in row["rows"])
        return errors.CHECK_REQUIRED.format(role=role, rows=rows, **fields)
    return errors.CHECK_NULL_RATE.format(allowed=(1.0 - mostly) * 100, **fields)


def _value_set(row: dict, spec: DatasetSpec, fields: dict) -> str:
    return errors.CHECK_VALUE_SET.format(**fields)


def _image(row: dict, spec: DatasetSpec, fields: dict) -> str | None:
    """A failure of an image's metadata (`<image>_height`, …), naming the files; else None."""
    image = next((c for c in spec.image if (row["column"] or "").startswith(f"{c}_")), None)
    if image is None:
        return None
    files = _quoted(row["rows"]) + (
        ", …" if (row["unexpected_count"] or 0) > len(row["rows"]) else ""
    )
    what = row["column"].removeprefix(f"{image}_")
    examples = ", ".join(str(_number(value)) for value in row["examples"])  # nulls made them floats
    fields = {**fields, "column": image, "files": files, "examples": examples}
    if row["expectation"] == "expect_column_values_to_not_be_null":
        return errors.CHECK_IMAGE_UNREADABLE.format(**fields)
    minimum, maximum = (_number(row["kwargs"].get(key)) for key in ("min_value", "max_value"))
    expected = minimum if minimum == maximum else f"{minimum}–{maximum}"
    what = {"min": "smallest pixel value", "max": "largest pixel value"}.get(what, what)
    return errors.CHECK_IMAGE_FORMAT.format(what=what, expected=expected, **fields)


def _between(row: dict, spec: DatasetSpec, fields: dict) -> str:
    minimum, maximum = (_number(row["kwargs"].get(key)) for key in ("min_value", "max_value"))
    if row["column"] not in spec.sensitive_columns:
        return errors.CHECK_RANGE.format(minimum=minimum, maximum=maximum, **fields)
    return "; ".join(
        errors.CHECK_GROUP_SIZE.format(
            column=row["column"], group=group, count=count, minimum=minimum, spec=spec.origin
        )
        for group, count in row["observed_value"].items()
    )


DESCRIBE = dict(
    zip(
        FAILURE_ORDER,
        (_columns, _type, _row_count, _classes, _positive_label, _nulls, _value_set, _between),
        strict=True,
    )
)


def describe(row: dict, spec: DatasetSpec) -> str:
    """One failed expectation in words, with its counts, examples and the fix."""
    kind, column = row["expectation"], row["column"]
    if row["error"] is not None:
        return errors.CHECK_NOT_EVALUATED.format(
            expectation=kind, column=column, error=row["error"]
        )
    if kind not in DESCRIBE:
        where = repr(column) if column else "the table"
        observed, kwargs = row["observed_value"], row["kwargs"]
        return errors.CHECK_OTHER.format(
            expectation=kind, column=where, observed=observed, kwargs=kwargs
        )
    fields = {
        "column": column,
        "spec": spec.origin,
        "dataset": spec.name,
        "examples": _quoted(row["examples"]),
        "count": row["unexpected_count"],
        "percent": row["unexpected_percent"] or 0.0,
        "observed": row["observed_value"],
    }
    if spec.image:
        return _image(row, spec, fields) or _with_files(DESCRIBE[kind](row, spec, fields), row)
    return DESCRIBE[kind](row, spec, fields)


def _with_files(sentence: str, row: dict) -> str:
    """An image dataset's failure also names the files of its rows (their `_source`)."""
    if not row["rows"] or "rows " in sentence:
        return sentence
    return sentence + errors.CHECK_FILES.format(files=_quoted(row["rows"]))


def raise_for_failures(report: ValidationReport, spec: DatasetSpec, source_name: str) -> None:
    """Raise `ValidationFailed` naming `source_name` and each failure in words; else return."""
    if report.success:
        return
    problems = "; ".join(f"({i}) {describe(row, spec)}" for i, row in enumerate(report.failures, 1))
    message = errors.VALIDATION_FAILED.format(
        source=source_name,
        suite=report.suite_name,
        count=len(report.failures),
        problems=problems or "see the validation report",
        spec=spec.origin,
    )
    raise errors.ValidationFailed(message, report.failures)
