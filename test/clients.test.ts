/**
 * Real Redis clients against a real clone process: redis-cli (one-shot and interactive under a
 * terminal), redis-benchmark, node-redis (RESP3 default and RESP2), ioredis, Bun's RedisClient
 * and redis-py. Each client uses its own key prefix so that cases do not interfere; node clients
 * connect through a recording proxy so that errors a client swallows during its handshake are
 * still seen.
 *
 * MULTI/EXEC are in test/transactions.test.ts.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { RedisClient } from "bun";
import Redis from "ioredis";
import { createClient, RESP_TYPES } from "redis";
import { CloneProcess, repositoryRoot } from "./helpers/clone-process.ts";
import { plain, RespConnection } from "./helpers/resp-client.ts";
import { errorsIn, RecordingProxy, type RecordedConnection } from "./helpers/resp-proxy.ts";

/** Generous: the machine has 2 cores shared with other test runs. */
const subprocessTimeoutMilliseconds = 60_000;
const terminalTimeoutMilliseconds = 20_000;
const python = "/usr/bin/python3";

// Every test here drives real processes on a loaded 2-core machine: allow each test and hook a
// generous minute and a half (the subprocesses have their own, shorter, limits).
setDefaultTimeout(90_000);

/** Every byte value once, in order: the binary round-trip payload. */
const allBytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i));

let node: CloneProcess;

beforeAll(async () => {
  node = await CloneProcess.start({ name: "clients-clone" });
});

afterAll(async () => {
  await node?.cleanup();
});

/** Rethrows a failure with the clone's log attached, so a CI failure shows what the node said. */
async function withNodeLog<T>(body: () => Promise<T>): Promise<T> {
  try {
    return await body();
  } catch (error) {
    if (error instanceof Error) error.message += `\n--- clone log ---\n${node.log()}`;
    throw error;
  }
}

interface RunResult {
  exitCode: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion with a timeout; never leaves it running. */
async function run(argv: string[], stdin?: string): Promise<RunResult> {
  const child = Bun.spawn(argv, {
    cwd: repositoryRoot,
    stdin: stdin === undefined ? "ignore" : new TextEncoder().encode(stdin),
    stdout: "pipe",
    stderr: "pipe",
    timeout: subprocessTimeoutMilliseconds,
    killSignal: "SIGKILL",
  });
  const [stdout, stderr] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text()]);
  await child.exited;
  if (child.signalCode !== null) {
    throw new Error(`${argv.join(" ")} killed by ${child.signalCode}\nstdout:\n${stdout}\nstderr:\n${stderr}`);
  }
  return { exitCode: child.exitCode, stdout, stderr };
}

/** `redis-cli -p PORT args...`, expecting success; returns stdout (raw mode, as it is not a terminal). */
async function redisCli(...args: string[]): Promise<string> {
  const result = await run(["redis-cli", "-h", "127.0.0.1", "-p", String(node.port), ...args]);
  expect(result.stderr).toBe("");
  expect(result.exitCode).toBe(0);
  return result.stdout;
}

/** Lines of redis-cli raw output: one per element; an empty array prints one empty line. */
function lines(output: string): string[] {
  return output === "\n" ? [] : output.replace(/\n$/, "").split("\n");
}

/** Every error reply the server sent on a recorded connection. */
function serverErrors(connection: RecordedConnection): string[] {
  return connection.replies().flatMap(errorsIn);
}

/**
 * node-redis sends `CLIENT MAINT_NOTIFICATIONS ON ...` optimistically and ignores its failure;
 * stock Redis 7 answers it with this same error. Every other error in a handshake is a bug.
 */
function isToleratedHandshakeError(message: string): boolean {
  return /^ERR unknown subcommand 'MAINT_NOTIFICATIONS'/i.test(message);
}

/** The 100-command pipeline every client sends: SET, GET, INCR 33 times, then GET of the counter. */
function pipelineCommands(prefix: string): Array<[string, ...string[]]> {
  const commands: Array<[string, ...string[]]> = [];
  for (let i = 0; i < 33; i++) {
    commands.push(["SET", `${prefix}p:${i}`, `value-${i}`]);
    commands.push(["GET", `${prefix}p:${i}`]);
    commands.push(["INCR", `${prefix}p:counter`]);
  }
  commands.push(["GET", `${prefix}p:counter`]);
  return commands;
}

