"""Real sockets, not tcpka's, whose traffic the analysis tests record with tcpdump.

    python3 peers.py MODE PORT [HOST]

Modes:
  data-between   client keep-alive 1/1/3; sends a byte at 2.5 s and 4.5 s; closes at 6 s
  zero-window    a receiver that stops reading (window 0) and a sender with more to send, 6 s;
                 neither enables keep-alive
  both-probe     server probes every 2 s, client every 3 s (idle = interval); closes at 9.5 s
  idle-client    client keep-alive 2/2/9, nothing else, closes at 7 s; prints "connected" once
                 the handshake is done (to start a capture mid-connection)
  short          one short request/response per connection, 5 connections, clean closes
Prints "connected" when the connection is up, then "done".
"""
import socket
import sys
import threading
import time

MODE, PORT = sys.argv[1], int(sys.argv[2])
HOST = sys.argv[3] if len(sys.argv) > 3 else "127.0.0.1"


def keepalive(sock, idle, interval, count):
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, idle)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, interval)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, count)


def listener(rcvbuf=None):
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if rcvbuf:
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    srv.bind((HOST, PORT))
    srv.listen(8)
    return srv


def drain(conn):
    try:
        while conn.recv(4096):
            pass
    except OSError:
        pass


def pair(rcvbuf=None, server_ka=None):
    srv = listener(rcvbuf)
    client = socket.create_connection((HOST, PORT))
    conn, _ = srv.accept()
    srv.close()
    if server_ka:
        keepalive(conn, *server_ka)
    return client, conn


def started():
    print("connected", flush=True)
    return time.monotonic()


def sleep_until(t0, at):
    time.sleep(max(0.0, t0 + at - time.monotonic()))


if MODE == "data-between":
    client, conn = pair()
    threading.Thread(target=drain, args=(conn,), daemon=True).start()
    keepalive(client, 1, 1, 3)
    t0 = started()
    sleep_until(t0, 2.5)
    client.send(b"x")
    sleep_until(t0, 4.5)
    client.send(b"y")
    sleep_until(t0, 6.0)
    client.close()
    time.sleep(0.2)
    conn.close()
elif MODE == "zero-window":
    client, conn = pair(rcvbuf=4096)
    client.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    t0 = started()
    client.setblocking(False)
    try:
        while True:
            client.send(b"z" * 65536)
    except BlockingIOError:
        pass
    sleep_until(t0, 6.0)
    conn.close()
    client.close()
elif MODE == "both-probe":
    client, conn = pair(server_ka=(2, 2, 9))
    keepalive(client, 3, 3, 9)
    t0 = started()
    sleep_until(t0, 9.5)
    client.close()
    time.sleep(0.2)
    conn.close()
elif MODE == "idle-client":
    client, conn = pair()
    keepalive(client, 2, 2, 9)
    t0 = started()
    sleep_until(t0, 7.0)
    client.close()
    time.sleep(0.2)
    conn.close()
elif MODE == "short":
    srv = listener()

    def serve():
        for _ in range(5):
            conn, _ = srv.accept()
            conn.recv(100)
            conn.sendall(b"pong")
            conn.close()

    thread = threading.Thread(target=serve)
    thread.start()
    started()
    for _ in range(5):
        c = socket.create_connection((HOST, PORT))
        c.sendall(b"ping")
        c.recv(100)
        c.close()
        time.sleep(0.1)
    thread.join()
    srv.close()
else:
    sys.exit(f"unknown mode {MODE}")
print("done", flush=True)
