#!/usr/bin/env python3
"""The twin's listener and prober: one process for every network namespace of the twin.

A socket belongs to the network namespace its thread was in when it was created, so one process can
listen in all namespaces (setns(2) around socket creation) and probe from any of them (each probe
thread enters the source namespace first). That keeps a 50-worker twin at one process instead of
hundreds.

Requests are JSON lines on stdin, answers JSON lines on stdout, matched by "id":
  {"op": "listen", "id": 1, "ns": "/run/netns/x", "name": "registry", "tcp": [443], "udp": [53],
   "udpAddresses": ["10.0.0.1"]}                     -> {"id": 1, "ok": true} or {"id": 1, "error": "..."}
  {"op": "probe", "id": 2, "ns": "/run/netns/y", "proto": "tcp", "ip": "10.0.0.5", "port": 443,
   "timeoutMs": 800, "bind": "10.244.0.1"}         -> {"id": 2, "outcome": "connected", "responder": "registry"}
A listener answers a TCP connection with "<name>\\n" and a UDP datagram with "<name>". Outcomes:
connected, timeout (dropped), refused, unreachable, error. EOF on stdin ends the process.
"""

import ctypes
import errno
import json
import os
import selectors
import socket
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

CLONE_NEWNET = 0x40000000
libc = ctypes.CDLL("libc.so.6", use_errno=True)
out_lock = threading.Lock()


def setns(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            e = ctypes.get_errno()
            raise OSError(e, f"setns {path}: {os.strerror(e)}")
    finally:
        os.close(fd)


def answer(obj):
    with out_lock:
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()


HOME_NS = f"/proc/self/task/{threading.get_native_id()}/ns/net"
home_fd = os.open(HOME_NS, os.O_RDONLY)
selector = selectors.DefaultSelector()
pending = []  # sockets made by listen(), registered by the serving thread (selectors are not thread-safe)
pending_lock = threading.Lock()
wake_r, wake_w = socket.socketpair()
selector.register(wake_r, selectors.EVENT_READ, ("wake", None))


def listen(req):
    name = req["name"].encode()
    made = []
    setns(req["ns"])
    try:
        for port in req.get("tcp", []):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("0.0.0.0", port))
            s.listen(64)
            s.setblocking(False)
            made.append((s, ("tcp", name + b"\n")))
        for port in req.get("udp", []):
            for address in req.get("udpAddresses") or ["0.0.0.0"]:
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind((address, port))
                s.setblocking(False)
                made.append((s, ("udp", name)))
    except OSError:
        for s, _ in made:
            s.close()
        raise
    finally:
        if libc.setns(home_fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "setns back home")
    # Bound and listening already: the kernel queues connections until the serving thread takes them.
    with pending_lock:
        pending.extend(made)
    wake_w.send(b"x")


def serve():
    while True:
        with pending_lock:
            for s, data in pending:
                selector.register(s, selectors.EVENT_READ, data)
            pending.clear()
        for key, _ in selector.select(timeout=0.5):
            kind, reply = key.data
            s = key.fileobj
            try:
                if kind == "wake":
                    s.recv(4096)
                elif kind == "tcp":
                    conn, _ = s.accept()
                    conn.setblocking(True)
                    conn.settimeout(1)
                    try:
                        conn.sendall(reply)
                    finally:
                        conn.close()
                else:
                    _, peer = s.recvfrom(2048)
                    s.sendto(reply, peer)
            except OSError:
                pass


def probe(req):
    setns(req["ns"])
    timeout = req.get("timeoutMs", 800) / 1000.0
    kind = socket.SOCK_STREAM if req["proto"] == "tcp" else socket.SOCK_DGRAM
    s = socket.socket(socket.AF_INET, kind)
    s.settimeout(timeout)
    try:
        if req.get("bind"):
            s.bind((req["bind"], 0))
        if req["proto"] == "tcp":
            s.connect((req["ip"], req["port"]))
            try:
                data = s.recv(256)
            except socket.timeout:
                data = b"?"
            return {"outcome": "connected", "responder": data.decode(errors="replace").strip() or "?"}
        s.connect((req["ip"], req["port"]))
        s.send(b"probe")
        data = s.recv(256)
        return {"outcome": "connected", "responder": data.decode(errors="replace").strip()}
    except socket.timeout:
        return {"outcome": "timeout"}
    except ConnectionRefusedError:
        return {"outcome": "refused"}
    except OSError as e:
        if e.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH):
            return {"outcome": "unreachable", "detail": errno.errorcode.get(e.errno, str(e.errno))}
        return {"outcome": "error", "detail": str(e)}
    finally:
        s.close()


def run_probe(req):
    try:
        res = probe(req)
    except Exception as e:  # noqa: BLE001 - every failure is an answer
        res = {"outcome": "error", "detail": str(e)}
    res["id"] = req["id"]
    answer(res)


def main():
    threading.Thread(target=serve, daemon=True).start()
    pool = ThreadPoolExecutor(max_workers=int(os.environ.get("TWIN_PROBE_THREADS", "128")))
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        req = json.loads(line)
        op = req.get("op")
        if op == "listen":
            try:
                listen(req)
                answer({"id": req["id"], "ok": True})
            except Exception as e:  # noqa: BLE001
                answer({"id": req["id"], "error": f"{req.get('name')}: {e}"})
        elif op == "probe":
            pool.submit(run_probe, req)
        elif op == "quit":
            break
    pool.shutdown(wait=True)


if __name__ == "__main__":
    main()
