"""Ported from mlrun tests/serving/assets/myfunc.py (storey.MapClass -> streamgraph Map)."""

from streamgraph import GraphContext
from streamgraph.steps import Map


def myhand(x, context=None):
    assert isinstance(context, GraphContext), "didnt get a valid context"
    return x * 2


class MyCls(Map):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)

    def do(self, event):
        return event * 2
