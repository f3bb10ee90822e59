"""Chunk compression of the shards: the filters HDF5 declares, and a fast encoder/decoder for them.

Every codec stores each chunk with filters that a stock HDF5 build applies by
itself, so plain ``h5py``, ``h5dump``, HDFView, MATLAB, Julia and R read the
shards with nothing else installed (``blosc-lz4`` is the one opt-in
exception: it needs the ``hdf5plugin`` filter):

==============  =================================================  ==========================
name            HDF5 filter pipeline (write order)                 written by
==============  =================================================  ==========================
``deflate``     shuffle (items wider than a byte), deflate level    scenebench (direct chunks)
                2, Fletcher-32
``none``        Fletcher-32                                         HDF5
``blosc-lz4``   Blosc LZ4 level 5 with byte shuffle, Fletcher-32    HDF5 (hdf5plugin)
==============  =================================================  ==========================

For ``deflate`` scenebench applies the filters itself and hands
finished chunks to HDF5 with ``write_direct_chunk``: shuffle in numpy,
deflate with zlib-ng (``zlib_ng``) at level 2, and HDF5's Fletcher-32
computed for all chunks of a batch in one vectorised pass
(:func:`fletcher32`). The stream is the standard zlib format, so any HDF5
reader decodes it; scenebench's own reader inflates it with zlib-ng too, the
fastest inflate on small chunks here (:meth:`Codec.decoder`).

Why zlib-ng and level 2 (``benchmarks/compression.py``, 2-core machine):
zlib-ng level 2 deflates these chunks at ~2.4 GB/s (stdlib zlib level 1:
~1.1 GB/s) into ~14% fewer bytes than ISA-L level 1 and ~25% fewer than
zlib level 1; zlib-ng level 1 is faster (~4.3 GB/s) but its fixed Huffman
codes cost ~65% more bytes. ISA-L (``isal``, ~3.5 GB/s at level 1) was the
first choice and was dropped: its output for the same input bytes is not
always the same (a shard written in a Dask worker now and then hashed
differently from the same shard written in the main process, with equal
decoded arrays), and byte-identical shards are a promise.

Determinism: each chunk is compressed by a one-shot ``zlib_ng.compress``
(a fresh stream per call, nothing reused), whose output is a pure function
of the input bytes and the level for a given zlib-ng version, so the same
command writes byte-identical shards across runs, worker counts, processes
and Dask workers (tests check all of them). zlib-ng's SIMD variants on other
CPUs find the same matches; another zlib-ng version may not, in which case
its shards hold the same arrays but hash differently. Each shard's SHA-256
is recorded when it is written, so ``verify`` is unaffected either way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..errors import ConfigError

DEFAULT = "deflate"
DEFLATE_LEVEL = 2  # zlib-ng level 2 (deflate_fast): ~2x zlib-1's speed, ~25% fewer bytes (benchmarks/compression.py)
BLOSC = dict(cname="lz4", clevel=5)

# HDF5 filter ids (H5Zpublic.h) and the registered id of Blosc
H5Z_DEFLATE, H5Z_SHUFFLE, H5Z_FLETCHER32, H5Z_BLOSC = 1, 2, 3, 32001
_M = 65535


@dataclass(frozen=True)
class Codec:
    """One way of storing chunks; see the module docstring for what each name means."""

    name: str
    deflate: bool = False  # shuffle + deflate before the checksum
    direct: bool = True  # scenebench encodes chunks itself (write_direct_chunk)
    plugin: bool = False  # needs hdf5plugin to read

    def dataset_kwargs(self, dtype: np.dtype) -> dict:
        """``h5py.create_dataset`` keywords that declare this codec's filter pipeline."""
        if self.name == "blosc-lz4":
            import hdf5plugin

            return dict(hdf5plugin.Blosc(shuffle=hdf5plugin.Blosc.SHUFFLE, **BLOSC), fletcher32=True)
        kw = dict(fletcher32=True)
        if self.deflate:
            kw.update(compression="gzip", compression_opts=DEFLATE_LEVEL, shuffle=np.dtype(dtype).itemsize > 1)
        return kw

    def pipeline(self, dtype: np.dtype) -> tuple[int, ...]:
        """The HDF5 filter ids, in write order, that a dataset of ``dtype`` stored with this codec declares."""
        if self.name == "blosc-lz4":
            return (H5Z_BLOSC, H5Z_FLETCHER32)
        if not self.deflate:
            return (H5Z_FLETCHER32,)
        shuffle = (H5Z_SHUFFLE,) if np.dtype(dtype).itemsize > 1 else ()
        return shuffle + (H5Z_DEFLATE, H5Z_FLETCHER32)

    def encode(self, chunks: Sequence[np.ndarray]) -> list[bytes]:
        """Stored bytes of whole chunks (C-contiguous arrays, each of the dataset's full chunk shape)."""
        if self.plugin:
            raise TypeError(f"codec {self.name!r} is written through HDF5's plugin filter, not chunk by chunk")
        if self.deflate:
            from zlib_ng import zlib_ng

            compress, level = zlib_ng.compress, DEFLATE_LEVEL
            if all(c.dtype.itemsize == 1 and c.flags.c_contiguous for c in chunks):  # nothing to shuffle
                payloads = [compress(c, level) for c in chunks]
            else:
                payloads = [compress(_shuffled(c), level) for c in chunks]
        else:
            payloads = [np.ascontiguousarray(c).tobytes() for c in chunks]
        sums = fletcher32(payloads)
        return [p + s.tobytes() for p, s in zip(payloads, sums.astype("<u4"))]

    def decode(self, stored: bytes, dtype: np.dtype, shape: tuple, check: bool = False) -> np.ndarray:
        """The chunk array of stored bytes written by :meth:`encode` (or by HDF5 with this pipeline).

        ``shape`` is the chunk's full shape (rows first). See :meth:`decoder`.
        """
        return self.decoder(dtype, shape, check)(stored)

    def decoder(self, dtype: np.dtype, shape: tuple, check: bool = False):
        """A function ``stored bytes -> chunk array`` for chunks of ``shape`` and ``dtype`` (the reader's hot path).

        ``deflate`` chunks are verified by the zlib stream's own Adler-32 of
        the decoded bytes and by their length; ``check=True`` also verifies
        the Fletcher-32 (always done for ``none``, where nothing else
        would). A damaged chunk raises ``ValueError``.
        """
        dtype = np.dtype(dtype)
        shape = tuple(int(s) for s in shape)
        nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        size = dtype.itemsize
        deflate, verify = self.deflate, check or not self.deflate
        if deflate:
            from zlib_ng import zlib_ng

            inflate = zlib_ng.decompress  # ~2x ISA-L and ~3x zlib on these small chunks (benchmarks/compression.py)

        def decode(stored: bytes) -> np.ndarray:
            body = memoryview(stored)[:-4]
            if verify and int(fletcher32([body])[0]) != int.from_bytes(stored[-4:], "little"):
                raise ValueError("Fletcher-32 checksum of a chunk does not match (the file is damaged)")
            if deflate:
                try:  # one spare byte: with an exactly full buffer zlib would grow it to see the stream's end
                    raw = inflate(body, bufsize=nbytes + 1)
                except Exception as exc:  # zlib_ng.error: a damaged stream
                    raise ValueError(f"the deflate stream is damaged ({exc})") from None
            else:
                raw = body
            if len(raw) != nbytes:
                raise ValueError(f"a chunk decodes to {len(raw)} bytes, expected {nbytes} (the file is damaged)")
            a = np.frombuffer(raw, dtype=dtype)
            if not deflate:
                a = a.copy()
            elif size > 1:  # undo the shuffle filter
                a = a.view(np.uint8).reshape(size, -1).T.copy().view(dtype)
            return a.reshape(shape)

        return decode


