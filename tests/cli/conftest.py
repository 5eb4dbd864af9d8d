"""The CLI tests' fixtures live in cli_support.py, beside the helpers the tests import.

(Several test folders have a conftest.py, so `from conftest import ...` would find whichever
was imported first.)
"""

from cli_support import cyclic_worker, kafka_env

__all__ = ["cyclic_worker", "kafka_env"]
