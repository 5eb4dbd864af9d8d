"""The examples' steps. In the repository only (not in the wheel): imported from its root."""
