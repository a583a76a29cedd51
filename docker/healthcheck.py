"""Container liveness probe: is the node answering on its partner port? Standard library only.

Plain http: ``GET /healthz`` must answer 200. With TLS (``GATEWAY_TLS_CERTFILE`` set) the
probe cannot show a client certificate, so it checks that the port accepts a connection
and starts a TLS handshake; a refused handshake for want of a client certificate still
proves the server is up. Exit 0 healthy, 1 not.
"""

import http.client
import os
import socket
import ssl
import sys

PORT = int(os.environ.get("GATEWAY_SERVER_PORT", "8400"))


def main() -> int:
    try:
        if not os.environ.get("GATEWAY_TLS_CERTFILE"):
            conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=4)
            conn.request("GET", "/healthz")
            return 0 if conn.getresponse().status == 200 else 1
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE  # loopback liveness only
        with socket.create_connection(("127.0.0.1", PORT), timeout=4) as raw:
            try:
                with context.wrap_socket(raw) as tls:
                    tls.version()
            except ssl.SSLError:
                pass  # the server spoke TLS and wanted a client certificate: it is alive
        return 0
    except OSError:
        return 1


if __name__ == "__main__":
    sys.exit(main())
