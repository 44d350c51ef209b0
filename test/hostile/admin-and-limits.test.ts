/**
 * Hostile input found by probing the clone as an attacker would (27 Nov 2026), one case each:
 * - cluster administration with a malformed address or id, which used to be accepted, committed,
 *   and then stopped the node for good (its restarts replayed the same membership);
 * - a reply far past `outputBytesMax` (MGET naming one large key a thousand times), which used to
 *   be built whole in memory, gigabytes, before the client was dropped;
 * - frames a client that has not authenticated may send when a password is set, which used to be
 *   buffered whole (300 MB bulks) before `-NOAUTH`;
 * - a client reading a deep pipeline of large replies as fast as they come, which used to hold the
 *   node's loop until its pipeline was done (found by an operator probe, the same day).
 */
import { afterAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { readFileSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { call, CloneProcess, cleanupAll } from "../helpers/clone-process.ts";
import { plain, RespConnection } from "../helpers/resp-client.ts";

setDefaultTimeout(120_000);

const started: CloneProcess[] = [];

afterAll(async () => {
  await cleanupAll(started);
});

async function startNode(name: string, extra: string[] = []): Promise<CloneProcess> {
  const clone = await CloneProcess.start({ name, logLevel: "notice", extraArguments: extra });
  started.push(clone);
  return clone;
}

/** Peak resident memory of a process so far (VmHWM), in MB. */
function peakRssMegabytes(pid: number): number {
  const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return Number(match?.[1] ?? 0) / 1024;
}

describe("cluster administration with malformed arguments", () => {
  test("a malformed address or id is refused before anything is proposed; the node goes on serving, also after a restart", async () => {
    const node = await startNode("admin-input");
    expect(await call(node, "SET", "k", "v")).toBe("OK");
    const peers = await call(node, "RAFTPEERS");
    const refused: [string[], string][] = [
      [["RAFTJOIN", "x", "abc"], "invalid address 'abc'"],
      [["RAFTJOIN", "0123456789abcdef", "127.0.0.1:99999"], "invalid address '127.0.0.1:99999'"],
      [["RAFTJOIN", "0123456789abcdef", "127.0.0.1:0"], "invalid address '127.0.0.1:0'"],
      [["RAFTJOIN", "0123456789abcdef", "127.0.0.1:"], "invalid address '127.0.0.1:'"],
      [["RAFTJOIN", "", "127.0.0.1:7000"], "invalid node id ''"],
      [["RAFTJOIN", "not-hex-at-all!", "127.0.0.1:7000"], "invalid node id"],
      [["RAFTADDPEER", "abc", "0123456789abcdef"], "invalid address 'abc'"],
      [["RAFTADDPEER", "127.0.0.1:7000", "XYZ"], "invalid node id 'XYZ'"],
      [["RAFTTRANSFER", "garbage"], "invalid address 'garbage'"],
      [["RAFTTRANSFER", "127.0.0.1:7000", "junk"], "wrong number of arguments for 'rafttransfer' command"],
      [["RAFTREMOVEPEER", "garbage"], "garbage is not a member"],
    ];
    for (const [command, error] of refused) {
      const reply = await call(node, ...command);
      expect({ command, reply: JSON.stringify(reply) }).toEqual({ command, reply: expect.stringContaining(error) });
    }
    expect(await call(node, "RAFTPEERS")).toEqual(peers);
    expect(await call(node, "RAFTSTATE")).toBe("Leader");
    // A node asking to join at an address nobody answers at is refused (the leader dials it first).
    expect(await call(node, "RAFTJOIN", "0123456789abcdef", "127.0.0.1:1")).toEqual({ error: expect.stringContaining("cannot reach the node at 127.0.0.1:1") });
    expect(await call(node, "RAFTPEERS")).toEqual(peers);
    // An operator may still add one by address and id, which is not dialled: a learner the node
    // keeps trying to reach, while it goes on serving (a learner does not count towards the quorum).
    expect(await call(node, "RAFTADDPEER", "127.0.0.1:1", "0123456789abcdef")).toBe("OK");
    expect(await call(node, "SET", "k", "w")).toBe("OK");
    await node.restart();
    expect(await call(node, "GET", "k")).toBe("w");
    expect(await call(node, "RAFTREMOVEPEER", "127.0.0.1:1")).toBe("OK");
    expect(await call(node, "RAFTPEERS")).toEqual(peers);
    expect(node.log()).not.toContain("Raft node stopped");
  });
});

describe("cluster administration that cannot be done", () => {
  test("handing leadership to the leader itself, or removing the last voter, is refused with the reason", async () => {
    const node = await startNode("admin-refusals");
    expect(await call(node, "RAFTTRANSFER", node.address)).toEqual({ error: `ERR ${node.address} is this node, the leader already` });
    expect(await call(node, "RAFTREMOVEPEER", node.address)).toEqual({ error: `ERR ${node.address} is the last voter: a cluster cannot go on without one` });
    // Nothing was proposed: the node still leads its cluster of one, which still serves.
    expect(await call(node, "RAFTSTATE")).toBe("Leader");
    expect(await call(node, "SET", "k", "v")).toBe("OK");
    expect(node.log()).not.toContain("Removing node");
  });
});

describe("output limits", () => {
  test("a reply growing past outputBytesMax (64 MB) is cut off as it is built: the client goes, memory stays bounded, others are served", async () => {
    const node = await startNode("output-limit");
    const pid = node.pid ?? 0;
    const megabyte = "x".repeat(1024 * 1024);
    expect(await call(node, "SET", "big", megabyte)).toBe("OK");
    const before = peakRssMegabytes(pid);
    // 300 MB of reply from a 2 KB request.
    const greedy = await RespConnection.connect(node.port);
    greedy.command("MGET", ...Array.from({ length: 300 }, () => "big"));
    await greedy.waitClosed(60_000);
    expect(greedy.closed).toBe(true);
    expect(await call(node, "PING")).toBe("PONG");
    expect(await call(node, "GET", "big")).toBe(megabyte);
    const info = String(await call(node, "INFO", "stats"));
    expect(info).toContain("client_output_buffer_limit_disconnections:1");
    // Before the fix the whole 300 MB reply existed in memory, and was copied once more to be sent.
    const growth = peakRssMegabytes(pid) - before;
    expect(growth).toBeLessThan(200);
    expect(node.log()).toContain("closed for overcoming of output buffer limits");
  });
});

describe("a client reading a deep pipeline of large replies at full speed", () => {
  test("shares the loop: another client's PINGs are answered while its replies stream", async () => {
    const node = await startNode("fast-reader");
    const size = 512 * 1024;
    const gets = 1000;
    expect(await call(node, "SET", "big", "x".repeat(size))).toBe("OK");
    const open = (): Promise<Socket> =>
      new Promise((resolve, reject) => {
        const socket = connect(node.port, "127.0.0.1", () => resolve(socket));
        socket.once("error", reject);
      });
    const reader = await open();
    const pinger = await open();
    // 512 MB of replies from 9 KB of requests, read as fast as they come.
    const expected = gets * (size + `$${size}\r\n`.length + 2);
    let received = 0;
    const streamed = new Promise<void>((resolve) =>
      reader.on("data", (chunk: Buffer) => {
        received += chunk.length;
        if (received >= expected) resolve();
      }),
    );
    let waiting = false;
    let answeredDuring = 0;
    pinger.on("data", () => {
      waiting = false;
      if (received > 0 && received < expected) answeredDuring++;
    });
    const timer = setInterval(() => {
      if (waiting) return;
      waiting = true;
      pinger.write("PING\r\n");
    }, 5);
    reader.write("GET big\r\n".repeat(gets));
    await streamed;
    clearInterval(timer);
    reader.destroy();
    pinger.destroy();
    expect(received).toBe(expected);
    // Before the fix the node parsed and answered the whole pipeline in one turn of its loop
    // while the client kept up: one PING in the 512 MB, answered after 600 ms (a leader lost its
    // leadership so). Now the reader gets a slice of the loop at a time.
    expect(answeredDuring).toBeGreaterThanOrEqual(5);
  });
});

describe("before AUTH, when a password is set", () => {
  test("a bulk over 16 KB or a frame of more than 10 arguments is a protocol error at its header, as in Redis", async () => {
    const node = await startNode("unauthenticated", ["-auth", "pw"]);
    const pid = node.pid ?? 0;
    const before = peakRssMegabytes(pid);
    const cases: [string, string][] = [
      ["*2\r\n$4\r\nECHO\r\n$314572800\r\n", "ERR Protocol error: unauthenticated bulk length"],
      ["*11\r\n", "ERR Protocol error: unauthenticated multibulk length"],
      ["*1048576\r\n", "ERR Protocol error: unauthenticated multibulk length"],
    ];
    for (const [bytes, error] of cases) {
      const connection = await RespConnection.connect(node.port);
      connection.send(bytes);
      // What follows the header is never buffered: the connection is closed after the error.
      connection.send("y".repeat(1024 * 1024));
      expect(plain(await connection.read())).toEqual({ error });
      await connection.waitClosed();
    }
    // Small commands still get the usual -NOAUTH, and after AUTH large values are accepted.
    const connection = await RespConnection.connect(node.port);
    try {
      expect(plain(await connection.call("SET", "k", "v"))).toEqual({ error: "NOAUTH Authentication required." });
      expect(plain(await connection.call("AUTH", "pw"))).toBe("OK");
      const value = "z".repeat(1024 * 1024);
      expect(plain(await connection.call("SET", "large", value))).toBe("OK");
      expect(plain(await connection.call("GET", "large"))).toBe(value);
    } finally {
      connection.close();
    }
    expect(peakRssMegabytes(pid) - before).toBeLessThan(100);
  });
});
