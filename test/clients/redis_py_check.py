"""Exercises the clone with redis-py and prints what it saw as one JSON object.

Usage: /usr/bin/python3 test/clients/redis_py_check.py PORT

The TypeScript test (test/clients.test.ts) asserts on the printed results, so this script only
records replies; it does not judge them. Bytes are printed as hex so that binary values survive
JSON exactly. redis-py's default pipeline() is transactional (MULTI/EXEC), which the clone does not
have yet, so the pipeline here is pipeline(transaction=False).
"""

import json
import sys
import threading

import redis

PREFIX = "py:"


def hexify(value):
    """Makes a reply JSON-safe: bytes become {"hex": ...}, lists recurse."""
    if isinstance(value, bytes):
        return {"hex": value.hex()}
    if isinstance(value, (list, tuple)):
        return [hexify(item) for item in value]
    return value


def main():
    port = int(sys.argv[1])
    client = redis.Redis(host="127.0.0.1", port=port, decode_responses=False, socket_timeout=30)
    results = {"redis_py_version": redis.__version__}

    results["ping"] = client.ping()
    results["set"] = client.set(PREFIX + "k", "v1")
    results["get"] = hexify(client.get(PREFIX + "k"))
    results["del"] = client.delete(PREFIX + "k", PREFIX + "missing")
    results["get_after_del"] = hexify(client.get(PREFIX + "k"))

    pipe = client.pipeline(transaction=False)
    # The same 100 commands as pipelineCommands() in the TypeScript test.
    for i in range(33):
        pipe.set(f"{PREFIX}p:{i}", f"value-{i}")
        pipe.get(f"{PREFIX}p:{i}")
        pipe.incr(PREFIX + "p:counter")
    pipe.get(PREFIX + "p:counter")
    results["pipeline"] = hexify(pipe.execute())

    results["incr"] = [client.incr(PREFIX + "n") for _ in range(3)]
    results["incrby"] = client.incrby(PREFIX + "n", 10)
    client.set(PREFIX + "m:a", "alpha")
    client.set(PREFIX + "m:b", "beta")
    results["mget"] = hexify(client.mget([PREFIX + "m:a", PREFIX + "m:missing", PREFIX + "m:b"]))

    binary = bytes(range(256))
    results["binary_set"] = client.set(PREFIX + "bin", binary)
    results["binary_get"] = hexify(client.get(PREFIX + "bin"))
    results["binary_strlen"] = client.strlen(PREFIX + "bin")

    # A worker blocked in BLPOP, served by a push from another connection.
    pusher = redis.Redis(host="127.0.0.1", port=port, socket_timeout=30)
    timer = threading.Timer(0.1, lambda: pusher.rpush(PREFIX + "jobs", "job-1"))
    timer.start()
    results["blpop_served"] = hexify(client.blpop([PREFIX + "jobs"], timeout=5))
    timer.join()
    pusher.close()
    results["blpop_timeout"] = client.blpop([PREFIX + "jobs"], timeout=0.05)

    # Publish/subscribe: a subscriber on its own connection hears a PUBLISH from this one.
    listener = client.pubsub(ignore_subscribe_messages=True)
    listener.subscribe(PREFIX + "news")
    results["publish_count"] = client.publish(PREFIX + "news", "hello")
    got = None
    for _ in range(50):
        got = listener.get_message(timeout=0.1)
        if got is not None:
            break
    results["pubsub_message"] = None if got is None else {"type": got["type"], "channel": hexify(got["channel"]), "data": hexify(got["data"])}
    listener.close()

    client.close()
    print(json.dumps(results))


if __name__ == "__main__":
    main()
