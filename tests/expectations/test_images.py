"""Bad images are refused before any training, with a message that names the file: a non-image, a
wrong size, a missing file (ingest) and a label outside the spec (the suite's value set)."""

import numpy as np
import pytest
from PIL import Image

from expectations.build import build_suite
from expectations.check import validate_frame
from expectations.messages import raise_for_failures
from fairdistill import errors
from fairdistill.ingest import read_dataset

GOOD = [0, 1] * 15


def validate(spec, reference_spec=None):
    """Ingest and validate as the flow does, the suite built from a good folder's rows."""
    train, holdout, _ = read_dataset(spec)
    suite = (
        build_suite(spec, read_dataset(reference_spec)[0]) if reference_spec else build_suite(spec)
    )
    report = validate_frame(train.vstack(holdout), spec, suite)
    raise_for_failures(report, spec, spec.source)


def test_good_images_pass(tmp_path, image_folder):
    validate(image_folder(tmp_path, GOOD))


def test_a_file_that_is_not_an_image_is_refused_naming_it(tmp_path, image_folder):
    spec = image_folder(tmp_path, GOOD)
    (tmp_path / "img" / "003.png").write_text("not an image")
    with pytest.raises(
        errors.ValidationFailed,
        match=r"1 image\(s\) in column 'file' are missing or do not decode as PNG \(files: 'img/003.png'\)",
    ):
        validate(spec)


def test_an_image_of_the_wrong_size_is_refused_naming_it(tmp_path, image_folder):
    spec = image_folder(tmp_path, GOOD, sizes=[(6, 5)] * 9 + [(8, 5)] + [(6, 5)] * 20)
    with pytest.raises(
        errors.ValidationFailed,
        match=r"1 image\(s\) in column 'file' have height 8, not 6 \(files: 'img/009.png'\)",
    ):
        validate(spec)


def test_an_image_with_other_channels_is_refused_naming_it(tmp_path, image_folder):
    spec = image_folder(tmp_path, GOOD)
    Image.fromarray(np.zeros((6, 5), np.uint8)).save(tmp_path / "img" / "011.png")
    with pytest.raises(
        errors.ValidationFailed, match=r"have channels 1, not 3 \(files: 'img/011.png'\)"
    ):
        validate(spec)


def test_a_label_outside_the_spec_is_refused_naming_the_file(tmp_path, image_folder):
    (tmp_path / "good").mkdir()
    reference = image_folder(tmp_path / "good", GOOD)
    spec = image_folder(tmp_path, [*GOOD[:5], 7, *GOOD[6:]])
    with pytest.raises(errors.ValidationFailed) as refused:
        validate(spec, reference)
    assert "target 'label' has 3 classes" in str(refused.value)
    assert "outside its known categories (e.g. '7')" in str(refused.value)
    assert "(files: 'img/005.png')" in str(refused.value)
