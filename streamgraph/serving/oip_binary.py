"""The binary tensor data extension of the Open Inference Protocol (Triton, KServe).

A binary body is the JSON header followed by the raw tensors, in the order of the tensors in the
header, each little-endian and row-major with no padding; BYTES elements are a 4-byte
little-endian length followed by the bytes. The `Inference-Header-Content-Length` HTTP header
gives the JSON length. `tritonclient[http]` sends inputs this way and asks for binary outputs by
default (`parameters.binary_data_output: true`, or `binary_data: true` on each requested output).
"""

from __future__ import annotations

import struct
from collections.abc import Container, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from streamgraph.errors import BadRequestError, InternalServerError
from streamgraph.serving.oip import DATATYPES, json_data, numpy_dtype

_LENGTH = struct.Struct("<I")

# the HTTP header giving the JSON length of a binary body (lower case, as events carry it)
HEADER_LENGTH = "inference-header-content-length"


@dataclass(frozen=True, slots=True)
class BinaryOutputs:
    """Which outputs a request wants as binary data; `name in selection` answers for one output.

    `default` comes from the request's `parameters.binary_data_output`; a requested output's own
    `parameters.binary_data` overrides it (true names land in `binary`, false ones in `json`).
    """

    default: bool = False
    binary: frozenset[str] = frozenset()
    json: frozenset[str] = frozenset()

    def __contains__(self, name: object) -> bool:
        return name in self.binary or (self.default and name not in self.json)

    @property
    def requested(self) -> bool:
        """Whether any output may go binary, i.e. whether the binary response path is needed."""
        return self.default or bool(self.binary)


NO_BINARY = BinaryOutputs()


def requested_binary_outputs(request: Mapping[str, Any]) -> BinaryOutputs:
    """Read from a request which outputs it wants as binary data."""
    parameters = request.get("parameters") or {}
    if not isinstance(parameters, Mapping):
        raise BadRequestError("parameters: expected an object")
    default = parameters.get("binary_data_output", False)
    if not isinstance(default, bool):
        raise BadRequestError(f"parameters.binary_data_output: expected a boolean, got {default!r}")
    outputs = request.get("outputs") or []
    if not isinstance(outputs, list):
        raise BadRequestError("outputs: expected a list of requested outputs")
    binary: set[str] = set()
    json: set[str] = set()
    for i, output in enumerate(outputs):
        if not isinstance(output, Mapping) or not isinstance(output.get("name"), str):
            raise BadRequestError(f"outputs[{i}].name: expected an object with a string name")
        params = output.get("parameters") or {}
        if not isinstance(params, Mapping):
            raise BadRequestError(f"outputs[{i}].parameters: expected an object")
        if "binary_data" in params:
            flag = params["binary_data"]
            if not isinstance(flag, bool):
                raise BadRequestError(
                    f"outputs[{i}].parameters.binary_data: expected a boolean, got {flag!r}"
                )
            (binary if flag else json).add(output["name"])
    return BinaryOutputs(default, frozenset(binary), frozenset(json))


def parse_binary_request(body: bytes, header_length: int) -> dict[str, Any]:
    """Split a binary-extension request into its JSON header and tensors.

    Each input with `parameters.binary_data_size` gets `data`: a flat, writable numpy array of
    its datatype (an object array of `bytes` for BYTES), which `oip.decode_inputs` reshapes.
    Other inputs keep their JSON `data`.
    """
    if (
        isinstance(header_length, bool)
        or not isinstance(header_length, int)
        or not (0 <= header_length <= len(body))
    ):
        raise BadRequestError(
            f"Inference-Header-Content-Length: {header_length!r} is not within the "
            f"{len(body)}-byte body"
        )
    try:
        request = orjson.loads(body[:header_length])
    except orjson.JSONDecodeError as exc:
        raise BadRequestError(f"the JSON header is not valid JSON: {exc}") from None
    if not isinstance(request, dict):
        raise BadRequestError("the JSON header must be an object")
    inputs = request.get("inputs")
    if not isinstance(inputs, list):
        raise BadRequestError("inputs: missing or not a list of tensors")
    view = memoryview(body)
    offset = header_length
    for i, tensor in enumerate(inputs):
        params = tensor.get("parameters") if isinstance(tensor, dict) else None
        if not isinstance(params, dict) or "binary_data_size" not in params:
            continue
        where = f"inputs[{i}]"
        size = params["binary_data_size"]
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise BadRequestError(
                f"{where}.parameters.binary_data_size: expected a non-negative integer"
            )
        if "data" in tensor:
            raise BadRequestError(f"{where}.data: not allowed with binary_data_size")
        if offset + size > len(body):
            raise BadRequestError(
                f"{where}.parameters.binary_data_size: {size} bytes wanted but only "
                f"{len(body) - offset} remain after the header and earlier inputs"
            )
        datatype = tensor.get("datatype")
        dtype = numpy_dtype(datatype, f"{where}.datatype")
        chunk = view[offset : offset + size]
        tensor["data"] = _from_bytes(chunk, datatype, dtype, f"{where}.parameters.binary_data_size")
        offset += size
    if offset != len(body):
        raise BadRequestError(
            f"{len(body) - offset} bytes after the JSON header belong to no input "
            "(check parameters.binary_data_size)"
        )
    return request


