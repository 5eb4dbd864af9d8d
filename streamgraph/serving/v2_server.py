"""V2ModelServer: a model behind the V2 protocol (MLRun's `V2ModelServer`).

Subclasses override `load()` and `predict(request)` (and optionally `preprocess`, `validate`,
`postprocess`, `explain`, or `op_<name>(event)` for custom operations). A router calls
`handle(op, event, body)`; used as a plain flow step the server answers through `do_event`.
Requests come in MLRun's form (`{"inputs": [[...], ...]}`) or as OIP tensors; tensor requests get
tensor outputs back.
"""

from __future__ import annotations

import threading
from contextvars import ContextVar
from typing import Any

import numpy as np

from ..core.context import GraphContext
from ..core.event import Event
from ..core.paths import get_path, set_path, split_path
from ..errors import (
    BadRequestError,
    GraphError,
    HTTPError,
    NotFoundError,
    ServiceUnavailableError,
    describe,
)
from . import oip, oip_binary
from .protocol import MODELS_PREFIX, base_name, parse_path, require

_NDARRAY = np.ndarray  # (one global lookup per request, not a global and an attribute)
# the `parameters` of the request being served, for `get_param` (per thread and per task)
_REQUEST_PARAMS: ContextVar[dict[str, Any] | None] = ContextVar("sg_request_params", default=None)


