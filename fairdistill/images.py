"""Images in the data contract: PNG bytes in the lake, pixel arrays for the models, metadata for
validation, and `ImageCodec`, the image counterpart of `TabularCodec`.

An image column holds one PNG per row (8-bit, 1 or 3 channels, a fixed height and width declared in
the spec). The codec turns it into the flat pixel block of x that the convolutional networks reshape,
``x = [pixels / 255 in (C, H, W) order, one-hot target]``, with s the one-hot of the sensitive
groups, and turns decoded pixels back into PNG bytes. The target and the sensitive columns go
through a `TabularCodec`, so groups, their frequencies and the label block mean the same for tables
and images.
"""

from __future__ import annotations

import io
import struct
import zlib
from dataclasses import replace

import numpy as np
import polars as pl
from PIL import Image, UnidentifiedImageError

from fairdistill.codec import Block, TabularCodec

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Where each image of a snapshot came from (its file, or "row <i>" of a Parquet source): ingest
# writes it, the validation suite names failing images by it, the models ignore it.
SOURCE = "_source"
# PNG colour types of 8-bit images by channel count (PNG spec §11.2.2): grey, RGB.
COLOUR_TYPE = {1: 0, 3: 2}
METADATA = ("height", "width", "channels", "min", "max")
NOT_FITTED = "this ImageCodec is not fitted yet; call `fit(frame)` before `{method}`"


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def encode_png(pixels: np.ndarray, level: int = 1) -> list[bytes]:
    """PNG files of a batch of 8-bit images ``[n, H, W, C]`` (C = 1 or 3), one per image.

    Each file is the PNG signature, an IHDR chunk (8 bits, no interlace), one IDAT chunk holding the
    zlib stream (``level`` 1: the fastest, 5% larger than level 6 on Colored-MNIST) of the
    scanlines with filter type 0 (PNG spec §9) and IEND. Written here rather than through Pillow
    because the scanlines of the whole batch are laid out in one numpy pass: about 3× Pillow's rate,
    which generation needs (≥ 5,000 images/s). Deterministic; decodes with any PNG reader.

    >>> data = encode_png(np.arange(12, dtype=np.uint8).reshape(1, 2, 2, 3))[0]
    >>> decode_png(data).ravel().tolist() == list(range(12))
    True
    """
    pixels = np.asarray(pixels)
    if pixels.dtype != np.uint8 or pixels.ndim != 4 or pixels.shape[3] not in COLOUR_TYPE:
        raise ValueError(
            f"expected uint8 images [n, H, W, 1 or 3], got {pixels.dtype} {pixels.shape}"
        )
    n, height, width, channels = pixels.shape
    header = struct.pack(">IIBBBBB", width, height, 8, COLOUR_TYPE[channels], 0, 0, 0)
    head, end = PNG_SIGNATURE + _chunk(b"IHDR", header), _chunk(b"IEND", b"")
    lines = np.zeros((n, height, 1 + width * channels), np.uint8)  # column 0: filter type 0
    lines[:, :, 1:] = pixels.reshape(n, height, width * channels)
    return [head + _chunk(b"IDAT", zlib.compress(one.tobytes(), level)) + end for one in lines]


def decode_png(data: bytes) -> np.ndarray:
    """The pixels ``[H, W, C]`` of one image file (any format Pillow reads); raises on bad bytes."""
    with Image.open(io.BytesIO(data)) as image:
        pixels = np.asarray(image)
    return pixels[:, :, None] if pixels.ndim == 2 else pixels


def pixel_array(images: pl.Series, shape: tuple[int, int, int]) -> np.ndarray:
    """The images of a column as one uint8 array ``[n, C, H, W]`` (``shape`` = (C, H, W)).

    Each image must decode to ``(H, W, C)``: the validation stage has checked that before any
    stage calls this.
    """
    channels, height, width = shape
    out = np.empty((images.len(), channels, height, width), np.uint8)
    for i, data in enumerate(images.to_list()):
        out[i] = decode_png(data).reshape(height, width, channels).transpose(2, 0, 1)
    return out


def image_metadata(images: pl.Series) -> pl.DataFrame:
    """Per image: height, width, channels, smallest and largest pixel value; nulls where the bytes
    do not decode as an image (the validation stage turns them into a clear failure)."""
    rows = []
    for data in images.to_list():
        try:
            pixels = decode_png(data)
        except (UnidentifiedImageError, OSError, ValueError, TypeError):
            rows.append((None,) * len(METADATA))
            continue
        height, width, channels = pixels.shape
        rows.append((height, width, channels, int(pixels.min()), int(pixels.max())))
    return pl.DataFrame(rows, schema=dict.fromkeys(METADATA, pl.Int64), orient="row")