/** The replies the pipeline above must produce, in order. */
function expectedPipelineReplies(): Array<string | number> {
  const replies: Array<string | number> = [];
  for (let i = 0; i < 33; i++) replies.push("OK", `value-${i}`, i + 1);
  replies.push("33");
  return replies;
}

/** Reads a key with the raw client, so a client's binary write is checked by an independent reader. */
async function rawGet(key: string): Promise<Buffer | null> {
  const connection = await RespConnection.connect(node.port);
  try {
    const reply = await connection.call("GET", key);
    if (reply.type !== "bulk") throw new Error(`GET ${key} answered ${JSON.stringify(plain(reply))}`);
    return reply.value;
  } finally {
    connection.close();
  }
}

/** Writes a key with the raw client, so a client's binary read is checked against known bytes. */
async function rawSet(key: string, value: Uint8Array): Promise<void> {
  const connection = await RespConnection.connect(node.port);
  try {
    expect(plain(await connection.call("SET", key, value))).toBe("OK");
  } finally {
    connection.close();
  }
}

describe("redis-cli", () => {
  // Keys chosen so that each glob feature selects a different subset; `/` is an ordinary byte.
  const keys = ["a/b", "a/c", "abc", "ac", "axc", "b/c", "bcd", "x*y", "xzy"];

  test("SET, GET, DEL and KEYS with globs, one command per process", () =>
    withNodeLog(async () => {
      expect(await redisCli("FLUSHALL")).toBe("OK\n");
      for (const key of keys) expect(await redisCli("SET", key, `value of ${key}`)).toBe("OK\n");
      expect(await redisCli("GET", "a/b")).toBe("value of a/b\n");
      expect(await redisCli("GET", "x*y")).toBe("value of x*y\n");
      // A missing key: raw mode prints an empty line for the null bulk.
      expect(await redisCli("GET", "missing")).toBe("\n");

      const sorted = (selected: string[]): string[] => [...selected].sort();
      expect(lines(await redisCli("KEYS", "*"))).toEqual(sorted(keys));
      expect(lines(await redisCli("KEYS", "a?c"))).toEqual(["a/c", "abc", "axc"]);
      expect(lines(await redisCli("KEYS", "a/*"))).toEqual(["a/b", "a/c"]);
      expect(lines(await redisCli("KEYS", "[ab]*"))).toEqual(["a/b", "a/c", "abc", "ac", "axc", "b/c", "bcd"]);
      expect(lines(await redisCli("KEYS", "[^a]*"))).toEqual(["b/c", "bcd", "x*y", "xzy"]);
      expect(lines(await redisCli("KEYS", "x\\*y"))).toEqual(["x*y"]);
      expect(lines(await redisCli("KEYS", "nomatch*"))).toEqual([]);

      expect(await redisCli("DEL", "a/b", "x*y", "missing")).toBe("2\n");
      expect(await redisCli("GET", "a/b")).toBe("\n");
      expect(lines(await redisCli("KEYS", "*"))).toEqual(sorted(keys.filter((key) => key !== "a/b" && key !== "x*y")));
    }));

  describe("interactive, in a terminal (tmux)", () => {
    let proxy: RecordingProxy;
    const tmuxSocket = `finn-clients-test-${process.pid}`;
    const tmux = (...args: string[]): Promise<RunResult> => run(["tmux", "-L", tmuxSocket, ...args]);

    /** Ends our tmux server even if the run is interrupted before afterAll (tmux daemonizes). */
    const killTmuxOnExit = (): void => {
      Bun.spawnSync(["tmux", "-L", tmuxSocket, "kill-server"], { stdout: "ignore", stderr: "ignore" });
    };

    beforeAll(async () => {
      process.on("exit", killTmuxOnExit);
      proxy = await RecordingProxy.start(node.port);
    });

    afterAll(async () => {
      // kill-server ends only the tmux server on our own socket, and redis-cli inside it.
      killTmuxOnExit();
      process.off("exit", killTmuxOnExit);
      await proxy?.close();
    });

    /** Starts redis-cli in a detached tmux session of its own (through the proxy) at its first prompt. */
    async function startCli(session: string): Promise<void> {
      const started = await tmux(
        "new-session", "-d", "-s", session, "-x", "200", "-y", "60",
        `redis-cli -h 127.0.0.1 -p ${proxy.port}`,
      );
      expect(started).toMatchObject({ exitCode: 0 });
      await waitForPane(session, "the first prompt", (text) => promptCount(text, proxy.port) === 1);
    }

    async function pane(session: string): Promise<string> {
      const result = await tmux("capture-pane", "-p", "-t", session);
      if (result.exitCode !== 0) throw new Error(`tmux capture-pane failed: ${result.stderr}`);
      return result.stdout;
    }

    /** Polls the terminal until `done` holds for its text, or fails with what it shows. */
    async function waitForPane(session: string, what: string, done: (text: string) => boolean): Promise<string> {
      const deadline = Date.now() + terminalTimeoutMilliseconds;
      let text = await pane(session);
      while (!done(text)) {
        if (Date.now() > deadline) throw new Error(`terminal never showed ${what}; it shows:\n${text}`);
        await Bun.sleep(50);
        text = await pane(session);
      }
      return text;
    }

    /** How many redis-cli prompts (`127.0.0.1:PORT>`; tmux trims the trailing space) the terminal shows. */
    const promptCount = (text: string, port: number): number => text.split(`127.0.0.1:${port}>`).length - 1;

    /** Types one command line and waits until redis-cli prints the next prompt; returns the answer. */
    async function type(session: string, line: string): Promise<string[]> {
      const before = promptCount(await pane(session), proxy.port);
      const typed = await tmux("send-keys", "-t", session, "-l", line);
      expect(typed.exitCode).toBe(0);
      expect((await tmux("send-keys", "-t", session, "Enter")).exitCode).toBe(0);
      const text = await waitForPane(session, `the prompt after '${line}'`, (current) => promptCount(current, proxy.port) > before);
      // The answer is what lies between the echoed command line and the next prompt.
      const prompt = `127.0.0.1:${proxy.port}>`;
      const paneLines = text.split("\n");
      const commandLine = paneLines.findLastIndex((paneLine) => paneLine === `${prompt} ${line}`);
      const nextPrompt = paneLines.findIndex((paneLine, index) => index > commandLine && paneLine.startsWith(prompt));
      if (commandLine < 0 || nextPrompt < 0) throw new Error(`could not find the answer to '${line}' in:\n${text}`);
      return paneLines.slice(commandLine + 1, nextPrompt);
    }

    test("commands typed at the prompt get the right answers and no errors", () =>
      withNodeLog(async () => {
        const session = "commands";
        await startCli(session);

        expect(await type(session, "SET cli:i:k hello")).toEqual(["OK"]);
        expect(await type(session, "GET cli:i:k")).toEqual(['"hello"']);
        expect(await type(session, "get cli:i:missing")).toEqual(["(nil)"]);
        expect(await type(session, "INCR cli:i:n")).toEqual(["(integer) 1"]);
        expect(await type(session, "incrby cli:i:n 41")).toEqual(["(integer) 42"]);
        expect(await type(session, "KEYS cli:i:*")).toEqual(['1) "cli:i:k"', '2) "cli:i:n"']);
        expect(await type(session, "DEL cli:i:k")).toEqual(["(integer) 1"]);
        expect(await type(session, "KEYS cli:i:k*")).toEqual(["(empty array)"]);
        expect(await type(session, "PING")).toEqual(["PONG"]);

        const text = await pane(session);
        expect(text).not.toMatch(/\(error\)|ERR/);

        // redis-cli asked for its hints at startup (COMMAND DOCS), and nothing it asked failed.
        const commands = proxy.connections.flatMap((connection) => connection.commands());
        expect(commands.map((command) => command.join(" ").toUpperCase())).toContain("COMMAND DOCS");
        expect(proxy.connections.flatMap(serverErrors)).toEqual([]);
      }));

    test("argument hints from COMMAND DOCS appear while typing (as with stock Redis)", () =>
      withNodeLog(async () => {
        // Stock redis-server 7 shows `key value [NX|XX] ...` after `set `; redis-cli 7 builds that
        // hint from the `arguments` of each COMMAND DOCS entry. The clone's SET takes exactly
        // `key value`, so that is the hint it should produce.
        const session = "hints";
        await startCli(session);
        expect((await tmux("send-keys", "-t", session, "-l", "set ")).exitCode).toBe(0);
        const text = await waitForPane(session, "the hint 'key value' after 'set '", (current) =>
          current.split("\n").some((line) => /> set\s+key value/.test(line)),
        );
        expect(text).toMatch(/> set\s+key value/);
        await tmux("send-keys", "-t", session, "C-u");
      }));
  });

  test("commands piped on stdin (non-interactive)", () =>
    withNodeLog(async () => {
      const result = await run(
        ["redis-cli", "-h", "127.0.0.1", "-p", String(node.port)],
        "SET cli:s:k piped\nGET cli:s:k\nEXISTS cli:s:k cli:s:none\nDEL cli:s:k\nGET cli:s:k\n",
      );
      expect(result.stderr).toBe("");
      expect(result.exitCode).toBe(0);
      expect(result.stdout).toBe("OK\npiped\n1\n1\n\n");
    }));
});

