"""Open Inference Protocol (V2) tensors in JSON: datatypes, decoding inputs, encoding outputs.

Pure functions over parsed JSON bodies; no I/O. The binary tensor data extension (what
`tritonclient[http]` sends by default) lives in `oip_binary`, which fills `data` with numpy arrays
that `decode_inputs` takes as they are.

Bad input raises `BadRequestError` whose message starts with the offending field, such as
`inputs[0].shape: ...`, so the gateway can answer 400 `{"error": ...}` as the protocol asks.
"""

from __future__ import annotations

import math
from collections.abc import Container, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from streamgraph.errors import BadRequestError, InternalServerError

# OIP datatype -> numpy dtype. Little-endian and fixed size, as the binary extension lays them out.
DATATYPES: dict[str, np.dtype[Any]] = {
    "BOOL": np.dtype(np.bool_),
    "UINT8": np.dtype("<u1"),
    "UINT16": np.dtype("<u2"),
    "UINT32": np.dtype("<u4"),
    "UINT64": np.dtype("<u8"),
    "INT8": np.dtype("<i1"),
    "INT16": np.dtype("<i2"),
    "INT32": np.dtype("<i4"),
    "INT64": np.dtype("<i8"),
    "FP16": np.dtype("<f2"),
    "FP32": np.dtype("<f4"),
    "FP64": np.dtype("<f8"),
    "BYTES": np.dtype(object),
}
_VALID = ", ".join(DATATYPES)
# Keyed by native-order dtypes so that any byte order of an output array finds its datatype.
_BY_DTYPE: dict[np.dtype[Any], str] = {
    dt.newbyteorder("="): name for name, dt in DATATYPES.items() if name != "BYTES"
}
_REQUIRED = ("name", "shape", "datatype")


@dataclass(frozen=True, slots=True)
class DecodedTensor:
    """One request input: its name, OIP datatype, array (already in `shape`) and parameters.

    BYTES arrays are object arrays holding what arrived: `str` from JSON, `bytes` from the binary
    tail (as `tritonclient`'s `InferResult.as_numpy` does).
    """

    name: str
    datatype: str
    array: np.ndarray[Any, Any]
    parameters: dict[str, Any] = field(default_factory=dict)


def datatype_of(dtype: np.dtype[Any]) -> str:
    """The OIP datatype of a numpy dtype; str, bytes and object arrays are BYTES."""
    if dtype.kind in "OSU":
        return "BYTES"
    try:
        return _BY_DTYPE[dtype.newbyteorder("=")]
    except KeyError:
        raise InternalServerError(
            f"numpy dtype {dtype} has no Open Inference Protocol datatype (valid: {_VALID})"
        ) from None


def numpy_dtype(datatype: str, where: str = "datatype") -> np.dtype[Any]:
    """The numpy dtype of an OIP datatype; `where` names the field in the error."""
    try:
        return DATATYPES[datatype]
    except (KeyError, TypeError):
        raise BadRequestError(f"{where}: unknown datatype {datatype!r}; valid: {_VALID}") from None


def is_tensor_request(body: Any) -> bool:
    """True when `inputs` holds OIP tensors rather than MLRun rows (`{"inputs": [[...], ...]}`).

    An input counts as a tensor when it is an object with `name`, `shape` and `datatype`. `data`
    is not required, so a binary-extension header, or a tensor that forgot its data, reaches
    `decode_inputs`, which names what is missing instead of the MLRun path failing on dicts.
    """
    if type(body) is not dict and not isinstance(body, Mapping):
        return False
    inputs = body.get("inputs")
    if not isinstance(inputs, list) or not inputs or type(inputs[0]) is list:
        return False  # (a row first: MLRun's form, decided without a generator)
    return all(isinstance(i, Mapping) and all(k in i for k in _REQUIRED) for i in inputs)


