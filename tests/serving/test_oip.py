"""The OIP tensor codec, checked against the protocol text and against `tritonclient[http]` itself.

`tritonclient` builds requests exactly as real clients send them (`generate_request_body`) and
parses responses exactly as real clients read them (`InferResult`), so agreement with it is
agreement with the wire.
"""

from __future__ import annotations

import struct
from typing import Any

import numpy as np
import orjson
import pytest
import tritonclient.http as triton
from tritonclient.utils import np_to_triton_dtype

from streamgraph.errors import BadRequestError, InternalServerError, status_of
from streamgraph.serving.oip import (
    DATATYPES,
    decode_inputs,
    encode_outputs,
    is_tensor_request,
)
from streamgraph.serving.oip_binary import (
    BinaryOutputs,
    build_binary_response,
    parse_binary_request,
    requested_binary_outputs,
)

# One 2x2 tensor per datatype, with each type's extremes where JSON can carry them exactly.
SAMPLES: dict[str, np.ndarray[Any, Any]] = {
    "BOOL": np.array([[True, False], [False, True]]),
    "UINT8": np.array([[0, 1], [254, 255]], dtype=np.uint8),
    "UINT16": np.array([[0, 1], [65534, 65535]], dtype=np.uint16),
    "UINT32": np.array([[0, 1], [2**32 - 2, 2**32 - 1]], dtype=np.uint32),
    "UINT64": np.array([[0, 1], [2**64 - 2, 2**64 - 1]], dtype=np.uint64),
    "INT8": np.array([[-128, -1], [0, 127]], dtype=np.int8),
    "INT16": np.array([[-(2**15), -1], [0, 2**15 - 1]], dtype=np.int16),
    "INT32": np.array([[-(2**31), -1], [0, 2**31 - 1]], dtype=np.int32),
    "INT64": np.array([[-(2**63), -1], [0, 2**63 - 1]], dtype=np.int64),
    "FP16": np.array([[0.5, -1.25], [65504.0, 0.0]], dtype=np.float16),
    "FP32": np.array([[1.5, -2.25], [3.4e38, 1e-30]], dtype=np.float32),
    "FP64": np.array([[1e-300, -1.5], [1.7e308, 0.1]], dtype=np.float64),
    "BYTES": np.array([[b"a", b""], ["café".encode(), b"with space"]], dtype=object),
}
ALL = sorted(SAMPLES)


