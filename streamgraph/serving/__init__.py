"""Model serving: V2 model servers, routers, ensembles, the Open Inference Protocol, Model,
ModelRunnerStep, shared models and LLModel. Importing it registers what compiling needs."""

from ..core.preparer_registry import register_graph_preparer
from .model_preparer import prepare_models

register_graph_preparer(prepare_models)