def decode_inputs(body: Any) -> list[DecodedTensor]:
    """Decode every request input to a numpy array of its shape and datatype, in request order.

    `data` may be nested or flat row-major, or a flat ndarray put there by
    `oip_binary.parse_binary_request`. Numeric data is converted by numpy in one pass; values
    that would change (strings, floats with a fraction for an integer type, out of range) are
    refused rather than coerced.
    """
    if not isinstance(body, Mapping):
        raise BadRequestError("the request body must be a JSON object")
    if "inputs" not in body:
        raise BadRequestError("inputs: missing; an inference request needs a list of tensors")
    inputs = body["inputs"]
    if not isinstance(inputs, list):
        raise BadRequestError(f"inputs: expected a list of tensors, got {type(inputs).__name__}")
    decoded: list[DecodedTensor] = []
    seen: set[str] = set()
    for i, tensor in enumerate(inputs):
        where = f"inputs[{i}]"
        if not isinstance(tensor, Mapping):
            raise BadRequestError(f"{where}: expected an object, got {type(tensor).__name__}")
        for key in (*_REQUIRED, "data"):
            if key not in tensor:
                raise BadRequestError(f"{where}.{key}: missing")
        name = tensor["name"]
        if not isinstance(name, str) or not name:
            raise BadRequestError(f"{where}.name: expected a non-empty string, got {name!r}")
        if name in seen:
            raise BadRequestError(f"{where}.name: input {name!r} is given twice")
        seen.add(name)
        shape = _shape(tensor["shape"], f"{where}.shape")
        datatype = tensor["datatype"]
        dtype = numpy_dtype(datatype, f"{where}.datatype")
        array = _to_array(tensor["data"], datatype, dtype, f"{where}.data")
        if array.size != math.prod(shape):
            raise BadRequestError(
                f"{where}.shape: {shape} holds {math.prod(shape)} elements "
                f"but data has {array.size}"
            )
        parameters = tensor.get("parameters") or {}
        if not isinstance(parameters, Mapping):
            raise BadRequestError(f"{where}.parameters: expected an object")
        decoded.append(DecodedTensor(name, datatype, array.reshape(shape), dict(parameters)))
    return decoded


def _shape(shape: Any, where: str) -> list[int]:
    # bool is an int subclass; `[true, 2]` is not a shape.
    if not isinstance(shape, list | tuple) or not all(
        isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape
    ):
        raise BadRequestError(f"{where}: expected a list of non-negative integers, got {shape!r}")
    return list(shape)


def _to_array(data: Any, datatype: str, dtype: np.dtype[Any], where: str) -> np.ndarray[Any, Any]:
    if datatype == "BYTES":
        return _to_bytes_array(data, where)
    try:
        raw = np.asarray(data)  # numpy picks the element type in C; checked below, not per element
    except (ValueError, TypeError) as exc:
        raise BadRequestError(f"{where}: cannot be read as a {datatype} tensor ({exc})") from None
    if raw.dtype == dtype or raw.size == 0:
        return raw.astype(dtype, copy=False)
    kind = raw.dtype.kind
    if datatype == "BOOL" or kind not in "iuf":
        expected = "true/false" if datatype == "BOOL" else "numbers"
        raise BadRequestError(
            f"{where}: {datatype} data must be {expected}, got {_kind_name(kind)}"
        )
    if dtype.kind in "iu":
        if kind == "f":
            return _integral_floats(data, raw, datatype, dtype, where)
        info = np.iinfo(dtype)
        if raw.min() < info.min or raw.max() > info.max:
            raise BadRequestError(
                f"{where}: values outside the {datatype} range [{info.min}, {info.max}]"
            )
        return raw.astype(dtype)
    try:
        with np.errstate(over="raise", invalid="raise"):
            return raw.astype(dtype)
    except FloatingPointError:
        raise BadRequestError(f"{where}: values outside the {datatype} range") from None


def _integral_floats(
    data: Any, raw: np.ndarray[Any, Any], datatype: str, dtype: np.dtype[Any], where: str
) -> np.ndarray[Any, Any]:
    # numpy reads floats either when JSON wrote 3.0 for 3, or when ints past the int64 range
    # sit beside small ones (numpy's int64 + uint64 = float64), so check integrality on the
    # floats but convert the original Python values, which keeps every UINT64 value exact.
    if not np.array_equal(raw, np.trunc(raw)):
        raise BadRequestError(f"{where}: {datatype} data must be integers, got fractions")
    source = raw.tolist() if isinstance(data, np.ndarray) else data
    try:
        return np.asarray(source, dtype=dtype)
    except (OverflowError, ValueError, TypeError):
        raise BadRequestError(f"{where}: values outside the {datatype} range") from None


