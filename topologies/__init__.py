"""Runnable graphs, one module each, each exposing `function` and `app` (built on first use)."""
