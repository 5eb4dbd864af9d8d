"""Runnable graphs, one module each, each exposing `app`."""
