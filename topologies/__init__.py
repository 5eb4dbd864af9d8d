"""Runnable graphs, one module each, each exposing `function` and `app` (built on first use).

In the repository only (not in the wheel): commands run from its root import them."""