describe("redis-benchmark", () => {
  interface BenchmarkRow {
    test: string;
    requestsPerSecond: number;
  }

  /** Runs redis-benchmark with --csv and returns its rows, after checking it reported no trouble. */
  async function benchmark(extra: string[]): Promise<BenchmarkRow[]> {
    const result = await run([
      "redis-benchmark", "-h", "127.0.0.1", "-p", String(node.port),
      "-t", "ping,set,get", "-c", "50", "-n", "20000", "--csv", ...extra,
    ]);
    const output = `${result.stdout}\n${result.stderr}`;
    expect({ exitCode: result.exitCode, output }).toMatchObject({ exitCode: 0 });
    // Errors from the server, and warnings such as failing to read CONFIG, would show here.
    expect(output).not.toMatch(/error|warning|could not|unknown/i);
    const rows = result.stdout.trim().split("\n").map((line) => line.split(",").map((cell) => cell.replace(/^"|"$/g, "")));
    expect(rows[0]?.slice(0, 2)).toEqual(["test", "rps"]);
    return rows.slice(1).map((cells) => ({ test: cells[0] ?? "", requestsPerSecond: Number(cells[1]) }));
  }

  for (const pipeline of [1, 16]) {
    test(`-t ping,set,get -c 50 -n 20000 -P ${pipeline}: every test completes`, () =>
      withNodeLog(async () => {
        const rows = await benchmark(["-P", String(pipeline)]);
        expect(rows.map((row) => row.test)).toEqual(["PING_INLINE", "PING_MBULK", "SET", "GET"]);
        for (const row of rows) {
          expect(Number.isFinite(row.requestsPerSecond)).toBe(true);
          expect(row.requestsPerSecond).toBeGreaterThan(0);
        }
        // Without -r, redis-benchmark's SET writes the literal key, with a 3-byte value (-d 3).
        expect((await rawGet("key:__rand_int__"))?.length).toBe(3);
      }));
  }
});