def as_text(array: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """BYTES as they come back from JSON: str elements."""
    out = np.empty(array.shape, dtype=object)
    out.flat[:] = [b.decode() for b in array.flat]
    return out


def assert_same(actual: np.ndarray[Any, Any], expected: np.ndarray[Any, Any]) -> None:
    assert actual.dtype == expected.dtype
    assert actual.shape == expected.shape
    assert np.array_equal(actual, expected)


def triton_input(name: str, array: np.ndarray[Any, Any], binary: bool) -> triton.InferInput:
    tensor = triton.InferInput(name, list(array.shape), np_to_triton_dtype(array.dtype))
    tensor.set_data_from_numpy(array, binary_data=binary)
    return tensor


def triton_body(arrays: dict[str, np.ndarray[Any, Any]], **kwargs: Any) -> tuple[bytes, int]:
    body, header_length = triton.InferenceServerClient.generate_request_body(
        [triton_input(name, array, binary=True) for name, array in arrays.items()], **kwargs
    )
    assert header_length is not None
    return body, header_length


def bad_request(body: Any) -> str:
    with pytest.raises(BadRequestError) as info:
        decode_inputs(body)
    assert status_of(info.value) == 400
    return str(info.value)


def tensor(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"name": "x", "shape": [2], "datatype": "FP32", "data": [1.0, 2.0]}
    base.update(fields)
    return {key: value for key, value in base.items() if value is not ...}


# --- datatypes and JSON round trips ---------------------------------------------------------


def test_every_oip_datatype_is_mapped() -> None:
    assert set(DATATYPES) == set(SAMPLES)


@pytest.mark.parametrize("datatype", ALL)
def test_json_round_trip(datatype: str) -> None:
    [output] = encode_outputs(SAMPLES[datatype], names=["t"])
    assert output["datatype"] == datatype
    assert output["shape"] == [2, 2]
    wire = orjson.loads(orjson.dumps({"inputs": [output]}))  # through real JSON bytes
    [decoded] = decode_inputs(wire)
    expected = as_text(SAMPLES[datatype]) if datatype == "BYTES" else SAMPLES[datatype]
    assert decoded.name == "t" and decoded.datatype == datatype
    assert_same(decoded.array, expected)


@pytest.mark.parametrize("datatype", ALL)
def test_decodes_tritonclient_json_request(datatype: str) -> None:
    body, header_length = triton.InferenceServerClient.generate_request_body(
        [triton_input("t", SAMPLES[datatype], binary=False)]
    )
    assert header_length is None  # all JSON: no binary tail
    request = orjson.loads(body)
    assert is_tensor_request(request)
    [decoded] = decode_inputs(request)
    expected = as_text(SAMPLES[datatype]) if datatype == "BYTES" else SAMPLES[datatype]
    assert_same(decoded.array, expected)


@pytest.mark.parametrize("datatype", ["INT32", "FP64", "BOOL", "BYTES"])
def test_nested_and_flat_data_decode_alike(datatype: str) -> None:
    nested = encode_outputs(SAMPLES[datatype])[0]
    flat_data = nested["data"]
    nested_data = [flat_data[:2], flat_data[2:]]
    arrays = [
        decode_inputs({"inputs": [{**nested, "data": data}]})[0].array
        for data in (flat_data, nested_data)
    ]
    assert arrays[0].shape == (2, 2)
    assert_same(arrays[0], arrays[1])


def test_integral_floats_are_accepted_for_integer_types() -> None:
    [decoded] = decode_inputs({"inputs": [tensor(datatype="INT32", data=[3.0, -1.0])]})
    assert_same(decoded.array, np.array([3, -1], dtype=np.int32))


def test_inputs_keep_request_order_and_parameters() -> None:
    body = {
        "inputs": [
            tensor(name="b", parameters={"content_type": "np"}),
            tensor(name="a", datatype="INT8", data=[1, 2]),
        ]
    }
    decoded = decode_inputs(body)
    assert [d.name for d in decoded] == ["b", "a"]
    assert decoded[0].parameters == {"content_type": "np"}
    assert decoded[1].array.dtype == np.int8


# --- request form detection -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"inputs": [tensor()]}, True),
        ({"inputs": [tensor(data=...)]}, True),  # a binary header; decode names what is missing
        ({"inputs": [[1, 2], [3, 4]]}, False),  # MLRun rows
        ({"inputs": [{"age": 3, "name": "x"}]}, False),  # MLRun feature dicts
        ({"inputs": [tensor(), [1, 2]]}, False),
        ({"inputs": []}, False),
        ({"data": [1]}, False),
        ([tensor()], False),
        (None, False),
    ],
)
def test_is_tensor_request(body: Any, expected: bool) -> None:
    assert is_tensor_request(body) is expected


