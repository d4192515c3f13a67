"""Generate: sample the distilled latent space, decode fairly, stream the rows to Parquet."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import polars as pl

from fairdistill.lake import write_parquet_chunks


def synthetic_rows(
    model,
    rows: int,
    *,
    seed: int = 0,
    mode: str = "label-fair",
    fairness: float = 1.0,
    label_temperature: float = 1.0,
    chunk_size: int = 50_000,
    exclude: pl.DataFrame | None = None,
) -> Iterator[pl.DataFrame]:
    """`rows` new rows in chunks, in the columns and dtypes of the source table.

    A decoded row identical to a row of `exclude` (the training table) is dropped and replaced by the
    next one, so no synthetic row is an exact copy of a training row (DESIGN §5, privacy).
    """
    spare = rows // 100 + 16
    produced = 0
    chunks = model.generate(
        rows + spare,
        seed,
        mode=mode,
        fairness=fairness,
        label_temperature=label_temperature,
        chunk_size=chunk_size,
    )
    for chunk in chunks:
        if exclude is not None:
            chunk = chunk.join(exclude, on=exclude.columns, how="anti", nulls_equal=True)
        chunk = chunk.head(rows - produced)
        produced += chunk.height
        yield chunk
        if produced == rows:
            return
    raise RuntimeError(
        f"only {produced} of {rows} rows were new: the generator copies training rows; "
        "retrain with a larger latent or more epochs"
    )


def write_synthetic_table(chunks: Iterator[pl.DataFrame], path: Path) -> tuple[int, float]:
    """Stream the chunks into one Parquet file; returns (rows, rows per second)."""
    start = time.perf_counter()
    rows = write_parquet_chunks(chunks, path)
    return rows, rows / max(time.perf_counter() - start, 1e-9)
