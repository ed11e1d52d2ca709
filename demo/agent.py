"""The demo's agent as a Python backend (`AGENT=python npm start`), standard library only.

The demo server (demo/agent-python.js) starts this process and hands it each `agent.ask` over a
local HTTP call: POST /ask {stream, room, prompt, user, after}, answered 202 at once. The agent
then works as any backend would, through the gateway's HTTP API only:
  - its status ("thinking", "searching" with a percentage, "done") with POST /api/publish;
  - its reply, token by token, as the chunked body of POST /api/stream, under the stream id the
    demo server chose (so the status updates can name the reply they belong to).

Environment: SWITCHBOARD_URL (the gateway, e.g. http://127.0.0.1:3000), SWITCHBOARD_API_KEY,
AGENT_TOKEN (what the demo server's calls to /ask carry). Prints "READY <port>" once it listens;
exits when its stdin closes (the demo server is gone).
"""

import hmac
import http.client
import json
import os
import re
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlencode, urlsplit

GATEWAY = urlsplit(os.environ["SWITCHBOARD_URL"])
API_KEY = os.environ["SWITCHBOARD_API_KEY"]
AGENT_TOKEN = os.environ["AGENT_TOKEN"]
TIMEOUT_S = 30
MAX_ASK_BYTES = 16 * 1024


def gateway() -> http.client.HTTPConnection:
    return http.client.HTTPConnection(GATEWAY.hostname, GATEWAY.port, timeout=TIMEOUT_S)


def publish(conn, channel: str, event: str, data) -> None:
    body = json.dumps({"channel": channel, "event": event, "data": data})
    headers = {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"}
    conn.request("POST", "/api/publish", body, headers)
    response = conn.getresponse()
    answer = response.read()
    if response.status != 200:
        raise RuntimeError(f"publish: {response.status} {answer[:200]!r}")


def send_chunk(conn, data: bytes) -> None:
    """One piece of a chunked request body; an empty one ends the body."""
    conn.send(b"%x\r\n%s\r\n" % (len(data), data))


def open_stream(channel: str, stream_id: str, opening) -> http.client.HTTPConnection:
    """Opens the reply: subscribers get the open marker (with `opening` as its data) now."""
    query = urlencode(
        {"channel": channel, "event": "reply", "id": stream_id, "data": json.dumps(opening)}
    )
    conn = gateway()
    conn.putrequest("POST", f"/api/stream?{query}")
    conn.putheader("Authorization", f"Bearer {API_KEY}")
    conn.putheader("Content-Type", "text/plain; charset=utf-8")
    conn.putheader("Transfer-Encoding", "chunked")
    conn.putheader("Idempotency-Key", stream_id)
    conn.endheaders()
    return conn


def answer(ask: dict) -> None:
    """The simulated agent, as demo/server.js's: status, progress, then the reply streamed."""
    channel = f"agent:{ask['room']}"
    stream_id = ask["stream"]
    reply = open_stream(channel, stream_id, {"for": ask["user"], "after": ask["after"]})
    status = gateway()
    try:
        publish(status, channel, "status", {"id": stream_id, "state": "thinking"})
        for progress in (20, 50, 80):
            time.sleep(0.25)
            publish(status, channel, "status", {"id": stream_id, "state": "searching", "progress": progress})
        prompt = re.sub(r"^@agent\s*", "", ask["prompt"])
        text = (
            f'You asked: "{prompt}". Here is a streamed answer, token by token, from a Python '
            "backend through the HTTP API, delivered to everyone in the room with offsets, so a "
            "reconnecting page resumes without gaps or duplicates."
        )
        for token in re.findall(r"\S+\s*", text):
            time.sleep(0.06)
            send_chunk(reply, token.encode())
        send_chunk(reply, b"")
        response = reply.getresponse()
        result = response.read()
        if response.status != 200:
            raise RuntimeError(f"stream: {response.status} {result[:200]!r}")
        publish(status, channel, "status", {"id": stream_id, "state": "done"})
    finally:
        # A reply cut short here ends with an error marker: the gateway sees the request drop.
        reply.close()
        status.close()


def run(ask: dict) -> None:
    try:
        answer(ask)
    except Exception as error:  # the demo goes on; the page shows the reply as failed
        print(f"agent.py: {ask.get('stream')}: {error}", file=sys.stderr, flush=True)


class Asks(BaseHTTPRequestHandler):
    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        given = self.headers.get("Authorization") or ""
        if self.path != "/ask" or not hmac.compare_digest(given, f"Bearer {AGENT_TOKEN}"):
            return self.reply(404, {"error": "not found"})
        if length > MAX_ASK_BYTES:
            return self.reply(413, {"error": "too large"})
        try:
            ask = json.loads(self.rfile.read(length))
            for field in ("stream", "room", "prompt", "user"):
                if not isinstance(ask.get(field), str):
                    raise ValueError(field)
        except ValueError:
            return self.reply(400, {"error": "stream, room, prompt and user are required"})
        threading.Thread(target=run, args=(ask,), daemon=True).start()
        self.reply(202, {"id": ask["stream"]})

    def reply(self, status: int, body) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):  # quiet: the demo server prints what matters
        pass


if __name__ == "__main__":
    server = ThreadingHTTPServer(("127.0.0.1", 0), Asks)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(f"READY {server.server_address[1]}", flush=True)
    sys.stdin.read()  # returns when the demo server exits, whatever the way
    server.shutdown()
