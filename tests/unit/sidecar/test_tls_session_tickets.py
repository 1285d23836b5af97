"""The sidecar's server context sends no TLS 1.3 session tickets (nothing resumes them)."""

from __future__ import annotations

import ssl

from mesh_runtime.control.ca import CertificateAuthority
from tests.unit.sidecar.test_tls_direct_sslobject import credentials


def handshake_and_exchange(server: ssl.SSLContext, client: ssl.SSLContext) -> ssl.SSLObject:
    """An mTLS handshake over memory BIOs, then one message each way (the client reads
    whatever the server sent after its Finished there); the client's SSLObject."""
    s_in, s_out, c_in, c_out = (ssl.MemoryBIO() for _ in range(4))
    server_end = server.wrap_bio(s_in, s_out, server_side=True)
    client_end = client.wrap_bio(c_in, c_out)
    pending = [client_end, server_end]
    while pending:
        for end in list(pending):
            try:
                end.do_handshake()
                pending.remove(end)
            except ssl.SSLWantReadError:
                pass
            s_in.write(c_out.read())
            c_in.write(s_out.read())
    client_end.write(b"request")
    s_in.write(c_out.read())
    assert server_end.read(100) == b"request"
    server_end.write(b"answer")
    c_in.write(s_out.read())
    assert client_end.read(100) == b"answer"
    return client_end


def test_server_context_sends_no_session_tickets() -> None:
    """After a handshake and an exchange the client holds a session without a ticket;
    the same contexts with OpenSSL's default ticket count do hand one over (the check
    sees tickets when there are any)."""
    ca = CertificateAuthority.create()
    server, client = credentials(ca, "catalog"), credentials(ca, "frontend")
    assert server.server.num_tickets == 0
    for client_context in (client.client, client.client_h2):
        assert client_context is not None
        session = handshake_and_exchange(server.server, client_context).session
        assert session is not None and not session.has_ticket
    server.server.num_tickets = 2
    session = handshake_and_exchange(server.server, client.client).session
    assert session is not None and session.has_ticket