# --- decode errors name the field -----------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "fragments"),
    [
        ([1], ["JSON object"]),
        ({}, ["inputs: missing"]),
        ({"inputs": {"x": 1}}, ["inputs: expected a list"]),
        ({"inputs": [[1.0]]}, ["inputs[0]: expected an object"]),
        ({"inputs": [tensor(name=...)]}, ["inputs[0].name: missing"]),
        ({"inputs": [tensor(shape=...)]}, ["inputs[0].shape: missing"]),
        ({"inputs": [tensor(datatype=...)]}, ["inputs[0].datatype: missing"]),
        ({"inputs": [tensor(data=...)]}, ["inputs[0].data: missing"]),
        ({"inputs": [tensor(name=7)]}, ["inputs[0].name"]),
        ({"inputs": [tensor(), tensor()]}, ["inputs[1].name", "twice"]),
        ({"inputs": [tensor(shape="2")]}, ["inputs[0].shape"]),
        ({"inputs": [tensor(shape=[-2])]}, ["inputs[0].shape"]),
        ({"inputs": [tensor(shape=[True, 2])]}, ["inputs[0].shape"]),
        ({"inputs": [tensor(datatype="FP8")]}, ["inputs[0].datatype", "'FP8'", "FP32", "BYTES"]),
        ({"inputs": [tensor(datatype="fp32")]}, ["inputs[0].datatype", "'fp32'"]),
        ({"inputs": [tensor(shape=[3])]}, ["inputs[0].shape", "3 elements", "data has 2"]),
        ({"inputs": [tensor(shape=[2, 2])]}, ["inputs[0].shape"]),
        ({"inputs": [tensor(data=["1", "2"])]}, ["inputs[0].data", "strings"]),
        ({"inputs": [tensor(data=[1.0, None])]}, ["inputs[0].data"]),
        ({"inputs": [tensor(data=[[1.0], [2.0, 3.0]])]}, ["inputs[0].data"]),
        ({"inputs": [tensor(data=[1e300, 1.0])]}, ["inputs[0].data", "FP32 range"]),
        ({"inputs": [tensor(datatype="INT32", data=[1.5, 2])]}, ["inputs[0].data", "fraction"]),
        ({"inputs": [tensor(datatype="UINT8", data=[300, 1])]}, ["inputs[0].data", "UINT8"]),
        ({"inputs": [tensor(datatype="UINT32", data=[-1, 1])]}, ["inputs[0].data", "UINT32"]),
        ({"inputs": [tensor(datatype="INT64", data=[2**64 - 1, 1])]}, ["inputs[0].data"]),
        ({"inputs": [tensor(datatype="INT64", data=[True, False])]}, ["inputs[0].data"]),
        ({"inputs": [tensor(datatype="BOOL", data=[1, 0])]}, ["inputs[0].data", "true/false"]),
        ({"inputs": [tensor(datatype="BYTES", data=["a", 2])]}, ["inputs[0].data", "int"]),
        ({"inputs": [tensor(datatype="BYTES", data=[["a"], ["b", "c"]])]}, ["inputs[0].data"]),
        ({"inputs": [tensor(parameters=[1])]}, ["inputs[0].parameters"]),
        ({"inputs": [tensor(), tensor(name="y", datatype="X")]}, ["inputs[1].datatype"]),
    ],
)
def test_decode_errors_name_the_field(body: Any, fragments: list[str]) -> None:
    message = bad_request(body)
    for fragment in fragments:
        assert fragment in message


# --- encoding outputs -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "datatype", "shape", "data"),
    [
        ([1, 2, 3], "INT64", [3], [1, 2, 3]),
        ([[0.5], [1.5]], "FP64", [2, 1], [0.5, 1.5]),
        ([True, False], "BOOL", [2], [True, False]),
        (["a", "b\x00"], "BYTES", [2], ["a", "b\x00"]),  # trailing NUL kept
        ([b"x"], "BYTES", [1], ["x"]),
        (np.float32(2.5), "FP32", [], [2.5]),
        (7, "INT64", [], [7]),
        (np.arange(6, dtype=np.int16).reshape(2, 3).T, "INT16", [3, 2], [0, 3, 1, 4, 2, 5]),
        (np.array([1, 256], dtype=">u2"), "UINT16", [2], [1, 256]),
    ],
)
def test_encode_infers_datatype_and_flattens_row_major(
    value: Any, datatype: str, shape: list[int], data: list[Any]
) -> None:
    [output] = encode_outputs(value)
    assert output == {"name": "output0", "shape": shape, "datatype": datatype, "data": data}


