"""Upload bodies: a matrix in memory, a torch tensor or a file on disk, turned into the bytes
the service decodes (README, "Sending activations from a training job") without ever holding a
second copy of the matrix.

``.npy`` files and in-memory arrays go as ``.npy`` (numpy's own header, then the array's
buffer); bfloat16 data (torch, or numpy with the ``ml_dtypes`` bfloat16 type JAX uses) goes as
a one-tensor safetensors file with dtype ``BF16``, which the service widens exactly to
float32. A tensor of a safetensors file on disk goes as a one-tensor safetensors file whose
data are read from the original file piece by piece.
"""

from __future__ import annotations

import io
import json
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Callable, Union

import numpy as np

from .errors import InvalidInputError

#: Bytes read from disk at a time while a file streams.
READ_BYTES = 1 << 20

PathLike = Union[str, "os.PathLike[str]"]


@dataclass(frozen=True)
class FileRange:
    """``length`` bytes of the file at ``path`` from ``offset``."""

    path: Path
    offset: int
    length: int


Part = Union[bytes, memoryview, FileRange]


class Body:
    """A request body made of parts (bytes, buffers, ranges of files) read one piece at a time.

    Its length is known in advance, so it goes with a ``Content-Length``; each ``read`` returns
    at most the bytes asked for, from memory or straight from disk.
    """

    def __init__(self, parts: list[Part], content_type: str) -> None:
        self.content_type = content_type
        self._parts = parts
        self._length = sum(_part_length(part) for part in parts)
        self._index = 0
        self._position = 0
        self._consumed = 0
        self._file: BinaryIO | None = None

    def __len__(self) -> int:
        return self._length

    def __iter__(self) -> Iterator[bytes]:
        while True:
            piece = self.read(READ_BYTES)
            if not piece:
                return
            yield piece

    def tell(self) -> int:
        """Bytes read so far (what HTTP libraries ask to size what is left)."""
        return self._consumed

    def read(self, size: int | None = -1) -> bytes:
        """Up to ``size`` bytes (all that is left when ``size`` is negative or None)."""
        wanted = self._length if size is None or size < 0 else size
        pieces: list[bytes] = []
        while wanted > 0 and self._index < len(self._parts):
            piece = self._read_part(self._parts[self._index], wanted)
            if not piece:
                self._next_part()
                continue
            pieces.append(piece)
            wanted -= len(piece)
            self._consumed += len(piece)
        return b"".join(pieces)

    def close(self) -> None:
        """Closes the file being read, if any."""
        if self._file is not None:
            self._file.close()
            self._file = None

    def _read_part(self, part: Part, wanted: int) -> bytes:
        if isinstance(part, FileRange):
            if self._file is None:
                self._file = open(part.path, "rb")  # noqa: SIM115 (closed by _next_part or close)
                self._file.seek(part.offset)
            left = part.length - self._position
            piece = self._file.read(min(wanted, left, READ_BYTES))
            if left > 0 and not piece:
                raise OSError(f"{part.path} ended early: was it changed while uploading?")
        else:
            view = memoryview(part).cast("B")
            piece = bytes(view[self._position : self._position + wanted])
        self._position += len(piece)
        return piece

    def _next_part(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        self._index += 1
        self._position = 0


def _part_length(part: Part) -> int:
    if isinstance(part, FileRange):
        return part.length
    return memoryview(part).nbytes


#: A callable returning a fresh :class:`Body`, so that a retried request sends it again.
BodyFactory = Callable[[], Body]


def body_factory(data: Any, tensor: str | None = None) -> BodyFactory:
    """A callable that makes the upload body of ``data`` each time it is called.

    ``data`` is a numpy array, anything with ``__array__``, a torch tensor (anything with
    ``.detach().cpu()``), or the path of a ``.npy`` or ``.safetensors`` file; ``tensor`` picks
    a tensor of a safetensors file holding several.
    """
    if isinstance(data, (str, os.PathLike)):
        return _file_factory(Path(data), tensor)
    if tensor is not None:
        raise InvalidInputError(
            None, "invalid_upload", "tensor= applies to .safetensors files only"
        )
    bits = _bfloat16_bits(data)
    if bits is not None:
        return lambda: _bf16_body(bits)
    array = _as_array(data)
    return lambda: _npy_body(array)


def _file_factory(path: Path, tensor: str | None) -> BodyFactory:
    if not path.is_file():
        raise InvalidInputError(None, "file_not_found", f"{path} is not a file")
    suffix = path.suffix.lower()
    if suffix == ".npy":
        if tensor is not None:
            raise InvalidInputError(
                None, "invalid_upload", "tensor= applies to .safetensors files only"
            )
        size = path.stat().st_size
        return lambda: Body([FileRange(path, 0, size)], "application/x-npy")
    if suffix == ".safetensors":
        prefix, data = safetensors_tensor(path, tensor)
        return lambda: Body([prefix, data], "application/octet-stream")
    raise InvalidInputError(
        None, "unknown_matrix_format", f"{path}: only .npy and .safetensors files can be uploaded"
    )


def safetensors_header(path: Path) -> tuple[int, dict[str, Any]]:
    """The length of a safetensors file's header and the header itself (without reading data)."""
    with open(path, "rb") as file:
        prefix = file.read(8)
        if len(prefix) < 8:
            raise InvalidInputError(None, "malformed_safetensors", f"{path} is too short")
        (header_len,) = struct.unpack("<Q", prefix)
        if header_len > 16 << 20:
            raise InvalidInputError(
                None, "malformed_safetensors", f"{path}: header length {header_len} is implausible"
            )
        try:
            header = json.loads(file.read(header_len))
        except ValueError as error:
            raise InvalidInputError(
                None, "malformed_safetensors", f"{path}: unreadable header: {error}"
            ) from error
    if not isinstance(header, dict):
        raise InvalidInputError(None, "malformed_safetensors", f"{path}: the header is not a map")
    header.pop("__metadata__", None)
    return header_len, header


def safetensors_tensor(path: Path, tensor: str | None) -> tuple[bytes, FileRange]:
    """The header of a one-tensor safetensors file holding ``tensor`` of ``path`` (or its only
    tensor), and where that tensor's data lie in ``path``."""
    header_len, header = safetensors_header(path)
    names = sorted(header)
    if tensor is None:
        if len(names) != 1:
            raise InvalidInputError(
                None,
                "ambiguous_tensor",
                f"{path} holds several tensors ({', '.join(names)}); pick one with tensor=",
            )
        tensor = names[0]
    info = header.get(tensor)
    if not isinstance(info, dict):
        raise InvalidInputError(
            None,
            "tensor_not_found",
            f"{path} has no tensor named {tensor!r}; it holds: {', '.join(names)}",
        )
    try:
        begin, end = (int(offset) for offset in info["data_offsets"])
        dtype, shape = str(info["dtype"]), [int(size) for size in info["shape"]]
    except (KeyError, TypeError, ValueError) as error:
        raise InvalidInputError(
            None, "malformed_safetensors", f"{path}: tensor {tensor!r} is described badly"
        ) from error
    prefix = _safetensors_prefix(tensor, dtype, shape, end - begin)
    return prefix, FileRange(path, 8 + header_len + begin, end - begin)


def _safetensors_prefix(name: str, dtype: str, shape: list[int], length: int) -> bytes:
    header = json.dumps(
        {name: {"dtype": dtype, "shape": shape, "data_offsets": [0, length]}},
        separators=(",", ":"),
    ).encode()
    header += b" " * (-len(header) % 8)
    return struct.pack("<Q", len(header)) + header


def _bfloat16_bits(data: Any) -> np.ndarray | None:
    """The 16-bit patterns of bfloat16 data (a torch tensor, or a numpy array of the
    ``ml_dtypes`` bfloat16 type that JAX arrays convert to); None for any other data."""
    if _is_torch_tensor(data):
        tensor = data.detach().cpu()
        if str(tensor.dtype) != "torch.bfloat16":
            return None
        import torch  # a torch tensor was passed, so torch is installed

        return tensor.contiguous().view(torch.int16).numpy().view(np.uint16)
    if getattr(getattr(data, "dtype", None), "name", None) != "bfloat16":
        return None
    return np.ascontiguousarray(np.asarray(data)).view(np.uint16)


def _is_torch_tensor(data: Any) -> bool:
    return hasattr(data, "detach") and hasattr(data, "cpu") and not isinstance(data, np.ndarray)


def _as_array(data: Any) -> np.ndarray:
    if _is_torch_tensor(data):
        return np.asarray(data.detach().cpu().numpy())
    return np.asarray(data)


def _npy_body(array: np.ndarray) -> Body:
    array = np.ascontiguousarray(array)
    if array.dtype.hasobject:
        raise InvalidInputError(
            None,
            "unsupported_dtype",
            "an array of Python objects cannot be uploaded; convert it with .astype(numpy.float32)",
        )
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, np.lib.format.header_data_from_array_1_0(array))
    return Body([header.getvalue(), memoryview(array).cast("B")], "application/x-npy")


def _bf16_body(bits: np.ndarray) -> Body:
    bits = np.ascontiguousarray(bits.astype("<u2", copy=False))
    shape = list(bits.shape)
    prefix = _safetensors_prefix("activations", "BF16", shape, bits.nbytes)
    return Body([prefix, memoryview(bits).cast("B")], "application/octet-stream")