describe("node-redis", () => {
  for (const resp of [3, 2] as const) {
    describe(resp === 3 ? "default options (RESP3)" : "RESP: 2", () => {
      const prefix = `nr${resp}:`;
      let proxy: RecordingProxy;
      let client: ReturnType<typeof createClient>;

      beforeAll(async () => {
        proxy = await RecordingProxy.start(node.port);
        const socket = { host: "127.0.0.1", port: proxy.port };
        client = resp === 3 ? createClient({ socket }) : createClient({ socket, RESP: 2 });
        client.on("error", (error: unknown) => console.error("node-redis error:", error));
        await withNodeLog(() => client.connect());
      });

      afterAll(async () => {
        if (client?.isOpen) await client.close();
        await proxy?.close();
      });

      test("handshake is answered without errors", () => {
        const connection = proxy.connections[0];
        if (connection === undefined) throw new Error("node-redis never connected through the proxy");
        const sent = connection.commands().map((command) => command.join(" ").toUpperCase());
        if (resp === 3) {
          expect(sent[0]).toBe("HELLO 3");
          // The server switched to RESP3: HELLO's reply is a map.
          expect(connection.replies()[0]?.type).toBe("map");
        } else {
          expect(sent.some((command) => command.startsWith("HELLO"))).toBe(false);
        }
        expect(serverErrors(connection).filter((message) => !isToleratedHandshakeError(message))).toEqual([]);
      });

      test("SET, GET, DEL", () =>
        withNodeLog(async () => {
          expect(await client.set(`${prefix}k`, "v1")).toBe("OK");
          expect(await client.get(`${prefix}k`)).toBe("v1");
          expect(await client.del([`${prefix}k`, `${prefix}missing`])).toBe(1);
          expect(await client.get(`${prefix}k`)).toBeNull();
        }));

      test("a non-transactional pipeline of 100 commands keeps order", () =>
        withNodeLog(async () => {
          const multi = client.multi();
          for (const [name, ...args] of pipelineCommands(prefix)) multi.addCommand([name, ...args]);
          const replies: unknown[] = await multi.execAsPipeline();
          expect(replies).toEqual(expectedPipelineReplies());
          const sent = proxy.connections.flatMap((connection) => connection.commands());
          expect(sent.some((command) => /^(MULTI|EXEC)$/i.test(command[0] ?? ""))).toBe(false);
        }));

      test("auto-pipelined commands (Promise.all) keep order", () =>
        withNodeLog(async () => {
          const replies: unknown[] = await Promise.all(
            pipelineCommands(`${prefix}auto:`).map(([name, ...args]) => client.sendCommand([name, ...args])),
          );
          expect(replies).toEqual(expectedPipelineReplies());
        }));

      test("INCR and MGET", () =>
        withNodeLog(async () => {
          expect([await client.incr(`${prefix}n`), await client.incr(`${prefix}n`), await client.incr(`${prefix}n`)]).toEqual([1, 2, 3]);
          expect(await client.incrBy(`${prefix}n`, 10)).toBe(13);
          await client.set(`${prefix}m:a`, "alpha");
          await client.set(`${prefix}m:b`, "beta");
          expect(await client.mGet([`${prefix}m:a`, `${prefix}m:missing`, `${prefix}m:b`])).toEqual(["alpha", null, "beta"]);
        }));

      test("binary values (bytes 0-255) round-trip exactly", () =>
        withNodeLog(async () => {
          expect(await client.set(`${prefix}bin`, allBytes)).toBe("OK");
          expect(await rawGet(`${prefix}bin`)).toEqual(allBytes);
          const reversed = Buffer.from(allBytes).reverse();
          await rawSet(`${prefix}bin2`, reversed);
          const buffers = client.withTypeMapping({ [RESP_TYPES.BLOB_STRING]: Buffer });
          expect(await buffers.get(`${prefix}bin`)).toEqual(allBytes);
          expect(await buffers.get(`${prefix}bin2`)).toEqual(reversed);
          expect(await client.strLen(`${prefix}bin`)).toBe(256);
        }));
    });
  }
});

