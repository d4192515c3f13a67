"""Images in the data contract: PNG bytes through the lake, the image codec, folder sources."""

import io

import numpy as np
import polars as pl
import pytest
from PIL import Image

from fairdistill import errors
from fairdistill.images import (
    SOURCE,
    ImageCodec,
    decode_png,
    encode_png,
    image_metadata,
    pixel_array,
)
from fairdistill.ingest import read_dataset, snapshot_dataset
from fairdistill.spec import load_builtin, parse_spec


def random_pixels(n: int, channels: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, 6, 5, channels), dtype=np.uint8)


def pillow_png(pixels: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(pixels.squeeze(-1) if pixels.shape[-1] == 1 else pixels).save(out, "PNG")
    return out.getvalue()


@pytest.mark.parametrize("channels", [1, 3])
def test_png_bytes_in_identical_pixels_out_through_the_lake(channels, lake):
    pixels = random_pixels(7, channels)
    frame = pl.DataFrame({"image": pl.Series(encode_png(pixels), dtype=pl.Binary), "y": [0] * 7})
    frame.write_parquet(lake.parent / "images.parquet")
    back = pl.read_parquet(lake.parent / "images.parquet")
    assert np.array_equal(
        pixel_array(back["image"], (channels, 6, 5)), pixels.transpose(0, 3, 1, 2)
    )
    # any PNG writer's files decode to the same pixels (our writer and Pillow's agree)
    assert all(np.array_equal(decode_png(pillow_png(p)), p) for p in pixels)


def test_image_metadata_reports_size_channels_range_and_nulls_for_non_images():
    images = pl.Series([*encode_png(np.full((1, 6, 5, 3), 7, np.uint8)), b"not a png", None])
    metadata = image_metadata(images)
    assert metadata.row(0) == (6, 5, 3, 7, 7)
    assert metadata.row(1) == metadata.row(2) == (None,) * 5


def colored_frame(n: int = 12) -> pl.DataFrame:
    pixels = random_pixels(n, 3)
    return pl.DataFrame(
        {
            "image": pl.Series(encode_png(pixels), dtype=pl.Binary),
            "label": np.arange(n) % 2,
            "colour": np.array(["red", "green", "blue"])[np.arange(n) % 3],
        }
    )


def test_image_codec_round_trips_pixels_labels_and_groups():
    frame = colored_frame()
    codec = ImageCodec("image", "label", ["colour"], 6, 5, 3).fit(frame)
    x, s = codec.encode(frame)
    assert x.shape == (12, 3 * 6 * 5 + 2) and s.shape == (12, 3)
    assert [b.kind for b in codec.blocks_] == ["image", "categorical"]
    labels = x[:, 90:].argmax(1)
    again = ImageCodec.from_dict(codec.to_dict()).decode_blocks([x[:, :90], labels], s.argmax(1))
    assert again.equals(frame)  # same pixels give the same bytes: identical frames


def test_folder_source_is_read_as_png_bytes_with_each_file_named(tmp_path, lake, image_folder):
    spec = image_folder(tmp_path, [0, 1] * 15)
    train, holdout, _ = read_dataset(spec)
    assert train.schema["file"] == pl.Binary and train.height + holdout.height == 30
    assert set(train[SOURCE]) | set(holdout[SOURCE]) == {f"img/{i:03d}.png" for i in range(30)}
    snapshot = snapshot_dataset(spec, "run-1")
    assert pl.read_parquet(snapshot.train_path).schema["file"] == pl.Binary


def test_a_missing_image_file_is_refused_naming_it(tmp_path, image_folder):
    spec = image_folder(tmp_path, [0, 1] * 15)
    (tmp_path / "img" / "004.png").unlink()
    with pytest.raises(
        errors.DataError, match=r"1 image file\(s\) named in column 'file' .* 'img/004.png'"
    ):
        read_dataset(spec)


def test_the_fingerprint_follows_the_image_files(tmp_path, image_folder):
    spec = image_folder(tmp_path, [0, 1] * 15)
    before = read_dataset(spec)[2]
    Image.fromarray(np.zeros((6, 5, 3), np.uint8)).save(tmp_path / "img" / "007.png")
    assert read_dataset(spec)[2] != before


def test_image_specs_need_a_format_and_no_table_features():
    base = load_builtin("colored-mnist").model_dump(exclude={"spec_file"})
    with pytest.raises(errors.SpecError, match="`image` column needs `image_format`"):
        parse_spec({**base, "image_format": None}, "test")
    with pytest.raises(errors.SpecError, match=r"move \['digit'\] under `drop`"):
        parse_spec({**base, "numeric": ["digit"], "drop": []}, "test")


@pytest.mark.parametrize("name", ["colored-mnist", "colored-mnist-mod3"])
def test_shipped_colored_mnist_has_a_colour_independent_holdout(name):
    spec = load_builtin(name)
    train, holdout, _ = read_dataset(spec)
    assert (train.height, holdout.height) == (4_000, 3_000)
    per_cell = holdout.group_by("label", "colour").len()["len"]
    assert per_cell.min() == per_cell.max() == 500  # every holdout digit in every colour
    rates = train.group_by("colour").agg(pl.col("label").mean())["label"]
    biased = name == "colored-mnist"
    assert (rates.max() - rates.min() > 0.9) if biased else (rates.max() - rates.min() < 0.05)
