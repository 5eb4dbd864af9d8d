"""Acceptance: outlet selection (storey tests/test_flow.py Choice tests, mlrun
tests/serving/test_steps.py ChoiceByField tests)."""

from __future__ import annotations

import acceptance_steps
import pytest
from acceptance_steps import (  # noqa: F401 - graphs name these classes and handlers
    DuplicateChoice,
    MyChoice,
    NonexistentChoice,
    reduce_sum,
)

import streamgraph as sg
from streamgraph.steps import ChoiceByField
from streamgraph.testing import serve


@pytest.fixture(autouse=True)
def _reset_recorders():
    acceptance_steps.reset()
    yield
    acceptance_steps.reset()


def test_choice(engine):
    """Ported from storey tests/test_flow.py::test_choice"""
    # storey's three Reduce sums become one recording step per branch; the sums are taken
    # from what each branch recorded
    fn = sg.new_function("choice")
    graph = fn.set_topology("flow", engine="async")
    my_choice = graph.to(MyChoice)
    my_choice.to("storey.Map", name="all_events", _fn="(event)").to(
        name="sum_up_all_events", handler="reduce_sum"
    )
    my_choice.to("storey.Map", name="more_than_five", _fn="(event * 10)").to(
        name="sum_up_more_than_five", handler="reduce_sum"
    )
    my_choice.to("storey.Map", name="up_to_five", _fn="(event * 100)").to(
        name="sum_up_up_to_five", handler="reduce_sum"
    )

    server = serve(fn, engine=engine)
    for i in range(4, 8):
        server.test(body=i)
    server.wait_for_completion()
    termination_result = sum(acceptance_steps.reduced)

    expected = sum(range(4, 8)) + sum(range(6, 8)) * 10 + sum(range(4, 6)) * 100
    assert termination_result == expected


def test_duplicate_choice(engine):
    """Ported from storey tests/test_flow.py::test_duplicate_choice"""
    # storey raises at await_termination; a mock server may raise from test() or from
    # wait_for_completion(): both sit in the raises block
    fn = sg.new_function("choice")
    graph = fn.set_topology("flow", engine="async")
    graph.to(DuplicateChoice).to("storey.Map", name="all_events", _fn="(event)")

    server = serve(fn, engine=engine)
    with pytest.raises(
        (ValueError, RuntimeError),
        match=r"Invalid outlet selection for 'DuplicateChoice': duplicate outlet names were "
        r"provided \(all_events, all_events\)\.",
    ):
        server.test(body=0)
        server.wait_for_completion()


def test_nonexistent_choice(engine):
    """Ported from storey tests/test_flow.py::test_nonexistent_choice"""
    fn = sg.new_function("choice")
    graph = fn.set_topology("flow", engine="async")
    graph.to(NonexistentChoice).to("storey.Map", name="all_events", _fn="(event)")

    server = serve(fn, engine=engine)
    with pytest.raises(
        (ValueError, RuntimeError),
        match=r"Invalid outlet 'wrong' for 'NonexistentChoice'. Allowed outlets are: all_events.",
    ):
        server.test(body=0)
        server.wait_for_completion()


# --- mlrun tests/serving/test_steps.py: success cases ---


def test_choice_by_field_with_string_value():
    """Ported from mlrun tests/serving/test_steps.py::test_choice_by_field_with_string_value"""
    choice = ChoiceByField("fieldA")
    event = {"fieldA": "outlet1"}
    assert choice.select_outlets(event) == ["outlet1"]


def test_choice_by_field_with_list_value():
    """Ported from mlrun tests/serving/test_steps.py::test_choice_by_field_with_list_value"""
    choice = ChoiceByField("fieldA")
    event = {"fieldA": ["outlet1", "outlet2"]}
    assert choice.select_outlets(event) == ["outlet1", "outlet2"]


def test_choice_by_field_with_tuple_value():
    """Ported from mlrun tests/serving/test_steps.py::test_choice_by_field_with_tuple_value"""
    choice = ChoiceByField("fieldA")
    event = {"fieldA": ("outlet1", "outlet2")}
    assert choice.select_outlets(event) == ("outlet1", "outlet2")


# --- mlrun tests/serving/test_steps.py: error cases ---
# MLRunRuntimeError is a RuntimeError, MLRunInvalidArgumentError a ValueError and
# MLRunInvalidArgumentTypeError a TypeError: the ports expect those builtins.


def test_choice_by_field_missing_field():
    """Ported from mlrun tests/serving/test_steps.py::test_choice_by_field_missing_field"""
    choice = ChoiceByField("fieldA")
    event = {"fieldB": "outlet1"}  # missing 'fieldA'
    with pytest.raises(
        RuntimeError,
        match=r"Field 'fieldA' is not contained in the event keys \['fieldB'\].",
    ):
        choice.select_outlets(event)


def test_choice_by_field_none_value():
    """Ported from mlrun tests/serving/test_steps.py::test_choice_by_field_none_value"""
    choice = ChoiceByField("fieldA")
    event = {"fieldA": None}
    with pytest.raises(ValueError, match=r"Field 'fieldA' exists but its value is None\."):
        choice.select_outlets(event)


def test_choice_by_field_invalid_type():
    """Ported from mlrun tests/serving/test_steps.py::test_choice_by_field_invalid_type"""
    choice = ChoiceByField("fieldA")
    event = {"fieldA": 123}  # not string/list/tuple
    with pytest.raises(
        TypeError,
        match=r"Field 'fieldA' must be a string or list of strings but is instead of type "
        r"'int'\.",
    ):
        choice.select_outlets(event)


def test_choice_by_field_empty_list():
    """Ported from mlrun tests/serving/test_steps.py::test_choice_by_field_empty_list"""
    choice = ChoiceByField("fieldA")
    event = {"fieldA": []}
    with pytest.raises(
        RuntimeError, match=r"The value of the key 'fieldA' cannot be an empty list\."
    ):
        choice.select_outlets(event)