class V2ModelServer:
    """A model server: loads a model once, answers infer/explain/metadata/ready/op_<name>."""

    # the OIP metadata `platform`; subclasses name their framework ("sklearn_joblib", ...)
    platform = "python"

    def __init__(
        self,
        context: GraphContext | None = None,
        name: str | None = None,
        model_path: str | None = None,
        model: Any = None,
        protocol: str | None = None,
        input_path: str | None = None,
        result_path: str | None = None,
        **class_args: Any,
    ) -> None:
        if protocol not in (None, "v2"):
            raise GraphError(f"model {name}: protocol {protocol!r} is not supported, use 'v2'")
        self.context = context if context is not None else GraphContext()
        self.name = name or type(self).__name__
        self.model_name, self.version = base_name(self.name)
        self.model_path = model_path
        self.model = model
        self.protocol = "v2"
        self._params = class_args
        # after a Batch step: answer a list of requests with ONE predict call (else one each)
        self.batch = bool(class_args.pop("batch", False))
        self._input_keys = split_path(input_path)
        self._result_keys = split_path(result_path)
        self.metadata_inputs: list[dict[str, Any]] = list(class_args.get("inputs") or [])
        self.metadata_outputs: list[dict[str, Any]] = list(class_args.get("outputs") or [])
        # a model object given up front needs no load (as in MLRun)
        self.ready = model is not None
        self.error: str | None = None
        self._loader: threading.Thread | None = None

    # -- lifecycle ----------------------------------------------------------------------------
    def post_init(self) -> None:
        """Load the model: now, or in a background thread with `load_mode="async"`."""
        if self.ready:
            return
        if self._params.get("load_mode") == "async":
            self._loader = threading.Thread(
                target=self._load_in_background, name=f"sg-load-{self.name}", daemon=True
            )
            self._loader.start()
        else:
            self.load()
            self.ready = True

    def _load_in_background(self) -> None:
        try:
            self.load()
        except Exception as exc:  # reported by ready/infer as 503, never lost in the thread
            self.error = describe(exc)
            self.context.logger.error("model %s failed to load: %s", self.name, self.error)
            return
        self.ready = True

    def wait_ready(self, timeout: float | None = None) -> bool:
        """Wait for a background load; True when the model is ready."""
        if self._loader is not None:
            self._loader.join(timeout)
        return self.ready

    # -- to override --------------------------------------------------------------------------
    def load(self) -> None:
        """Load `self.model` (from `self.model_path`); the default has nothing to load."""

    def preprocess(self, request: dict[str, Any], operation: str) -> dict[str, Any]:
        return request

    def validate(self, request: dict[str, Any], operation: str) -> dict[str, Any]:
        """Check the MLRun form: `inputs` must be a list (tensors were checked by the codec)."""
        if "inputs" not in request:
            raise BadRequestError('inputs: missing; expected key "inputs" in request body')
        if not isinstance(request["inputs"], list):
            raise BadRequestError('inputs: expected "inputs" to be a list')
        return request

    def predict(self, request: dict[str, Any]) -> Any:
        raise HTTPError(f"model {self.name} ({type(self).__name__}) has no predict()", 501)

    def explain(self, request: dict[str, Any]) -> Any:
        raise HTTPError(f"model {self.name} ({type(self).__name__}) does not support explain", 501)

    def postprocess(self, response: dict[str, Any]) -> dict[str, Any]:
        return response

    # -- helpers for subclasses ---------------------------------------------------------------
    def get_param(self, key: str, default: Any = None) -> Any:
        """The request's `parameters`, then the class args, then the function's parameters."""
        request = _REQUEST_PARAMS.get()
        if request and key in request:
            return request[key]
        if key in self._params:
            return self._params[key]
        return self.context.get_param(key, default)

    # -- serving ------------------------------------------------------------------------------
    def do_event(self, event: Event) -> Any:
        """As a plain flow step: `POST /` infers, `GET /` answers metadata, `/<op>` the op."""
        if type(event) is not Event:
            event = as_event(event)
        body = get_path(event.body, self._input_keys) if self._input_keys else event.body
        path = event.path
        if not path or path == "/":
            op = body.get("operation") or "" if isinstance(body, dict) else ""
        elif path.startswith(MODELS_PREFIX):
            op = parse_path(path).op
        else:
            op = path.strip("/")
        if isinstance(body, list) and op in ("", "infer", "predict") and event.method != "GET":
            result: Any = self._run_batch(event, body)
        else:
            result = self.handle(op, event, body)
        if self._result_keys:
            return set_path(event.body, self._result_keys, result)
        return result

    def handle(self, op: str, event: Event, body: Any) -> Any:
        """Answer operation `op` (empty: infer on POST, metadata on GET)."""
        method = event.method
        if not op:
            if method == "GET" or method == "HEAD":
                return self.metadata()
            op = "infer"
        if op == "infer" or op == "predict":
            if method != "POST":  # (the message is only made for a refusal)
                require(method, "POST", f"{self.name}/infer")
            return self._run(event, body, "infer")
        if op == "ready":
            require(method, "GET", f"{self.name}/ready")
            self._check_ready()
            return {"name": self.model_name, "ready": True}
        if op == "explain":
            require(method, "POST", f"{self.name}/explain")
            return self._run(event, body, "explain")
        custom = getattr(self, f"op_{op}", None)
        if custom is not None and callable(custom):
            self._check_ready()
            return custom(event)
        raise BadRequestError(
            f"illegal model operation {op!r} for model {self.name}, method={method}; "
            f"valid: infer, explain, ready{self._custom_ops()}"
        )

    def _run_batch(self, event: Event, requests: list[Any]) -> list[dict[str, Any]]:
        """A list of requests (from a Batch step): a list of answers, one per request.

        With `batch=True` the rows of every request go to ONE `predict` call and the outputs
        are split back; otherwise each request is answered by its own call.
        """
        members = event.members if event.members and len(event.members) == len(requests) else None
        ids = (
            [m.id for m in members]
            if members
            else [f"{event.id}-{i}" for i in range(len(requests))]
        )
        if not self.batch:
            answers = []
            for request_id, request in zip(ids, requests, strict=True):
                single = Event(request, request_id, event.path, event.method, event.headers)
                answers.append(self._run(single, request, "infer"))
            return answers
        self._check_ready()
        counts: list[int] = []
        rows: list[Any] = []
        for i, request in enumerate(requests):
            if not isinstance(request, dict) or not isinstance(request.get("inputs"), list):
                raise BadRequestError(f'batch request {i} needs "inputs" as a list')
            if oip.is_tensor_request(request):
                raise BadRequestError("batch=True takes the MLRun request form (lists of rows)")
            counts.append(len(request["inputs"]))
            rows.extend(request["inputs"])
        merged = self.validate(self.preprocess({"inputs": rows}, "infer"), "infer")
        outputs = self.predict(merged)
        if isinstance(outputs, np.ndarray):
            outputs = outputs.tolist()
        if not isinstance(outputs, list) or len(outputs) != len(rows):
            raise BadRequestError(
                f"model {self.name}: batch predict must return one output per input row "
                f"({len(rows)}), got {type(outputs).__name__}"
            )
        answers, start = [], 0
        for request_id, request, count in zip(ids, requests, counts, strict=True):
            response = {
                "id": request.get("id") or request_id,
                "model_name": self.model_name,
                "outputs": outputs[start : start + count],
            }
            if self.version:
                response["model_version"] = self.version
            answers.append(self.postprocess(response))
            start += count
        return answers

    def metadata(self) -> dict[str, Any]:
        return {
            "name": self.model_name,
            "versions": [self.version] if self.version else [],
            "platform": self.platform,
            "inputs": self.metadata_inputs,
            "outputs": self.metadata_outputs,
        }

    def _custom_ops(self) -> str:
        ops = [n[3:] for n in dir(self) if n.startswith("op_") and callable(getattr(self, n))]
        return "".join(f", {op}" for op in ops)

    def _check_ready(self) -> None:
        if not self.ready:
            if self.error:
                raise ServiceUnavailableError(f"model {self.name} failed to load: {self.error}")
            raise ServiceUnavailableError(f"model {self.name} is not ready yet")

    def _run(self, event: Event, body: Any, op: str) -> Any:
        """preprocess -> validate -> predict (or explain) -> postprocess, in the V2 envelope."""
        if not self.ready:
            self._check_ready()
        if type(body) is not dict:
            if isinstance(body, bytes | bytearray):
                body = _binary_request(event, body)
            if not isinstance(body, dict):
                raise BadRequestError(
                    'the request body must be a JSON object with "inputs", '
                    f"got {type(body).__name__}"
                )
        inputs = body.get("inputs")
        # (rows first is MLRun's form, told without a call; `is_tensor_request` decides the rest)
        rows = type(inputs) is list and inputs and type(inputs[0]) is list
        tensors = False if rows else oip.is_tensor_request(body)
        # outputs the caller wants as binary data (the binary extension; tritonclient's default)
        binary = oip_binary.requested_binary_outputs(body) if tensors else oip_binary.NO_BINARY
        request = body
        if tensors:
            decoded = oip.decode_inputs(body)
            # a shallow copy: the caller's body keeps its JSON tensors
            request = {
                **body,
                "inputs": [t.array for t in decoded],
                "input_names": [t.name for t in decoded],
            }
        params = request.get("parameters")
        token = _REQUEST_PARAMS.set(params) if isinstance(params, dict) and params else None
        try:
            request = self.preprocess(request, op)
            request = self.validate(request, op)
            outputs = self.predict(request) if op == "infer" else self.explain(request)
            if tensors:
                names = _output_names(body, outputs)
                outputs = oip.encode_outputs(outputs, names, binary if binary.requested else False)
            elif isinstance(outputs, _NDARRAY):
                outputs = outputs.tolist()
            response = {
                "id": body.get("id") or event.id,
                "model_name": self.model_name,
                "outputs": outputs,
            }
            if self.version:
                response["model_version"] = self.version
            response = self.postprocess(response)
            if tensors and binary.requested:
                return _binary_response(event, response, binary)
            return response
        finally:
            if token is not None:
                _REQUEST_PARAMS.reset(token)


