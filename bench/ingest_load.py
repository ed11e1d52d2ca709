"""The load generator of bench/ingest.mjs: a backend in Python (standard library only) that drives
the gateway's HTTP API as test/fixtures/backend.py does, as fast as it can.

    python3 bench/ingest_load.py <mode> <port> <api key> <count> [<connections>]

mode post:   <count> publications, one POST each, over <connections> kept-alive connections
             (one process each, so the GIL does not serialise them), each waiting for its answer
             before the next, as a callback-per-event handler would.
mode ndjson: <count> publications as NDJSON lines in one chunked request, 500 lines per chunk,
             results read as they stream back.
mode stream: <connections> streams at once (POST /api/stream), <count> text chunks each, sent
             round-robin as tokens from several replies would be.

Waits for a line on stdin after connecting ("ready"), so the parent meters only the run; then
prints one JSON line: {"events", "seconds", "errors", "cpu"} (cpu: seconds of CPU this
process and its workers used over the run, for which side saturated). Every socket has a timeout: a stuck run
ends with an error instead of hanging.
"""

import http.client
import json
import multiprocessing
import resource
import sys
import threading
import time

HOST = "127.0.0.1"
TIMEOUT_S = 60
PAYLOAD = "x" * 64


def headers(key, content_type):
    return {"Authorization": f"Bearer {key}", "Content-Type": content_type}


def post_worker(port, key, count, offset, start, done):
    errors = count  # all of them, should this worker fail before it counts
    try:
        conn = http.client.HTTPConnection(HOST, port, timeout=TIMEOUT_S)
        conn.connect()
        h = headers(key, "application/json")
        start.wait(TIMEOUT_S)
        errors = 0
        for n in range(offset, offset + count):
            data = {"n": n, "p": PAYLOAD}
            body = json.dumps({"channel": "bench:ingest", "event": "m", "data": data})
            conn.request("POST", "/api/publish", body, h)
            response = conn.getresponse()
            response.read()
            if response.status != 200:
                errors += 1
        conn.close()
    finally:
        done.put(errors)


def run_post(port, key, count, connections):
    start = multiprocessing.Event()
    done = multiprocessing.Queue()
    per = count // connections
    workers = [
        multiprocessing.Process(target=post_worker, args=(port, key, per, i * per, start, done))
        for i in range(connections)
    ]
    for w in workers:
        w.start()
    ready()
    t0 = time.perf_counter()
    start.set()
    errors = sum(done.get(timeout=TIMEOUT_S) for _ in workers)
    seconds = time.perf_counter() - t0
    for w in workers:
        w.join(TIMEOUT_S)
    return per * connections, seconds, errors


def send_chunk(conn, data):
    conn.send(b"%x\r\n%s\r\n" % (len(data), data))


def open_chunked(port, key, path, content_type):
    conn = http.client.HTTPConnection(HOST, port, timeout=TIMEOUT_S)
    conn.putrequest("POST", path)
    for name, value in headers(key, content_type).items():
        conn.putheader(name, value)
    conn.putheader("Transfer-Encoding", "chunked")
    conn.endheaders()
    return conn


def run_ndjson(port, key, count, _connections):
    lines_per_chunk = 500
    # The body is built before the clock starts: what is measured is the gateway's ingest, not
    # Python's json.dumps.
    chunks = []
    for first in range(0, count, lines_per_chunk):
        lines = [
            json.dumps({"channel": "bench:ingest", "event": "m", "data": {"n": n, "p": PAYLOAD}})
            for n in range(first, min(count, first + lines_per_chunk))
        ]
        chunks.append(("\n".join(lines) + "\n").encode())
    ready()
    t0 = time.perf_counter()
    conn = open_chunked(port, key, "/api/publish", "application/x-ndjson")
    counts = {"results": 0, "errors": 0}

    def read_results():
        response = conn.getresponse()
        for line in response:
            counts["results"] += 1
            if line.startswith(b'{"error"'):
                counts["errors"] += 1

    reader = threading.Thread(target=read_results)
    reader.start()
    for chunk in chunks:
        send_chunk(conn, chunk)
    send_chunk(conn, b"")
    reader.join(TIMEOUT_S)
    seconds = time.perf_counter() - t0
    conn.close()
    return counts["results"], seconds, counts["errors"] + (count - counts["results"])


def run_stream(port, key, count, connections):
    ready()
    t0 = time.perf_counter()
    conns = [
        open_chunked(port, key, f"/api/stream?channel=bench:stream{i}&event=reply", "text/plain")
        for i in range(connections)
    ]
    token = b"token "
    for _ in range(count):
        for conn in conns:
            send_chunk(conn, token)
    for conn in conns:
        send_chunk(conn, b"")
    chunks = 0
    errors = 0
    for conn in conns:
        response = conn.getresponse()
        answer = json.loads(response.read())
        conn.close()
        # The answer counts the stream's publications after the open marker: chunks and the end.
        if response.status != 200 or answer["count"] != count + 1:
            errors += 1
        else:
            chunks += count
    seconds = time.perf_counter() - t0
    return chunks, seconds, errors


CPU_AT_START = [0.0]


def cpu_seconds():
    """CPU of this process and of its workers that have ended (joined)."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        total += usage.ru_utime + usage.ru_stime
    return total


def ready():
    print("ready", flush=True)
    sys.stdin.readline()
    CPU_AT_START[0] = cpu_seconds()


if __name__ == "__main__":
    mode, port, key, count = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    connections = int(sys.argv[5]) if len(sys.argv) > 5 else 1
    run = {"post": run_post, "ndjson": run_ndjson, "stream": run_stream}[mode]
    events, seconds, errors = run(port, key, count, connections)
    cpu = cpu_seconds() - CPU_AT_START[0]
    print(json.dumps({"events": events, "seconds": seconds, "errors": errors, "cpu": cpu}), flush=True)
