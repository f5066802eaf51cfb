"""One end of a keep-alive connection across a tunnel, for tunnel_capture_test.ts.

    python3 tunnel_peer.py server HOST PORT     # accepts one connection, reads until EOF
    python3 tunnel_peer.py client HOST PORT     # keep-alive 1/1/3, holds 3.5 s, closes
The server prints "listening" once it listens.
"""
import socket
import sys
import time

ROLE, HOST, PORT = sys.argv[1], sys.argv[2], int(sys.argv[3])
if ROLE == "server":
    srv = socket.socket(socket.AF_INET6 if ":" in HOST else socket.AF_INET)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((HOST, PORT))
    srv.listen(1)
    print("listening", flush=True)
    conn, _ = srv.accept()
    while conn.recv(4096):
        pass
    conn.close()
else:
    for _ in range(50):  # the tunnel's neighbour discovery may take a moment
        try:
            c = socket.create_connection((HOST, PORT), timeout=2)
            break
        except OSError:
            time.sleep(0.1)
    c.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 1)
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, 1)
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, 3)
    time.sleep(3.5)
    c.close()