def _output_names(body: dict[str, Any], outputs: Any) -> list[str] | None:
    """Names from the request's `outputs` when they match the outputs predict returned."""
    requested = body.get("outputs")
    if not requested or not isinstance(requested, list) or isinstance(outputs, dict):
        return None
    names = [o.get("name") for o in requested if isinstance(o, dict)]
    count = len(outputs) if isinstance(outputs, tuple) else 1
    if len(names) == count and all(isinstance(n, str) for n in names):
        return names  # type: ignore[return-value]
    return None


def _binary_request(event: Event, body: bytes | bytearray) -> dict[str, Any]:
    """A binary-extension body (JSON header + raw tensors), parsed into a request.

    The request's `Inference-Header-Content-Length` is taken off the event: from here on that
    header on the event describes the answer (see `_binary_response`), never the request.
    """
    length = next(
        (v for k, v in event.headers.items() if k.lower() == oip_binary.HEADER_LENGTH),
        None,
    )
    if length is not None:
        event.headers = _without_header_length(event.headers)
    if length is None:
        raise BadRequestError(
            "the request body is not JSON; a binary tensor request needs the "
            "Inference-Header-Content-Length header"
        )
    try:
        header_length = int(length)
    except ValueError:
        raise BadRequestError(
            f"Inference-Header-Content-Length: {length!r} is not an integer"
        ) from None
    return oip_binary.parse_binary_request(bytes(body), header_length)


def _binary_response(
    event: Event, response: dict[str, Any], binary: oip_binary.BinaryOutputs
) -> dict[str, Any] | bytes:
    """The answer as the binary extension's body; its JSON length goes on the event's headers.

    Engines that answer over HTTP send that header as `Inference-Header-Content-Length` with the
    bytes (on Kafka it travels in the reply record). When no output went binary, plain JSON.
    """
    raw, header_length = oip_binary.build_binary_response(response, binary)
    if header_length == len(raw):
        return response
    event.headers = {
        **_without_header_length(event.headers),
        oip_binary.HEADER_LENGTH: str(header_length),
    }
    return raw


def _without_header_length(headers: dict[str, str]) -> dict[str, str]:
    # a new dict: event copies share their headers
    return {k: v for k, v in headers.items() if k.lower() != oip_binary.HEADER_LENGTH}


def as_event(event: Any) -> Event:
    """The event; a bare body when the engine hands one (a class applying its own paths)."""
    if isinstance(event, Event):
        return event
    return Event(event, path="/", method="POST")


def route_not_found(model: str, available: list[str], extra: str = "") -> NotFoundError:
    return NotFoundError(
        f"model {model} doesnt exist, available models: {' | '.join(available) or '(none)'}{extra}"
    )
