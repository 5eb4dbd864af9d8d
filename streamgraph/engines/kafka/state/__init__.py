"""Merge and Collector state on Kafka: streamgraph's own tables, each change in a compacted
changelog topic, restored on assignment and expired by a timer.

`stateful_steps.py` wires a Faust app's Merge and Collector steps (a table and changelog each,
the rebalance signals); `step_states.py` runs a step on one input partition and sends its
changes; `state_table.py` is one step's table (its changelog, its restore); `expiring_state.py`
is the mapping a step sees, whose old entries `expiry.py`'s timer deletes.
"""