describe("ioredis (default options)", () => {
  const prefix = "io:";
  let proxy: RecordingProxy;
  let client: Redis;

  beforeAll(async () => {
    proxy = await RecordingProxy.start(node.port);
    client = new Redis(proxy.port, "127.0.0.1", { lazyConnect: true });
    client.on("error", (error: unknown) => console.error("ioredis error:", error));
    // connect() resolves once ioredis is ready: after its handshake and its INFO loading:0 check.
    await withNodeLog(() => client.connect());
  });

  afterAll(async () => {
    client?.disconnect();
    await proxy?.close();
  });

  test("handshake (HELLO, CLIENT SETINFO, INFO ready check) is answered without errors", () => {
    expect(client.status).toBe("ready");
    const connection = proxy.connections[0];
    if (connection === undefined) throw new Error("ioredis never connected through the proxy");
    const sent = connection.commands().map((command) => command[0]?.toUpperCase());
    expect(sent[0]).toBe("HELLO");
    expect(sent).toContain("INFO");
    expect(serverErrors(connection).filter((message) => !isToleratedHandshakeError(message))).toEqual([]);
  });

  test("SET, GET, DEL", () =>
    withNodeLog(async () => {
      expect(await client.set(`${prefix}k`, "v1")).toBe("OK");
      expect(await client.get(`${prefix}k`)).toBe("v1");
      expect(await client.del(`${prefix}k`, `${prefix}missing`)).toBe(1);
      expect(await client.get(`${prefix}k`)).toBeNull();
    }));

  test("a non-transactional pipeline of 100 commands keeps order", () =>
    withNodeLog(async () => {
      const pipeline = client.pipeline();
      for (const [name, ...args] of pipelineCommands(prefix)) pipeline.call(name, ...args);
      const results = await pipeline.exec();
      if (results === null) throw new Error("pipeline.exec() returned null");
      expect(results.map(([error]) => error)).toEqual(results.map(() => null));
      expect(results.map(([, value]) => value)).toEqual(expectedPipelineReplies());
      const sent = proxy.connections.flatMap((connection) => connection.commands());
      expect(sent.some((command) => /^(MULTI|EXEC)$/i.test(command[0] ?? ""))).toBe(false);
    }));

  test("INCR and MGET", () =>
    withNodeLog(async () => {
      expect([await client.incr(`${prefix}n`), await client.incr(`${prefix}n`), await client.incr(`${prefix}n`)]).toEqual([1, 2, 3]);
      expect(await client.incrby(`${prefix}n`, 10)).toBe(13);
      await client.set(`${prefix}m:a`, "alpha");
      await client.set(`${prefix}m:b`, "beta");
      expect(await client.mget(`${prefix}m:a`, `${prefix}m:missing`, `${prefix}m:b`)).toEqual(["alpha", null, "beta"]);
    }));

  test("binary values (bytes 0-255) round-trip exactly", () =>
    withNodeLog(async () => {
      expect(await client.set(`${prefix}bin`, allBytes)).toBe("OK");
      expect(await rawGet(`${prefix}bin`)).toEqual(allBytes);
      const reversed = Buffer.from(allBytes).reverse();
      await rawSet(`${prefix}bin2`, reversed);
      expect(await client.getBuffer(`${prefix}bin`)).toEqual(allBytes);
      expect(await client.getBuffer(`${prefix}bin2`)).toEqual(reversed);
      expect(await client.strlen(`${prefix}bin`)).toBe(256);
    }));

  test("SUBSCRIBE and PSUBSCRIBE on a second connection hear this one's PUBLISH", () =>
    withNodeLog(async () => {
      const listener = new Redis(node.port, "127.0.0.1");
      try {
        const heard: string[] = [];
        const both = Promise.withResolvers<void>();
        listener.on("message", (channel: string, message: string) => heard.push(`${channel}:${message}`));
        listener.on("pmessage", (pattern: string, channel: string, message: string) => {
          heard.push(`${pattern}|${channel}:${message}`);
          both.resolve();
        });
        expect(await listener.subscribe(`${prefix}news`)).toBe(1);
        expect(await listener.psubscribe(`${prefix}n*`)).toBe(2);
        expect(await client.publish(`${prefix}news`, "hello")).toBe(2);
        await both.promise;
        expect(heard).toEqual([`${prefix}news:hello`, `${prefix}n*|${prefix}news:hello`]);
      } finally {
        listener.disconnect();
      }
    }));

  test("BLPOP on a second connection waits for this one's RPUSH; BRPOP times out with null", () =>
    withNodeLog(async () => {
      const worker = new Redis(node.port, "127.0.0.1");
      try {
        const popped = worker.blpop(`${prefix}jobs`, 5);
        await Bun.sleep(100);
        expect(await client.rpush(`${prefix}jobs`, "job-1")).toBe(1);
        expect(await popped).toEqual([`${prefix}jobs`, "job-1"]);
        expect(await worker.brpop(`${prefix}jobs`, 0.05)).toBeNull();
      } finally {
        worker.disconnect();
      }
    }));
});

