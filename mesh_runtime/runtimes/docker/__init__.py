"""The docker runtime: the mesh as containers (a pod per instance), images built locally.

images.py    the mesh and Toxiproxy images, from a host-built wheelhouse; no pulls
naming.py    container, network and tag names; the deployment label
specs.py     the Plan as containers (pure)
engine.py    the Docker SDK calls, errors translated
runtime.py   DockerRuntime: up, down, status, restart, signal
stats.py     CPU and memory per container from the Docker stats API
compose.py   a docker compose file of the same deployment (pure)
"""

from mesh_runtime.runtimes.docker.images import BASE_IMAGE, ImageBuilder, Images
from mesh_runtime.runtimes.docker.runtime import DockerRuntime
from mesh_runtime.runtimes.docker.stats import DockerStatsSampler

__all__ = ["BASE_IMAGE", "DockerRuntime", "DockerStatsSampler", "ImageBuilder", "Images"]
