"""Bodies of the `streamgraph` subcommands, one module per concern (`streamgraph/cli.py` lists
them): `serve` (worker, gateway; `worker_process` is what a worker runs), `run` (the whole
stack), `topics`, `send`, `describe` (and `plot`), `dlq`. `common` holds the options they
share."""
