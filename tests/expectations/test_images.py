"""Bad images are refused before any training, with a message that names the file: a non-image, a
wrong size, other channels and a label outside the spec (the suite's checks; a missing file stops
ingest: tests/fairdistill/test_images.py). One folder holds all of them: one validation."""

import numpy as np
import pytest
from PIL import Image

from expectations.build import build_suite
from expectations.check import load_suite, validate_frame
from expectations.messages import raise_for_failures
from fairdistill import errors
from fairdistill.ingest import read_dataset
from fairdistill.spec import load_builtin

GOOD = [0, 1] * 15


@pytest.fixture(scope="module")
def refusal(tmp_path_factory, image_folder) -> str:
    """Ingest and validate, as the flow does, a folder with one bad image of each kind; the suite
    is built from a good folder, as the committed suites are built from the shipped data."""
    good, bad = tmp_path_factory.mktemp("good"), tmp_path_factory.mktemp("bad")
    reference = read_dataset(image_folder(good, GOOD))[0]
    sizes = [(6, 5)] * 9 + [(8, 5)] + [(6, 5)] * 20
    spec = image_folder(bad, [*GOOD[:5], 7, *GOOD[6:]], sizes=sizes)
    (bad / "img" / "003.png").write_text("not an image")
    Image.fromarray(np.zeros((6, 5), np.uint8)).save(bad / "img" / "011.png")
    train, holdout, _ = read_dataset(spec)
    report = validate_frame(train.vstack(holdout), spec, build_suite(spec, reference))
    with pytest.raises(errors.ValidationFailed) as refused:
        raise_for_failures(report, spec, spec.source)
    return str(refused.value)


@pytest.mark.parametrize(
    "sentence",
    [
        "1 image(s) in column 'file' are missing or do not decode as PNG (files: 'img/003.png')",
        "1 image(s) in column 'file' have height 8, not 6 (files: 'img/009.png')",
        "1 image(s) in column 'file' have channels 1, not 3 (files: 'img/011.png')",
        "outside its known categories (e.g. '7'); fix those values, or if they are valid rebuild "
        "the suite with `python -m expectations.build tiny-images` (files: 'img/005.png')",
    ],
    ids=["not-an-image", "wrong-size", "wrong-channels", "label-outside-the-spec"],
)
def test_a_bad_image_is_refused_naming_its_file(refusal, sentence):
    assert sentence in refusal


def test_shipped_colored_mnist_passes_its_committed_suite():
    spec = load_builtin("colored-mnist")
    train, holdout, _ = read_dataset(spec)
    suite = load_suite(spec)
    for frame in (train, holdout):
        report = validate_frame(frame, spec, suite)
        assert report.success and report.failures == []
    assert report.statistics["evaluated_expectations"] == len(suite.expectations) == 18