describe("Bun RedisClient", () => {
  const prefix = "bun:";
  let proxy: RecordingProxy;
  let client: RedisClient;

  beforeAll(async () => {
    proxy = await RecordingProxy.start(node.port);
    client = new RedisClient(`redis://127.0.0.1:${proxy.port}`, { autoReconnect: false });
    await withNodeLog(() => client.connect());
  });

  afterAll(async () => {
    client?.close();
    await proxy?.close();
  });

  test("handshake is answered without errors", () => {
    expect(client.connected).toBe(true);
    const connection = proxy.connections[0];
    if (connection === undefined) throw new Error("RedisClient never connected through the proxy");
    expect(connection.commands()[0]?.join(" ").toUpperCase()).toBe("HELLO 3");
    expect(serverErrors(connection)).toEqual([]);
  });

  test("SET, GET, DEL", () =>
    withNodeLog(async () => {
      expect(await client.set(`${prefix}k`, "v1")).toBe("OK");
      expect(await client.get(`${prefix}k`)).toBe("v1");
      expect(await client.del(`${prefix}k`, `${prefix}missing`)).toBe(1);
      expect(await client.get(`${prefix}k`)).toBeNull();
    }));

  test("an auto-pipelined batch of 100 commands keeps order", () =>
    withNodeLog(async () => {
      const replies: unknown[] = await Promise.all(
        pipelineCommands(prefix).map(([name, ...args]) => client.send(name, args)),
      );
      expect(replies).toEqual(expectedPipelineReplies());
    }));

  test("INCR and MGET", () =>
    withNodeLog(async () => {
      expect([await client.incr(`${prefix}n`), await client.incr(`${prefix}n`), await client.incr(`${prefix}n`)]).toEqual([1, 2, 3]);
      expect(await client.incrby(`${prefix}n`, 10)).toBe(13);
      await client.set(`${prefix}m:a`, "alpha");
      await client.set(`${prefix}m:b`, "beta");
      expect(await client.mget(`${prefix}m:a`, `${prefix}m:missing`, `${prefix}m:b`)).toEqual(["alpha", null, "beta"]);
    }));

  test("binary values (bytes 0-255) round-trip exactly", () =>
    withNodeLog(async () => {
      expect(await client.set(`${prefix}bin`, allBytes)).toBe("OK");
      expect(await rawGet(`${prefix}bin`)).toEqual(allBytes);
      const reversed = Buffer.from(allBytes).reverse();
      await rawSet(`${prefix}bin2`, reversed);
      const got = await client.getBuffer(`${prefix}bin`);
      expect(got === null ? null : Buffer.from(got)).toEqual(allBytes);
      const gotReversed = await client.getBuffer(`${prefix}bin2`);
      expect(gotReversed === null ? null : Buffer.from(gotReversed)).toEqual(reversed);
    }));
});

