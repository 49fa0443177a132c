#!/usr/bin/env python3
"""A small HTTP proxy in front of a registry, for the pull tests:

  regproxy.py --port P --upstream HOST:PORT [--rate BYTES_PER_S]
              [--stall-blobs] [--bearer [--realm URL]] [--fail-manifests CODE]
              [--record FILE] [--bind ADDR]
  regproxy.py --port P --token-only --record FILE [--bind ADDR]

--rate        sends response bodies at about that many bytes a second
--stall-blobs sends a blob's headers and first bytes, then nothing more
--bearer      demands a bearer token, as Docker Hub does: 401 with
              WWW-Authenticate: Bearer realm=http://.../token,service=...,
              scope=...; GET /token?service=..&scope=.. gives it anonymously
--realm       the realm the bearer challenge names (default: this proxy's
              own http://127.0.0.1:P/token)
--fail-manifests answers every manifest request with that HTTP status
--record      appends, for every /token request, the Authorization header it
              carried ("AUTH <value>") or "NOAUTH"
--token-only  a token service only (for a realm on another host): /token
              answers a token, everything else 404
--bind        the address to listen on (default 127.0.0.1)
Every request is logged on stdout. python3 only.
"""
import argparse
import http.client
import http.server
import json
import socketserver
import sys
import time

TOKEN = "orchd-test-token"


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        rng = self.headers.get("Range")
        sys.stdout.write("%s %s%s\n" % (self.command, self.path, " Range: " + rng if rng else ""))
        sys.stdout.flush()

    def send_json(self, code, obj, headers=()):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_HEAD(self):
        self.handle_any()

    def do_GET(self):
        self.handle_any()

    def handle_any(self):
        a = self.server.args
        if self.path == "/":
            self.send_json(200, {})
            return
        if a.record and self.path.startswith("/token"):
            auth = self.headers.get("Authorization")
            with open(a.record, "a") as f:
                f.write(("AUTH %s" % auth if auth else "NOAUTH") + "\n")
        if a.token_only:
            if self.path.startswith("/token"):
                self.send_json(200, {"token": TOKEN, "expires_in": 300})
            else:
                self.send_json(404, {"errors": [{"code": "NOT_FOUND", "message": "token only"}]})
            return
        if a.bearer and self.path.startswith("/token"):
            if "scope=repository" not in self.path:
                self.send_json(400, {"error": "no scope"})
                return
            self.send_json(200, {"token": TOKEN, "expires_in": 300})
            return
        if a.bearer and self.headers.get("Authorization") != "Bearer " + TOKEN:
            name = self.path.split("/")[2] if self.path.count("/") > 2 else ""
            realm = a.realm or "http://127.0.0.1:%d/token" % a.port
            chal = 'Bearer realm="%s",service="orchd-test",scope="repository:%s:pull"' % (
                realm, name)
            self.send_json(401, {"errors": [{"code": "UNAUTHORIZED",
                                             "message": "authentication required"}]},
                           [("WWW-Authenticate", chal)])
            return
        if a.fail_manifests and "/manifests/" in self.path:
            self.send_json(a.fail_manifests, {"errors": [{"code": "UNKNOWN",
                                                          "message": "proxy says no"}]})
            return
        host, port = a.upstream.split(":")
        up = http.client.HTTPConnection(host, int(port), timeout=60)
        hdrs = {k: v for k, v in self.headers.items()
                if k.lower() not in ("authorization", "host", "connection")}
        try:
            up.request(self.command, self.path, headers=hdrs)
            r = up.getresponse()
        except OSError as e:
            self.send_json(502, {"errors": [{"code": "UNAVAILABLE", "message": str(e)}]})
            return
        self.send_response(r.status)
        for k, v in r.getheaders():
            if k.lower() not in ("connection", "transfer-encoding"):
                self.send_header(k, v)
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        if self.command == "HEAD":
            return
        blob = "/blobs/" in self.path
        sent = 0
        chunk = 16384
        start = time.time()
        while True:
            try:
                data = r.read(chunk)
            except OSError:
                break
            if not data:
                break
            if a.stall_blobs and blob and sent > 0:
                time.sleep(3600)
            try:
                self.wfile.write(data)
                self.wfile.flush()
            except OSError:
                break
            sent += len(data)
            if a.rate and blob:
                ahead = sent / a.rate - (time.time() - start)
                if ahead > 0:
                    time.sleep(ahead)
        up.close()


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--upstream", default="")
    ap.add_argument("--rate", type=int, default=0)
    ap.add_argument("--stall-blobs", action="store_true")
    ap.add_argument("--bearer", action="store_true")
    ap.add_argument("--fail-manifests", type=int, default=0)
    ap.add_argument("--realm", default="")
    ap.add_argument("--record", default="")
    ap.add_argument("--token-only", action="store_true")
    ap.add_argument("--bind", default="127.0.0.1")
    a = ap.parse_args()
    if not a.upstream and not a.token_only:
        ap.error("--upstream is needed (or --token-only)")
    s = Server((a.bind, a.port), Handler)
    s.args = a
    s.serve_forever()


if __name__ == "__main__":
    main()
