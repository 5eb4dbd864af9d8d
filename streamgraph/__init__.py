"""streamgraph: MLRun serving graphs, run in process or as stream processing on Kafka.

Reading guide: `function.py` (what users declare with), `graph/` (the graph as pure data,
validated when built), `core/` (what running a step means, for every engine: `outcome.py`
decides where a result goes), `engines/in_process.py` (the in-process engine, the mock server),
`engines/kafka/` (every step a Faust agent), `serving/` (model servers, routers, model runners,
LLMs), `gateway/` (HTTP), `wire/` (the record format and request/reply both of those share).
"""

from . import steps
from .core.context import GraphContext
from .core.event import Event
from .errors import GraphError, StreamgraphError
from .function import ServingFunction, code_to_function, new_function
from .graph.declared_steps import BaseStep, ErrorStep, QueueStep, RouterStep, TaskStep
from .graph.flow import RootFlowStep
from .graph.serialize import graph_from_dict
from .hub import import_function
from .serving.artifacts import LLMPromptArtifact, ModelArtifact
from .serving.endpoints import ModelEndpointCreationStrategy
from .serving.ensemble import VotingEnsemble
from .serving.llm import LLModel
from .serving.model import Model, ModelRunnerSelector, ModelSelector
from .serving.model_runner import ModelRunnerStep
from .serving.router import ModelRouter
from .serving.v2_server import V2ModelServer
from .settings import Settings

__version__ = "0.1.0"

__all__ = [
    "BaseStep",
    "ErrorStep",
    "Event",
    "GraphContext",
    "GraphError",
    "LLMPromptArtifact",
    "LLModel",
    "Model",
    "ModelArtifact",
    "ModelEndpointCreationStrategy",
    "ModelRouter",
    "ModelRunnerSelector",
    "ModelRunnerStep",
    "ModelSelector",
    "QueueStep",
    "RootFlowStep",
    "RouterStep",
    "ServingFunction",
    "Settings",
    "StreamgraphError",
    "TaskStep",
    "V2ModelServer",
    "VotingEnsemble",
    "code_to_function",
    "graph_from_dict",
    "import_function",
    "new_function",
    "steps",
]