describe("redis-py", () => {
  interface PythonResults {
    ping: boolean;
    set: boolean;
    get: { hex: string } | null;
    del: number;
    get_after_del: { hex: string } | null;
    pipeline: Array<boolean | number | { hex: string }>;
    incr: number[];
    incrby: number;
    mget: Array<{ hex: string } | null>;
    binary_set: boolean;
    binary_get: { hex: string } | null;
    binary_strlen: number;
    blpop_served: Array<{ hex: string }>;
    blpop_timeout: null;
    pubsub_message: { type: string; channel: { hex: string }; data: { hex: string } } | null;
    publish_count: number;
  }

  let results: PythonResults;
  const hex = (text: string): { hex: string } => ({ hex: Buffer.from(text).toString("hex") });

  beforeAll(async () => {
    const result = await run([python, "test/clients/redis_py_check.py", String(node.port)]);
    if (result.exitCode !== 0) {
      throw new Error(`redis_py_check.py exited with ${result.exitCode}\n${result.stdout}\n${result.stderr}\n--- clone log ---\n${node.log()}`);
    }
    results = JSON.parse(result.stdout) as PythonResults;
  });

  test("SET, GET, DEL", () => {
    expect(results.ping).toBe(true);
    expect(results.set).toBe(true);
    expect(results.get).toEqual(hex("v1"));
    expect(results.del).toBe(1);
    expect(results.get_after_del).toBeNull();
  });

  test("a pipeline(transaction=False) of 100 commands keeps order", () => {
    // redis-py turns +OK into True and leaves bulk strings as bytes.
    const expected = expectedPipelineReplies().map((reply) =>
      reply === "OK" ? true : typeof reply === "string" ? hex(reply) : reply,
    );
    expect(results.pipeline).toEqual(expected);
  });

  test("INCR and MGET", () => {
    expect(results.incr).toEqual([1, 2, 3]);
    expect(results.incrby).toBe(13);
    expect(results.mget).toEqual([hex("alpha"), null, hex("beta")]);
  });

  test("binary values (bytes 0-255) round-trip exactly", async () => {
    expect(results.binary_set).toBe(true);
    expect(results.binary_get).toEqual({ hex: allBytes.toString("hex") });
    expect(results.binary_strlen).toBe(256);
    expect(await rawGet("py:bin")).toEqual(allBytes);
  });

  test("pubsub(): a message published on another connection arrives", () => {
    expect(results.publish_count).toBe(1);
    expect(results.pubsub_message).toEqual({ type: "message", channel: hex("py:news"), data: hex("hello") });
  });

  test("BLPOP waits for another connection's RPUSH, and times out with None", () => {
    expect(results.blpop_served).toEqual([hex("py:jobs"), hex("job-1")]);
    expect(results.blpop_timeout).toBeNull();
  });
});
