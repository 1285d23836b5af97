# meshproof's load image: a Locust worker (`python -m harness.load.locust_main worker`) in a
# pod of the kubernetes runtime. Built by the docker runtime's ImageBuilder.ensure_load from
# a context it assembles: this file, the pinned requirements, a wheelhouse of wheels made on
# the host with `pip wheel` (compose/wheelhouse-load/), and the harness sources. Nothing is
# pulled:
#
#   BASE_IMAGE   the mesh image (meshproof/mesh:<version>-<digest>): Python, mesh_runtime
#                and its requirements are already there
ARG BASE_IMAGE
FROM ${BASE_IMAGE}

COPY requirements-load.txt /tmp/build/requirements-load.txt
COPY wheelhouse/ /tmp/build/wheelhouse/
RUN /opt/meshproof/bin/python -m pip install --no-cache-dir --no-index \
        --find-links /tmp/build/wheelhouse -r /tmp/build/requirements-load.txt \
    && rm -rf /tmp/build

COPY harness/ /opt/meshproof/src/harness/
COPY mesh_runtime/ /opt/meshproof/src/mesh_runtime/
RUN python -c "import harness.load.locust_main"
CMD ["python", "-m", "harness.load.locust_main", "--help"]
