# The streamgraph image: `streamgraph` from a wheel, the example graphs in /app (the working
# folder, where `streamgraph worker topologies.NAME` finds them: put your own graphs there),
# run as the non-root user 10001. `streamgraph manifests` writes pods for it (README "Running on
# Kubernetes"). Build from the repository root:
#
#     docker build -t registry.example/streamgraph:1 .

# -- build: the wheel, from the sources alone
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY streamgraph ./streamgraph
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /dist .

# -- final: the wheel installed by docker/install.sh (binary wheels only: no compiler here)
FROM python:3.11-slim
COPY docker/install.sh /tmp/install.sh
COPY --from=build /dist/ /tmp/dist/
RUN sh /tmp/install.sh /tmp/dist/streamgraph-*.whl /opt/streamgraph \
    && rm -rf /tmp/install.sh /tmp/dist /root/.cache \
    && ! command -v gcc && ! command -v cc \
    && groupadd --system --gid 10001 streamgraph \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin streamgraph
WORKDIR /app
COPY agents ./agents
COPY topologies ./topologies
# STREAMGRAPH_STATE_DIR and /tmp are the only folders written: emptyDirs on Kubernetes (the root
# filesystem is read-only there)
ENV PATH=/opt/streamgraph/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    STREAMGRAPH_STATE_DIR=/var/lib/streamgraph
USER 10001:10001
ENTRYPOINT ["streamgraph"]
CMD ["--help"]