def test_encode_names_outputs() -> None:
    assert [o["name"] for o in encode_outputs(([1], [2]))] == ["output0", "output1"]
    assert [o["name"] for o in encode_outputs(([1], [2]), names=["a", "b"])] == ["a", "b"]
    assert [o["name"] for o in encode_outputs({"p": [1], "q": [0.5]})] == ["p", "q"]


def test_encode_keeps_binary_outputs_as_flat_arrays() -> None:
    outputs = encode_outputs({"a": np.ones((2, 2)), "b": [1]}, binary={"a"})
    assert isinstance(outputs[0]["data"], np.ndarray) and outputs[0]["data"].shape == (4,)
    assert outputs[1]["data"] == [1]


@pytest.mark.parametrize(
    ("call", "fragment"),
    [
        (lambda: encode_outputs(np.array([1j])), "complex"),
        (lambda: encode_outputs(np.array([1, "a"], dtype=object)), "int"),
        (lambda: encode_outputs(([1], [2]), names=["a"]), "1 names for 2 outputs"),
        (lambda: encode_outputs({"a": 1}, names=["a"]), "names"),
        (lambda: encode_outputs([[1], [2, 3]]), "not a tensor"),
    ],
)
def test_encode_errors_are_server_errors(call: Any, fragment: str) -> None:
    with pytest.raises(InternalServerError, match=fragment):
        call()


def test_non_utf8_bytes_cannot_go_to_json() -> None:
    with pytest.raises(BadRequestError, match="binary_data"):
        encode_outputs(np.array([b"\xff"], dtype=object), names=["raw"])


# --- binary requests ------------------------------------------------------------------------


@pytest.mark.parametrize("datatype", ALL)
def test_parses_tritonclient_binary_request(datatype: str) -> None:
    body, header_length = triton_body({"t": SAMPLES[datatype]})
    request = parse_binary_request(body, header_length)
    assert is_tensor_request(request)
    [decoded] = decode_inputs(request)
    assert_same(decoded.array, SAMPLES[datatype])  # BYTES stay bytes
    assert decoded.array.flags.writeable


def test_parses_several_binary_inputs_in_header_order() -> None:
    body, header_length = triton_body(SAMPLES)
    decoded = decode_inputs(parse_binary_request(body, header_length))
    assert [d.name for d in decoded] == list(SAMPLES)
    for d in decoded:
        assert_same(d.array, SAMPLES[d.name])


def test_parses_the_protocol_example_by_hand() -> None:
    # The extension's own example: UINT32 [2, 2] (16 bytes) then BOOL [3] (3 bytes).
    header = orjson.dumps(
        {
            "inputs": [
                {
                    "name": "input0",
                    "shape": [2, 2],
                    "datatype": "UINT32",
                    "parameters": {"binary_data_size": 16},
                },
                {
                    "name": "input1",
                    "shape": [3],
                    "datatype": "BOOL",
                    "parameters": {"binary_data_size": 3},
                },
                {"name": "text", "shape": [2], "datatype": "BYTES", "data": ["json", "mixed in"]},
                {
                    "name": "words",
                    "shape": [2],
                    "datatype": "BYTES",
                    "parameters": {"binary_data_size": 11},
                },
            ]
        }
    )
    tail = struct.pack("<4I", 1, 2, 3, 2**32 - 1) + b"\x01\x00\x01"
    tail += b"\x03\x00\x00\x00abc" + b"\x00\x00\x00\x00"
    a, b, text, words = decode_inputs(parse_binary_request(header + tail, len(header)))
    assert_same(a.array, np.array([[1, 2], [3, 2**32 - 1]], dtype=np.uint32))
    assert_same(b.array, np.array([True, False, True]))
    assert text.array.tolist() == ["json", "mixed in"]
    assert words.array.tolist() == [b"abc", b""]


