# Toxiproxy in its own container: the toxiproxy-server binary `make setup` built on the host
# (.tools/bin, from the pinned Go module), on meshproof's base image. Built by
# `meshproof images build`; nothing is pulled.
ARG BASE_IMAGE=meshproof/base:bookworm
FROM ${BASE_IMAGE}
COPY toxiproxy-server /usr/local/bin/toxiproxy-server
EXPOSE 8474
ENTRYPOINT []
CMD ["/usr/local/bin/toxiproxy-server", "-host", "0.0.0.0", "-port", "8474"]
