#!/usr/bin/env python3
"""A loopback reverse proxy that adds `Authorization: Bearer $MCP_TOKEN`.

The conformance suite's `server` command has no option for request headers,
and /mcp refuses requests without an API key. This proxy forwards every
request to UPSTREAM unchanged (method, path, body and every header, Host and
Origin included, so the suite's Host/Origin checks still reach the daemon's
guards) and adds the bearer key when the request has no Authorization.
Responses, streamed ones included, are relayed as they arrive.

    MCP_TOKEN=... auth_proxy.py http://127.0.0.1:PORT   # prints the port it listens on
"""

from __future__ import annotations

import http.client
import os
import sys
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

UPSTREAM = urllib.parse.urlsplit(sys.argv[1])
TOKEN = os.environ["MCP_TOKEN"]
HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-connection"}


class Proxy(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt: str, *args: object) -> None:  # quiet
        pass

    def relay(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        conn = http.client.HTTPConnection(UPSTREAM.hostname, UPSTREAM.port, timeout=120)
        conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
        for k, v in self.headers.items():
            if k.lower() not in HOP:
                conn.putheader(k, v)
        if "Authorization" not in self.headers:
            conn.putheader("Authorization", f"Bearer {TOKEN}")
        conn.endheaders(body)
        resp = conn.getresponse()
        self.send_response_only(resp.status, resp.reason)
        chunked = resp.getheader("Content-Length") is None
        for k, v in resp.getheaders():
            if k.lower() not in HOP:
                self.send_header(k, v)
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        while True:
            data = resp.read1(65536)
            if not data:
                break
            if chunked:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            else:
                self.wfile.write(data)
            self.wfile.flush()
        if chunked:
            self.wfile.write(b"0\r\n\r\n")
        conn.close()

    do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = do_OPTIONS = do_HEAD = relay


server = ThreadingHTTPServer(("127.0.0.1", 0), Proxy)
server.daemon_threads = True
print(server.server_address[1], flush=True)
server.serve_forever()