CODECS = {
    "deflate": Codec("deflate", deflate=True),
    "none": Codec("none", direct=False),  # nothing to compress: HDF5's own writes and reads are fastest
    "blosc-lz4": Codec("blosc-lz4", direct=False, plugin=True),
}
# shards written before the compression was recorded (scenebench 0.1, manifest without "compression")
LEGACY = "blosc-lz4"


def get_codec(name: str | None) -> Codec:
    """The codec called ``name`` (``None``: the default), or a one-line :class:`ConfigError`."""
    name = DEFAULT if name is None else name
    try:
        return CODECS[name]
    except KeyError:
        raise ConfigError(f"--compression {name!r}: unknown; expected one of {', '.join(CODECS)}") from None


def _shuffled(chunk: np.ndarray) -> np.ndarray:
    """HDF5's shuffle filter: byte j of every item, then byte j+1, ... (a no-op for 1-byte items)."""
    a = np.ascontiguousarray(chunk)
    size = a.dtype.itemsize
    if size == 1:
        return a.reshape(-1)
    return np.ascontiguousarray(a.reshape(-1).view(np.uint8).reshape(-1, size).T).reshape(-1)


def fletcher32(buffers: Sequence) -> np.ndarray:
    """HDF5's Fletcher-32 (``H5_checksum_fletcher32``) of each buffer, ``(len(buffers),)`` uint32, in one pass.

    HDF5 sums the data as big-endian 16-bit words (an odd last byte is the
    high byte of a last word), with end-around carry: ``sum1 = Σ w_i`` and
    ``sum2 = Σ (n - i) w_i``, each folded into [1, 65535] (0 only when every
    word is 0), and returns ``sum2 << 16 | sum1``. The chunk filter stores
    it little-endian after the data.

    >>> hex(int(fletcher32([b"abcde"])[0]))
    '0x4ff029c7'
    """
    n = len(buffers)
    if not n:
        return np.zeros(0, np.uint32)
    lengths = np.fromiter((len(b) for b in buffers), np.int64, n)
    words = (lengths + 1) // 2
    total = int(words.sum())
    starts = np.zeros(n, np.int64)
    np.cumsum(words[:-1] * 2, out=starts[1:])
    odd = lengths % 2 == 1
    if odd.any():  # pad each odd buffer with a zero byte: its last byte is a word's high byte
        data = np.frombuffer(b"".join(bytes(b) + b"\0" if o else b for b, o in zip(buffers, odd)), np.uint8)
    else:
        data = np.frombuffer(b"".join(buffers), np.uint8)
    w = data.view(">u2").astype(np.int64)
    nonempty = words > 0
    first = (starts // 2)[nonempty]
    s1 = np.zeros(n, np.int64)
    s1[nonempty] = np.add.reduceat(w, first)
    # Σ (n - i) w_i over each buffer, mod 65535: n Σ w_i - Σ i w_i with i the word's index within its buffer
    local = (np.arange(total, dtype=np.int64) - np.repeat(starts // 2, words)) % _M
    iw = np.zeros(n, np.int64)
    iw[nonempty] = np.add.reduceat(local * w, first)
    a = s1 % _M
    b = (words % _M * a - iw % _M) % _M
    zero = s1 == 0
    a = np.where(a == 0, _M, a)
    b = np.where(b == 0, _M, b)
    a[zero] = 0
    b[zero] = 0
    return ((b << 16) | a).astype(np.uint32)