def _from_bytes(
    chunk: memoryview, datatype: str, dtype: np.dtype[Any], where: str
) -> np.ndarray[Any, Any]:
    if datatype == "BYTES":
        return deserialize_bytes(chunk, where)
    if len(chunk) % dtype.itemsize:
        raise BadRequestError(
            f"{where}: {len(chunk)} bytes is not a whole number of {dtype.itemsize}-byte "
            f"{datatype} elements"
        )
    # Copy into native order: the model gets a writable array, not a view of the request body.
    array = np.frombuffer(chunk, dtype=dtype).astype(dtype.newbyteorder("="))
    if datatype == "BOOL" and array.view(np.uint8).max(initial=0) > 1:
        raise BadRequestError(f"{where}: BOOL bytes must be 0 or 1")
    return array


def deserialize_bytes(buffer: memoryview | bytes, where: str = "data") -> np.ndarray[Any, Any]:
    """BYTES elements (4-byte little-endian length, then the bytes) -> flat object array."""
    view = memoryview(buffer)
    items: list[bytes] = []
    offset = 0
    while offset < len(view):
        if offset + 4 > len(view):
            raise BadRequestError(f"{where}: a BYTES element length is cut short")
        (length,) = _LENGTH.unpack_from(view, offset)
        offset += 4
        if offset + length > len(view):
            raise BadRequestError(
                f"{where}: a BYTES element of {length} bytes runs past the end of its tensor"
            )
        items.append(bytes(view[offset : offset + length]))
        offset += length
    array = np.empty(len(items), dtype=object)
    array[:] = items  # element-wise: np.array(items) would make a fixed-width bytes array
    return array


def serialize_bytes(array: np.ndarray[Any, Any]) -> bytes:
    """A BYTES tensor -> its elements in row-major order, each 4-byte length then bytes.

    `str` elements are sent as UTF-8, as `tritonclient` does.
    """
    parts: list[bytes] = []
    for item in array.reshape(-1).tolist():
        raw = item.encode("utf-8") if isinstance(item, str) else bytes(item)
        if len(raw) > 0xFFFFFFFF:
            raise InternalServerError("a BYTES element is over the 4 GiB the length field holds")
        parts.append(_LENGTH.pack(len(raw)))
        parts.append(raw)
    return b"".join(parts)


def build_binary_response(
    response: Mapping[str, Any], binary_outputs: bool | Container[str]
) -> tuple[bytes, int]:
    """Move the chosen outputs' data to a binary tail; return the body and its JSON length.

    `binary_outputs` is True for all, False for none, or a container of names (a set, or
    `requested_binary_outputs(request)`). Each chosen output loses `data` and gains
    `parameters.binary_data_size`. The int is the value of `Inference-Header-Content-Length`;
    when it equals `len(body)` nothing went binary and the header may be left out. The response
    is not changed; ndarray `data` left as JSON is written as a flat list.
    """
    outputs = response.get("outputs")
    if not isinstance(outputs, list):
        raise InternalServerError("build_binary_response: the response has no outputs list")
    header = dict(response)
    header["outputs"] = []
    tail: list[bytes] = []
    for output in outputs:
        if not isinstance(output, Mapping):
            raise InternalServerError("build_binary_response: an output is not an object")
        out = dict(output)
        name, datatype = out.get("name"), out.get("datatype")
        if datatype not in DATATYPES:
            raise InternalServerError(f"output {name!r}: unknown datatype {datatype!r}")
        if binary_outputs is True or (binary_outputs is not False and name in binary_outputs):
            raw = _to_bytes(out.pop("data"), datatype)
            out["parameters"] = {**(out.get("parameters") or {}), "binary_data_size": len(raw)}
            tail.append(raw)
        elif isinstance(out.get("data"), np.ndarray):
            out["data"] = json_data(str(name), out["data"], datatype)
        header["outputs"].append(out)
    head = orjson.dumps(header, option=orjson.OPT_SERIALIZE_NUMPY)
    return head + b"".join(tail), len(head)


def _to_bytes(data: Any, datatype: str) -> bytes:
    if datatype == "BYTES":
        return serialize_bytes(np.array(data, dtype=object))
    # DATATYPES are little-endian, so this is the wire layout whatever the host's byte order.
    return np.asarray(data, dtype=DATATYPES[datatype]).tobytes()


__all__ = [
    "HEADER_LENGTH",
    "NO_BINARY",
    "BinaryOutputs",
    "build_binary_response",
    "deserialize_bytes",
    "parse_binary_request",
    "requested_binary_outputs",
    "serialize_bytes",
]
