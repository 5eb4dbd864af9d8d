"""The one cycle finder (`graph.cycles`) that validation and step fusion share."""

from __future__ import annotations

from streamgraph.graph.cycles import in_cycles


def test_steps_on_a_loop_and_only_those() -> None:
    edges = {"a": ["b"], "b": ["c"], "c": ["a", "d"], "d": [], "e": ["a"]}
    assert in_cycles(edges) == {"a", "b", "c"}


def test_a_self_loop_counts_and_unknown_targets_are_dead_ends() -> None:
    assert in_cycles({"a": ["a", "x"], "b": ["x"]}) == {"a"}


def test_no_loop() -> None:
    assert in_cycles({"a": ["b", "c"], "b": ["c"], "c": []}) == set()


def test_a_long_chain_does_not_overflow_the_stack() -> None:
    n = 5000
    edges = {str(i): [str(i + 1)] for i in range(n)}
    edges[str(n)] = ["0"]
    assert len(in_cycles(edges)) == n + 1