class ImageCodec:
    """Encode a frame of (image, target, sensitive) into (x, s) float32 arrays and back.

    Layout of x (``blocks_``): one ``image`` block of ``C·H·W`` pixel intensities in [0, 1] (channels
    first, the order the convolutions read), then the target's categorical block. s is the one-hot
    of the sensitive groups. Target and sensitive columns go through a `TabularCodec`
    (``table_``), so their groups and labels are encoded exactly as for tables.

    Parameters
    ----------
    image : str
        The image column (PNG bytes).
    target : str
        Label column; encoded as a categorical block of x.
    sensitive : list of str
        Sensitive column(s); s is the one-hot of their combination.
    height, width : int
        Size of every image, in pixels.
    channels : int
        1 (grey) or 3 (RGB).
    """

    kind = "image"

    def __init__(
        self,
        image: str,
        target: str,
        sensitive: list[str],
        height: int,
        width: int,
        channels: int = 3,
    ):
        self.image = image
        self.target = target
        self.sensitive = sensitive
        self.height = height
        self.width = width
        self.channels = channels

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(C, H, W)``: the image block's shape as the networks see it."""
        return (self.channels, self.height, self.width)

    def fit(self, frame: pl.DataFrame) -> ImageCodec:
        """Learn the label categories and the sensitive groups (and their frequencies)."""
        table = frame.select(self.target, *self.sensitive)
        self.table_ = TabularCodec([], [], [], self.target, self.sensitive).fit(table)
        names = {self.image, self.target, *self.sensitive}
        self.columns_ = [column for column in frame.columns if column in names]
        self._build_layout()
        return self

    def _build_layout(self) -> None:
        pixels = int(np.prod(self.shape))
        image = Block(self.image, "image", 0, pixels, shape=list(self.shape))
        shifted = [
            replace(b, start=b.start + pixels, stop=b.stop + pixels) for b in self.table_.blocks_
        ]
        self.blocks_ = [image, *shifted]
        self.target_block_ = next(b for b in self.blocks_ if b.role == "target")
        self.n_features_out_ = pixels + self.table_.n_features_out_
        self.groups_, self.group_freq_ = self.table_.groups_, self.table_.group_freq_

    def _check_fitted(self, method: str) -> None:
        if not hasattr(self, "blocks_"):
            raise RuntimeError(NOT_FITTED.format(method=method))

    def encode(self, frame: pl.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """``x`` (float32 ``[n, C·H·W + n_labels]``) and ``s`` (float32 one-hot ``[n, K]``)."""
        self._check_fitted("encode")
        pixels = pixel_array(frame[self.image], self.shape).reshape(frame.height, -1)
        labels, s = self.table_.encode(frame.select(self.target, *self.sensitive))
        return np.hstack([pixels.astype(np.float32) / 255.0, labels]), s

    def s_index(self, frame: pl.DataFrame) -> np.ndarray:
        """Index into ``groups_`` of each row's sensitive combination."""
        self._check_fitted("s_index")
        return self.table_.s_index(frame)

    def decode_blocks(self, values: list[np.ndarray], s_index: np.ndarray) -> pl.DataFrame:
        """Decode per-block values: pixel intensities in [0, 1] ``[n, C·H·W]`` for the image block
        (rounded to 8 bits and written as PNG), label indices for the target block."""
        self._check_fitted("decode_blocks")
        intensity = np.clip(np.asarray(values[0], dtype=np.float32), 0.0, 1.0)
        pixels = np.rint(intensity * 255.0).astype(np.uint8)
        pixels = pixels.reshape(-1, *self.shape).transpose(0, 2, 3, 1)
        frame = self.table_.decode_blocks(values[1:], s_index)
        images = pl.Series(self.image, encode_png(pixels), pl.Binary)
        return frame.with_columns(images).select(self.columns_)

    def to_dict(self) -> dict:
        """JSON-able state: the parameters and the fitted table codec of target and sensitive."""
        self._check_fitted("to_dict")
        params = {
            key: getattr(self, key)
            for key in ("image", "target", "sensitive", "height", "width", "channels")
        }
        return {
            "kind": self.kind,
            "params": params,
            "columns": self.columns_,
            "table": self.table_.to_dict(),
        }

    @classmethod
    def from_dict(cls, state: dict) -> ImageCodec:
        """Rebuild a fitted codec from `to_dict` output."""
        codec = cls(**state["params"])
        codec.table_ = TabularCodec.from_dict(state["table"])
        codec.columns_ = state["columns"]
        codec._build_layout()
        return codec