def binary_request(datatype: str, size: Any, tail: bytes, **extra: Any) -> tuple[bytes, int]:
    input_: dict[str, Any] = {"name": "x", "shape": [1], "datatype": datatype}
    input_.update({"parameters": {"binary_data_size": size}, **extra})
    header = orjson.dumps({"inputs": [input_]})
    return header + tail, len(header)


@pytest.mark.parametrize(
    ("request_", "fragments"),
    [
        ((b"{}", 3), ["Inference-Header-Content-Length"]),
        ((b"{}", -1), ["Inference-Header-Content-Length"]),
        ((b"{nope", 5), ["not valid JSON"]),
        ((b"[1]", 3), ["must be an object"]),
        ((b'{"x":1}', 7), ["inputs"]),
        (binary_request("FP32", 8, b"\x00" * 4), ["inputs[0].parameters.binary_data_size", "8"]),
        (binary_request("FP32", 4, b"\x00" * 6), ["2 bytes", "belong to no input"]),
        (binary_request("FP32", 3, b"\x00" * 3), ["inputs[0].parameters.binary_data_size"]),
        (binary_request("FP32", -4, b""), ["inputs[0].parameters.binary_data_size"]),
        (binary_request("FP32", True, b"\x00"), ["inputs[0].parameters.binary_data_size"]),
        (binary_request("FP8", 4, b"\x00" * 4), ["inputs[0].datatype", "'FP8'"]),
        (binary_request("BOOL", 1, b"\x02"), ["BOOL", "0 or 1"]),
        (binary_request("BYTES", 2, b"\x01\x00"), ["inputs[0]", "cut short"]),
        (binary_request("BYTES", 5, b"\x09\x00\x00\x00a"), ["inputs[0]", "runs past"]),
        (binary_request("INT8", 1, b"\x01", data=[1]), ["inputs[0].data"]),
    ],
)
def test_binary_request_errors(request_: tuple[bytes, int], fragments: list[str]) -> None:
    with pytest.raises(BadRequestError) as info:
        parse_binary_request(*request_)
    for fragment in fragments:
        assert fragment in str(info.value)


# --- which outputs go binary ----------------------------------------------------------------


def requested(**kwargs: Any) -> BinaryOutputs:
    body, header_length = triton_body({"x": SAMPLES["FP32"]}, **kwargs)
    return requested_binary_outputs(orjson.loads(body[:header_length]))


def test_tritonclient_default_asks_all_outputs_binary() -> None:
    selection = requested()
    assert "anything" in selection and selection.requested


def test_tritonclient_requested_outputs_choose_one_by_one() -> None:
    outputs = [
        triton.InferRequestedOutput("a"),
        triton.InferRequestedOutput("b", binary_data=False),
    ]
    selection = requested(outputs=outputs)
    assert "a" in selection
    assert "b" not in selection
    assert "c" not in selection


def test_per_output_flag_overrides_request_flag() -> None:
    request = {
        "parameters": {"binary_data_output": True},
        "outputs": [{"name": "b", "parameters": {"binary_data": False}}, {"name": "c"}],
    }
    selection = requested_binary_outputs(request)
    assert "b" not in selection and "c" in selection and "other" in selection
    assert not requested_binary_outputs({"inputs": []}).requested


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        ({"parameters": {"binary_data_output": "yes"}}, "parameters.binary_data_output"),
        ({"parameters": [1]}, "parameters"),
        ({"outputs": {"a": 1}}, "outputs"),
        ({"outputs": [{"parameters": {}}]}, "outputs[0].name"),
        ({"outputs": [{"name": "a", "parameters": 3}]}, "outputs[0].parameters"),
        ({"outputs": [{"name": "a", "parameters": {"binary_data": 1}}]}, "binary_data"),
    ],
)
def test_requested_binary_outputs_errors(request_: dict[str, Any], field: str) -> None:
    with pytest.raises(BadRequestError, match=field.replace("[", r"\[").replace("]", r"\]")):
        requested_binary_outputs(request_)


