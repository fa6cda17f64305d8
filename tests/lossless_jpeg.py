"""A minimal lossless JPEG (ITU-T T.81 process 14, selection value 1) encoder, for tests only.

No installed package encodes lossless JPEG (pydicom, Pillow and pylibjpeg only decode it), yet
it is what many CT archives store. This writes the simplest valid codestream: predictor 1 (the
left neighbour; the first column predicts from above, the first pixel from 2^(P-1)), one
Huffman table in which every difference category 0..16 has a 5-bit code. The decoder under test
(libjpeg) is independent of it, so a round trip that gives back the exact pixels checks both.
"""
from __future__ import annotations

import struct

import numpy as np

CODE_BITS = 5  # 17 categories fit in 5-bit canonical codes 00000..10000


def _segment(marker: int, body: bytes) -> bytes:
    return struct.pack(">HH", marker, len(body) + 2) + body


def encode(image: np.ndarray, precision: int = 16) -> bytes:
    """Encode a 2D unsigned image (values < 2**precision) as a process-14 SV1 codestream."""
    pixels = image.astype(np.int64)
    rows, cols = pixels.shape
    predicted = np.empty_like(pixels)
    predicted[:, 1:] = pixels[:, :-1]
    predicted[1:, 0] = pixels[:-1, 0]
    predicted[0, 0] = 1 << (precision - 1)
    diff = (pixels - predicted).ravel() % 65536
    diff = np.where(diff >= 32768, diff - 65536, diff)
    category = np.where(diff == 0, 0, np.floor(np.log2(np.maximum(np.abs(diff), 1))).astype(np.int64) + 1)
    category = np.where(diff == -32768, 16, category)
    extra = np.where(diff >= 0, diff, diff - 1) & ((1 << category) - 1)
    extra = np.where(category == 16, 0, extra)  # category 16 (difference 32768) has no extra bits
    lengths = CODE_BITS + np.where(category == 16, 0, category)
    codes = (category << (lengths - CODE_BITS)) | extra
    aligned = (codes << (32 - lengths)).astype(">u4")  # left-aligned in 32 bits
    bits = np.unpackbits(aligned.view(np.uint8).reshape(-1, 4), axis=1)
    stream = bits[np.arange(32)[None, :] < lengths[:, None]]
    stream = np.concatenate([stream, np.ones((-len(stream)) % 8, np.uint8)])  # pad with 1-bits
    data = np.packbits(stream)
    stuffed = np.insert(data, np.flatnonzero(data == 0xFF) + 1, 0).tobytes()
    frame = struct.pack(">BHHB", precision, rows, cols, 1) + bytes([1, 0x11, 0])
    table = bytes([0x00]) + bytes([0, 0, 0, 0, 17] + [0] * 11) + bytes(range(17))
    scan = bytes([1, 1, 0x00, 1, 0, 0])  # one component, table 0, predictor 1, Se 0, Ah/Al 0
    return (b"\xff\xd8" + _segment(0xFFC3, frame) + _segment(0xFFC4, table)
            + _segment(0xFFDA, scan) + stuffed + b"\xff\xd9")
