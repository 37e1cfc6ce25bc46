#!/usr/bin/env python3
"""Holds 600 silent TCP connections to a confab on loopback, then times one
ordinary request, and counts how many of the silent ones the server still
holds after its header-read timeout. Bounded: 600 connections, about 12 s.

Usage: tools/silent-connections.py PORT   (docs/benchmarks.md, "Silent connections")
"""
import socket
import sys
import time
import urllib.request

port = int(sys.argv[1])
socks = []
for _ in range(600):
    s = socket.socket()
    s.bind(("127.0.0.2", 0))  # another loopback address than the request below
    s.connect(("127.0.0.1", port))
    socks.append(s)
time.sleep(1)


def still_held():
    held = 0
    for s in socks:
        s.setblocking(False)
        try:
            if s.recv(1) == b"":
                continue  # closed by the server
        except BlockingIOError:
            held += 1
        except OSError:
            pass
    return held


held = still_held()
started = time.time()
answer = urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5).read()
print(f"held {held} of 600; /health -> {answer!r} in {time.time() - started:.3f} s")
time.sleep(11)
print("after 11 s, still held:", still_held())
