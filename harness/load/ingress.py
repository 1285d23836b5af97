"""How a Locust connection reaches the ingress: TLS set-up and the headers of every request.

An external target's ingress may want a Host header other than the URL's host, extra
headers, a private CA or no certificate check, and a client certificate
(`mesh_runtime.target.IngressAccess`). The reference mesh's ingress is plain HTTP and
needs none of it. Imports gevent's ssl: only the Locust processes import this module.
"""

from __future__ import annotations

import gevent.ssl

from mesh_runtime.target import IngressAccess


def ssl_context(ingress: IngressAccess) -> gevent.ssl.SSLContext:
    """The TLS context of one connection to `ingress` (CA, skip-verify, client cert)."""
    cafile = str(ingress.ca_file) if ingress.ca_file is not None else None
    context = gevent.ssl.create_default_context(cafile=cafile)
    if ingress.insecure_skip_verify:
        context.check_hostname = False
        context.verify_mode = gevent.ssl.CERT_NONE
    if ingress.client_cert is not None:
        key = str(ingress.client_key) if ingress.client_key is not None else None
        context.load_cert_chain(str(ingress.client_cert), key)
    return context
