#!/bin/sh
# Install streamgraph from WHEEL into a virtual environment of its own (default /opt/streamgraph),
# with its dependencies from PyPI (or PIP_INDEX_URL / PIP_FIND_LINKS), as binary wheels only:
# nothing is compiled, so the image needs no compiler. The environment gets no pip of its own
# (the interpreter's pip installs into it). The Dockerfile's final stage runs this, and so does
# tests/test_wheel.py, into a fresh folder, before checking `streamgraph --version` and
# `streamgraph worker --help` there.
#
#     sh docker/install.sh dist/streamgraph-0.1.0-py3-none-any.whl [/opt/streamgraph]
set -eu
wheel=${1:?usage: install.sh WHEEL [PREFIX]}
prefix=${2:-/opt/streamgraph}
python=${PYTHON:-python3}

"$python" -m venv --without-pip "$prefix"
"$python" -m pip --python "$prefix/bin/python" install --no-cache-dir --no-input \
    --disable-pip-version-check --only-binary :all: "$wheel"
"$prefix/bin/streamgraph" --version