def _kind_name(kind: str) -> str:
    return {
        "b": "booleans",
        "i": "integers",
        "u": "integers",
        "f": "floats",
        "U": "strings",
        "S": "strings",
    }.get(kind, "mixed or non-numeric values (null, objects, out-of-range integers)")


def _to_bytes_array(data: Any, where: str) -> np.ndarray[Any, Any]:
    # dtype=object keeps each string whole; numpy's fixed-width str dtypes drop trailing NULs.
    try:
        array = np.array(data, dtype=object)
    except (ValueError, TypeError) as exc:
        raise BadRequestError(f"{where}: cannot be read as a BYTES tensor ({exc})") from None
    for item in array.flat:  # BYTES elements are Python objects, so a loop is the only way
        if not isinstance(item, str | bytes):
            raise BadRequestError(
                f"{where}: BYTES elements must be strings, got {type(item).__name__} "
                "(nested lists must all have the same length)"
            )
    return array


def encode_outputs(
    values: Any,
    names: Sequence[str] | None = None,
    binary: bool | Container[str] = False,
) -> list[dict[str, Any]]:
    """Encode model outputs as OIP output tensors `{name, shape, datatype, data}`.

    `values` is one output (ndarray, list, scalar), a tuple of outputs, or a dict name -> output.
    Names come from the dict, else from `names`, else `output0`, `output1`... The datatype comes
    from the numpy dtype (int64 -> INT64, float32 -> FP32, str/bytes -> BYTES...). `data` is flat
    row-major, as Triton returns it: a list for JSON; for the outputs selected by `binary` (True
    for all, or a container of names such as `oip_binary.requested_binary_outputs(request)`) a flat
    ndarray, so `oip_binary.build_binary_response` takes its bytes without a round trip through
    Python objects.
    """
    if isinstance(values, Mapping):
        if names is not None:
            raise InternalServerError("encode_outputs: give names either as dict keys or `names`")
        pairs = [(str(k), v) for k, v in values.items()]
    else:
        outputs = list(values) if isinstance(values, tuple) else [values]
        if names is None:
            names = [f"output{i}" for i in range(len(outputs))]
        elif len(names) != len(outputs):
            raise InternalServerError(
                f"encode_outputs: {len(names)} names for {len(outputs)} outputs"
            )
        pairs = list(zip(names, outputs, strict=True))
    return [
        _encode(name, value, binary is True or (binary is not False and name in binary))
        for name, value in pairs
    ]


def _encode(name: str, value: Any, binary: bool) -> dict[str, Any]:
    array = _as_output_array(name, value)
    datatype = datatype_of(array.dtype)
    flat = array.reshape(-1)  # C order: row-major, a view when the array is contiguous
    data: Any = flat if binary else json_data(name, flat, datatype)
    return {"name": name, "shape": list(array.shape), "datatype": datatype, "data": data}


def _as_output_array(name: str, value: Any) -> np.ndarray[Any, Any]:
    try:
        array = np.asarray(value)
        if array.dtype.kind in "SU" and not isinstance(value, np.ndarray):
            # Rebuild from the Python values: fixed-width str/bytes would drop trailing NULs.
            array = np.array(value, dtype=object)
    except (ValueError, TypeError) as exc:
        raise InternalServerError(f"output {name!r} is not a tensor: {exc}") from None
    if array.dtype.kind == "O":
        for item in array.flat:
            if not isinstance(item, str | bytes):
                raise InternalServerError(
                    f"output {name!r}: an object array must hold only str or bytes "
                    f"(BYTES), got {type(item).__name__}"
                )
    return array


def json_data(name: str, array: np.ndarray[Any, Any], datatype: str) -> list[Any]:
    """An output's values as a flat row-major JSON list; BYTES become UTF-8 strings."""
    flat = array.reshape(-1).tolist()
    if datatype != "BYTES":
        return flat
    try:
        return [item if isinstance(item, str) else bytes(item).decode("utf-8") for item in flat]
    except UnicodeDecodeError:
        raise BadRequestError(
            f"output {name!r} holds BYTES that are not UTF-8 and cannot be sent as JSON; "
            "request it with parameters.binary_data: true"
        ) from None


__all__ = [
    "DATATYPES",
    "DecodedTensor",
    "datatype_of",
    "decode_inputs",
    "encode_outputs",
    "is_tensor_request",
    "json_data",
    "numpy_dtype",
]