# --- binary responses -----------------------------------------------------------------------


@pytest.mark.parametrize("datatype", ALL)
def test_binary_response_matches_tritonclient_bytes_and_parses(datatype: str) -> None:
    array = SAMPLES[datatype]
    response = {"model_name": "m", "outputs": encode_outputs({"t": array}, binary=True)}
    body, header_length = build_binary_response(response, True)
    triton_request, triton_header_length = triton_body({"t": array})
    # Byte for byte what tritonclient itself writes for this tensor.
    assert body[header_length:] == triton_request[triton_header_length:]
    header = orjson.loads(body[:header_length])
    assert header["outputs"][0]["parameters"] == {"binary_data_size": len(body) - header_length}
    assert "data" not in header["outputs"][0]
    result = triton.InferenceServerClient.parse_response_body(body, header_length=header_length)
    assert_same(result.as_numpy("t"), array)


def test_binary_response_by_hand() -> None:
    response = {
        "outputs": [
            {
                "name": "f",
                "shape": [2],
                "datatype": "FP32",
                "parameters": {"content_type": "np"},
                "data": [1.0, 2.0],
            },
            {"name": "s", "shape": [1], "datatype": "BYTES", "data": ["ab"]},
        ]
    }
    body, header_length = build_binary_response(response, True)
    assert body[header_length:] == struct.pack("<2f", 1.0, 2.0) + b"\x02\x00\x00\x00ab"
    header = orjson.loads(body[:header_length])
    assert header["outputs"][0]["parameters"] == {"content_type": "np", "binary_data_size": 8}
    assert header["outputs"][1]["parameters"] == {"binary_data_size": 6}


def test_mixed_response_keeps_json_outputs_and_order() -> None:
    arrays = {"a": SAMPLES["FP16"], "b": SAMPLES["BYTES"], "c": SAMPLES["INT64"]}
    selection = BinaryOutputs(default=True, json=frozenset({"b"}))
    response = {
        "id": "42",
        "outputs": encode_outputs(arrays, binary=selection),
        "parameters": {"k": 1},
    }
    original = orjson.dumps(response, option=orjson.OPT_SERIALIZE_NUMPY)
    body, header_length = build_binary_response(response, selection)
    assert orjson.dumps(response, option=orjson.OPT_SERIALIZE_NUMPY) == original  # not mutated
    header = orjson.loads(body[:header_length])
    assert header["id"] == "42" and header["parameters"] == {"k": 1}
    assert [o["name"] for o in header["outputs"]] == ["a", "b", "c"]
    assert header["outputs"][1]["data"] == as_text(arrays["b"]).reshape(-1).tolist()
    tail = triton_body({"a": arrays["a"], "c": arrays["c"]})
    assert body[header_length:] == tail[0][tail[1] :]
    result = triton.InferenceServerClient.parse_response_body(body, header_length=header_length)
    assert_same(result.as_numpy("a"), arrays["a"])
    assert_same(result.as_numpy("b"), as_text(arrays["b"]))
    assert_same(result.as_numpy("c"), arrays["c"])


def test_json_only_response_has_no_tail() -> None:
    response = {"outputs": encode_outputs({"a": SAMPLES["INT8"]}, binary={"a"})}
    body, header_length = build_binary_response(response, False)
    assert header_length == len(body)
    result = triton.InferenceServerClient.parse_response_body(body)
    assert_same(result.as_numpy("a"), SAMPLES["INT8"])


def test_empty_tensor_goes_binary_with_size_zero() -> None:
    response = {"outputs": encode_outputs({"e": np.zeros((0, 3), dtype=np.float32)})}
    body, header_length = build_binary_response(response, {"e"})
    assert orjson.loads(body[:header_length])["outputs"][0]["parameters"] == {"binary_data_size": 0}
    result = triton.InferenceServerClient.parse_response_body(body, header_length=header_length)
    assert result.as_numpy("e").shape == (0, 3)
