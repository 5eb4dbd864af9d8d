"""ServingFunction: what `sg.new_function` returns (MLRun's serving runtime, without Nuclio)."""

from __future__ import annotations

import importlib.util
import inspect
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

from .errors import DeployError, GraphError
from .graph.declared_steps import RouterStep, TaskStep
from .graph.flow import RootFlowStep
from .graph.resolve import caller_namespace


class FunctionSpec:
    """The function's declared parts (MLRun's `fn.spec`)."""

    def __init__(self) -> None:
        self.graph: RootFlowStep | RouterStep | None = None
        self.parameters: dict[str, Any] = {}
        self.default_class: str | None = None
        self.streaming: bool | None = None
        self.error_stream: str | None = None
        # set_openai_frontend(): OpenAIFrontend.to_dict(), plain data for the spec
        self.openai_frontend: dict[str, Any] | None = None


class ServingFunction:
    """A serving function: a graph of steps plus the child functions its queues feed."""

    def __init__(
        self, name: str, namespace: dict[str, Any] | None = None, module: ModuleType | None = None
    ) -> None:
        if not name:
            raise GraphError("a function needs a name")
        self.name = name
        self.spec = FunctionSpec()
        self.module = module
        self._namespace = namespace
        # where the function was built (module name, file): worker processes load it from there
        self.origin: tuple[str | None, str | None] = caller_origin()
        # the namespace= given by the user (None: the origin module's globals)
        self.explicit_namespace: dict[str, Any] | None = namespace
        self.child_functions: dict[str, ServingFunction] = {}
        self.parent: ServingFunction | None = None
        self._deployment: Any = None

    # -- topology --------------------------------------------------------------------------------
    def set_topology(
        self,
        topology: str | None = "router",
        class_name: Any = None,
        engine: str | None = None,
        allow_cyclic: bool = False,
        max_iterations: int | None = None,
        exist_ok: bool = False,
        **class_args: Any,
    ) -> RootFlowStep | RouterStep:
        """Start the graph: `"flow"` (a flow of steps) or `"router"` (a model router)."""
        if self.spec.graph is not None and not exist_ok:
            raise GraphError("graph topology is already set, cannot be overwritten")
        topology = topology or "router"
        if topology == "flow":
            self.spec.graph = RootFlowStep(
                engine=engine or "async", allow_cyclic=allow_cyclic, max_iterations=max_iterations
            )
        elif topology == "router":
            if isinstance(class_name, RouterStep):
                router = class_name
            else:
                name = class_name if isinstance(class_name, str) else None
                router = RouterStep(
                    (name or "ModelRouter").lstrip("*")
                    if not isinstance(class_name, type)
                    else class_name,
                    class_args,
                    name="router",
                )
                if class_name is not None and not isinstance(class_name, str):
                    router.class_name = class_name
            router.responder = True
            self.spec.graph = router
        else:
            raise GraphError(f"unsupported topology {topology}, use 'router' or 'flow'")
        return self.spec.graph

    @property
    def graph(self) -> RootFlowStep | RouterStep | None:
        return self.spec.graph

    def add_model(
        self,
        key: str,
        model_path: str | None = None,
        class_name: Any = None,
        model_url: str | None = None,
        handler: str | None = None,
        router_step: str | None = None,
        **class_args: Any,
    ) -> TaskStep:
        """Add a model route to the function's router (a router topology, or a `"*"` step)."""
        graph = self.spec.graph
        if graph is None:
            graph = self.set_topology("router")
        router = self._find_router(graph, router_step)
        class_name = class_name or self.spec.default_class
        if model_url:
            raise GraphError(f"model {key}: model_url (remote models) is not supported yet")
        if class_name is None:
            raise GraphError(f"model {key}: class_name must be given (or a default model class)")
        if model_path is not None:
            class_args["model_path"] = str(model_path)
        return router.add_route(key, class_name=class_name, handler=handler, **class_args)

    @staticmethod
    def _find_router(graph: RootFlowStep | RouterStep, router_step: str | None) -> RouterStep:
        if isinstance(graph, RouterStep):
            return graph
        routers = [s for s in graph if isinstance(s, RouterStep)]
        if router_step:
            if router_step not in graph or not isinstance(graph[router_step], RouterStep):
                raise GraphError(f"router step {router_step} not present in the graph")
            return graph[router_step]  # type: ignore[return-value]
        if not routers:
            raise GraphError(
                "graph does not contain any router, add_model can only be used when there is a "
                "router step"
            )
        if len(routers) > 1:
            raise GraphError(
                f"found {len(routers)} routers, please specify the router_step you would like to "
                "add this model to"
            )
        return routers[0]

    def add_child_function(
        self, name: str, url: str | None = None, image: str | None = None, **kw: Any
    ) -> ServingFunction:
        """Declare a child function: steps with `function=name` run in its own worker."""
        child = ServingFunction(name, namespace=self._namespace, module=self.module)
        if url and Path(str(url)).suffix == ".py" and Path(str(url)).exists():
            child.module = load_module(str(url), name)
        child.parent = self
        child.origin, child.explicit_namespace = self.origin, self.explicit_namespace
        self.child_functions[name] = child
        return child

    def set_streaming(self, enabled: bool = True) -> None:
        """Answers of streaming steps are relayed chunk by chunk (read them with `stream()`)."""
        self.spec.streaming = bool(enabled)

    def set_openai_frontend(
        self,
        endpoints: list[Any] | None = None,
        prefix: str | None = "/v1",
        models: list[str] | str | None = None,
        input_key: str | None = None,
    ) -> None:
        """Serve OpenAI's API for this function on its gateway: `POST {prefix}/chat/completions`,
        `POST {prefix}/responses` (the `OpenAIEndpoint` groups in `endpoints`, default all) and
        `GET {prefix}/models`. A request becomes the graph's event (its documented OpenAI fields;
        `messages` for both APIs), the answer OpenAI's response shape; `"stream": true` is sent
        as server-sent events, chunk by chunk from a streaming step. `models`: the names a
        request may give as `model` (default: the function's name). `input_key`: also put the
        last user message's text at this key of the body (for graphs that take a question).
        """
        from .serving.openai_mappings import OpenAIFrontend

        frontend = OpenAIFrontend.build(endpoints, prefix, models, input_key)
        self.spec.openai_frontend = frontend.to_dict()

    # -- deployed: worker processes on Kafka behind a gateway (streamgraph/deploy.py) -----------
    def deploy(self, brokers: str | None = None, port: int | None = None) -> str:
        """Start this function's workers (and its child functions') and an HTTP gateway as
        background processes, on `brokers` or a local Kafka started for it; returns the URL.

        Workers load the function as `streamgraph.locate` explains (the module that built it).
        """
        from .deploy import Deployment

        self.undeploy()
        deployment = Deployment(self, brokers=brokers, port=port)
        deployment.start()
        self._deployment = deployment
        return deployment.url

    def get_url(self) -> str:
        """The gateway URL of the running deployment."""
        return self._deployed().url

    def invoke(
        self,
        path: str = "/",
        body: Any = None,
        method: str | None = None,
        headers: dict[str, str] | None = None,
        **kw: Any,
    ) -> Any:
        """Send one request to the deployed function and return its parsed answer; an error
        status raises `InvocationError`. Streaming functions are read with `stream()`."""
        if self.spec.streaming:
            raise DeployError(
                f"function {self.name} streams its answers; read them with fn.stream(path, body)"
            )
        return self._deployed().client.invoke(path, body, method, headers)

    def stream(
        self,
        path: str = "/",
        body: Any = None,
        method: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Iterator[Any]:
        """The chunks of a streaming answer as they arrive (text, or bytes when not UTF-8);
        the request is sent when iteration starts."""
        return self._deployed().client.stream(path, body, method, headers)

    def undeploy(self) -> None:
        """Stop every process `deploy()` started (by pid: SIGTERM, then SIGKILL)."""
        deployment, self._deployment = self._deployment, None
        if deployment is not None:
            deployment.stop()

    def _deployed(self) -> Any:
        if self._deployment is None:
            raise DeployError(f"function {self.name} is not deployed; call fn.deploy() first")
        return self._deployment

    # -- running ---------------------------------------------------------------------------------
    def namespace(self, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        """Names steps are looked up in: the function's code module, then the caller's globals."""
        names: dict[str, Any] = {}
        if self.module is not None:
            names.update(vars(self.module))
        for child in self.child_functions.values():
            if child.module is not None and child.module is not self.module:
                names.update({k: v for k, v in vars(child.module).items() if k not in names})
        if self._namespace:
            names.update(self._namespace)
        if extra:
            names.update(extra)
        return names

    def to_mock_server(
        self, namespace: dict[str, Any] | None = None, current_function: str = "*", **kw: Any
    ) -> Any:
        """Run the graph in process (no broker); returns a server with `test()`."""
        from .engines.in_process import LocalServer

        if self.spec.graph is None:
            raise GraphError(
                "no models or steps were set, use function.set_topology() and add steps"
            )
        # as in MLRun, undeclared child functions are refused at deploy time, not here: in
        # process every function's steps run together
        ns = self.namespace(caller_namespace(namespace))
        return LocalServer(
            self.spec.graph,
            namespace=ns,
            current_function=current_function,
            parameters=self.spec.parameters,
            streaming=bool(self.spec.streaming),
            **kw,
        )

    def check_functions(self) -> None:
        """Refuse steps that name a child function that was never declared (deploy time)."""
        graph = self.spec.graph
        if isinstance(graph, RootFlowStep):
            for name in graph.functions():
                if name not in self.child_functions and name != self.name:
                    raise GraphError(
                        f"function {name} is used in steps and is not defined, use the "
                        ".add_child_function() to specify child function attributes"
                    )

    def to_dict(self) -> dict[str, Any]:
        graph = self.spec.graph
        return {
            "kind": "serving",
            "metadata": {"name": self.name},
            "spec": {
                "graph": graph.to_dict() if graph is not None else None,
                "parameters": dict(self.spec.parameters),
                "streaming": self.spec.streaming,
                "openai_frontend": self.spec.openai_frontend,
                "child_functions": sorted(self.child_functions),
            },
        }

    def __repr__(self) -> str:
        return f"<ServingFunction {self.name!r}>"


def load_module(filename: str, name: str | None = None) -> ModuleType:
    """Import a Python file as a module (so its classes and handlers can be named in graphs)."""
    path = Path(filename).resolve()
    if not path.exists():
        raise GraphError(f"code file {filename} does not exist")
    module_name = f"streamgraph_user_{(name or path.stem).replace('-', '_')}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise GraphError(f"cannot load code file {filename}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


def caller_origin() -> tuple[str | None, str | None]:
    """The module name and file of the first caller outside streamgraph."""
    frame = inspect.currentframe()
    try:
        while frame is not None and _inside_streamgraph(frame.f_globals.get("__name__")):
            frame = frame.f_back
        if frame is None:
            return None, None
        return frame.f_globals.get("__name__"), frame.f_globals.get("__file__")
    finally:
        del frame


def new_function(name: str, namespace: dict[str, Any] | None = None, **kw: Any) -> ServingFunction:
    """A new serving function; steps are looked up in `namespace` (default: caller's globals)."""
    function = ServingFunction(name, namespace=caller_namespace(namespace))
    function.explicit_namespace = namespace
    return function


def code_to_function(
    name: str, filename: str | None = None, kind: str = "serving", **kw: Any
) -> ServingFunction:
    """A serving function whose classes and handlers come from the Python file `filename`."""
    module = load_module(filename, name) if filename else None
    function = ServingFunction(name, namespace=caller_namespace(None), module=module)
    function.explicit_namespace = None
    return function


def _inside_streamgraph(module_name: str | None) -> bool:
    if not module_name:
        return False
    return module_name == "streamgraph" or module_name.startswith("streamgraph.")
