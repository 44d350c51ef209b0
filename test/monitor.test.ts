/**
 * MONITOR against a real clone process (src/server/monitor.ts): the lines of other clients'
 * commands in Redis's format, with arguments quoted exactly as redis-server quotes the same bytes
 * (compared with a real one); passwords redacted; administration and peers' traffic left out; a
 * transaction's commands in the order they arrived; RESET ends it, MULTI refuses it, and with an
 * admin password only the admin user may; a monitor that stops reading is closed at its output
 * limit while the node goes on; redis-py's and redis-cli's monitors read the lines.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { Socket } from "node:net";
import { call, CloneProcess, repositoryRoot } from "./helpers/clone-process.ts";
import { startRedisServer } from "./helpers/redis-diff.ts";
import { eventually } from "./helpers/eventually.ts";
import { callPort, plain, RespConnection } from "./helpers/resp-client.ts";

setDefaultTimeout(120_000);

let node: CloneProcess;

beforeAll(async () => {
  node = await CloneProcess.start({ name: "monitor" });
});

afterAll(async () => {
  await node?.cleanup();
});

const linePattern = /^(\d+)\.(\d{6}) \[0 127\.0\.0\.1:(\d+)\] (.*)$/;

/** A connection that sent MONITOR, and a way to read its next line's arguments part. */
async function startMonitor(port: number): Promise<{ connection: RespConnection; next: () => Promise<string> }> {
  const connection = await RespConnection.connect(port);
  expect(plain(await connection.call("MONITOR"))).toBe("OK");
  const next = async (): Promise<string> => {
    const line = String(plain(await connection.read()));
    const match = linePattern.exec(line);
    if (match === null) throw new Error(`not a MONITOR line: ${line}`);
    return match[4]!;
  };
  return { connection, next };
}

/** Arguments as raw bytes, some of every kind sdscatrepr escapes. */
const awkward = [Buffer.from("k y"), Buffer.from('a"b\\c\n\r\t\x07\x08\x00\x01\x7f'), Buffer.from("é☃", "utf8")];

describe("MONITOR", () => {
  test("shows other clients' commands in Redis's format, in order", async () => {
    const { connection, next } = await startMonitor(node.port);
    try {
      const client = await RespConnection.connect(node.port);
      const before = Date.now() / 1000;
      await client.call("SET", "plain", "v");
      await client.call("get", "plain");
      await client.call("SET", ...awkward);
      client.send("PING\r\n");
      expect(plain(await client.read())).toBe("PONG");
      client.close();
      const first = String(plain(await connection.read()));
      const match = linePattern.exec(first);
      expect(match).not.toBeNull();
      expect(Math.abs(Number(`${match![1]}.${match![2]}`) - before)).toBeLessThan(60);
      expect(match![4]).toBe('"SET" "plain" "v"');
      expect(await next()).toBe('"get" "plain"');
      expect(await next()).toBe('"SET" "k y" "a\\"b\\\\c\\n\\r\\t\\a\\b\\x00\\x01\\x7f" "\\xc3\\xa9\\xe2\\x98\\x83"');
      // An inline command shows its words.
      expect(await next()).toBe('"PING"');
      // A long argument shows its first 64 KB; a long line stops after about 1 MB.
      const other = await RespConnection.connect(node.port);
      await other.call("SET", "long", Buffer.alloc(1024 * 1024, "v"));
      await other.call("MSET", ...Array.from({ length: 40 }, (_, i) => [`k${i}`, "w".repeat(100 * 1024)]).flat());
      other.close();
      expect(await next()).toBe(`"SET" "long" "${"v".repeat(65536)}... (983040 more bytes)"`);
      const mset = await next();
      expect(mset.startsWith(`"MSET" "k0" "${"w".repeat(65536)}... (36864 more bytes)" "k1"`)).toBe(true);
      // Sixteen values of 64 KB pass 1 MB: the line ends after its 33rd argument, with the number left.
      expect(mset.endsWith(`... (${81 - 33} more arguments)`)).toBe(true);
    } finally {
      connection.close();
    }
  });

  test("quotes arguments as redis-server does", async () => {
    const redis = await startRedisServer();
    try {
      const bytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
      const lines: string[] = [];
      for (const target of [redis.port, node.port]) {
        const { connection, next } = await startMonitor(target);
        const client = await RespConnection.connect(target);
        await client.call("SET", "all", bytes);
        client.close();
        lines.push(await next());
        connection.close();
      }
      expect(lines[1]).toBe(lines[0]!);
    } finally {
      await redis.stop();
    }
  });

  test("leaves out administration, and shows a transaction's commands as they arrive", async () => {
    const { connection, next } = await startMonitor(node.port);
    try {
      const client = await RespConnection.connect(node.port);
      expect(plain(await client.call("SAVE"))).toBe("OK");
      expect(plain(await client.call("MULTI"))).toBe("OK");
      expect(plain(await client.call("INCR", "n"))).toBe("QUEUED");
      expect(plain(await client.call("EXEC"))).toEqual([expect.any(Number)]);
      expect(plain(await client.call("MONITOR"))).toBe("OK");
      expect(plain(await client.call("RESET"))).toBe("RESET");
      client.close();
      expect(await next()).toBe('"MULTI"');
      expect(await next()).toBe('"INCR" "n"');
      expect(await next()).toBe('"EXEC"');
      expect(await next()).toBe('"RESET"');
    } finally {
      connection.close();
    }
  });

  test("CLIENT LIST flags a monitor O; RESET ends it; MULTI refuses it", async () => {
    const { connection } = await startMonitor(node.port);
    try {
      const id = Number(plain(await connection.call("CLIENT", "ID")));
      expect(String(await call(node, "CLIENT", "LIST", "ID", String(id)))).toContain(" flags=O ");
      expect(plain(await connection.call("RESET"))).toBe("RESET");
      expect(String(await call(node, "CLIENT", "LIST", "ID", String(id)))).toContain(" flags=N ");
      // Not shown its own RESET, nor another client's command after it: its next replies are its own.
      await callPort(node.port, "SET", "unseen", "1");
      expect(plain(await connection.call("ECHO", "after"))).toBe("after");
      expect(plain(await connection.call("MULTI"))).toBe("OK");
      expect(plain(await connection.call("MONITOR"))).toEqual({ error: "ERR Command not allowed inside a transaction" });
    } finally {
      connection.close();
    }
  });

  test("redis-py's and redis-cli's monitors read the lines", async () => {
    const script = `
import json, sys, threading, time, redis
port = int(sys.argv[1])
r = redis.Redis(host="127.0.0.1", port=port, decode_responses=True)
with r.monitor() as m:
    threading.Thread(target=lambda: (time.sleep(0.2), redis.Redis(host="127.0.0.1", port=port).set("py", "v x"))).start()
    command = m.next_command()
print(json.dumps({"command": command["command"], "db": command["db"], "type": command["client_type"]}))
`;
    const child = Bun.spawn(["/usr/bin/python3", "-c", script, String(node.port)], { cwd: repositoryRoot, stdout: "pipe", stderr: "pipe", timeout: 60_000 });
    const [stdout, stderr] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text()]);
    await child.exited;
    expect(stderr).toBe("");
    expect(JSON.parse(stdout)).toEqual({ command: "SET py v x", db: 0, type: "tcp" });

    const cli = Bun.spawn(["redis-cli", "-p", String(node.port), "MONITOR"], { stdout: "pipe", stderr: "pipe" });
    try {
      const reader = cli.stdout.getReader();
      let seen = "";
      const line = /^OK\n[\s\S]*\d+\.\d{6} \[0 127\.0\.0\.1:\d+\] "SET" "cli" "seen"\n/;
      await eventually(
        "redis-cli monitor to print a SET",
        async () => {
          await callPort(node.port, "SET", "cli", "seen");
          const { value } = await reader.read();
          seen += new TextDecoder().decode(value);
          return seen;
        },
        (text) => line.test(text),
      );
    } finally {
      cli.kill();
      await cli.exited;
    }
  });
});

describe("MONITOR and access", () => {
  test("passwords are redacted; with an admin password only the admin user may monitor", async () => {
    const secured = await CloneProcess.start({ name: "monitor-admin", extraArguments: ["-auth", "client-pass", "-admin-auth", "admin-pass"] });
    try {
      const user = await RespConnection.connect(secured.port);
      expect(plain(await user.call("AUTH", "client-pass"))).toBe("OK");
      expect(plain(await user.call("MONITOR"))).toEqual({ error: "NOPERM this command needs the admin user: AUTH admin <password>" });
      user.close();
      const admin = await RespConnection.connect(secured.port);
      expect(plain(await admin.call("AUTH", "admin", "admin-pass"))).toBe("OK");
      expect(plain(await admin.call("MONITOR"))).toBe("OK");
      const client = await RespConnection.connect(secured.port);
      await client.call("AUTH", "client-pass");
      await client.call("AUTH", "wrong");
      await client.call("HELLO", "3", "AUTH", "default", "client-pass", "SETNAME", "x");
      client.close();
      const args = async (): Promise<string> => linePattern.exec(String(plain(await admin.read())))![4]!;
      expect(await args()).toBe('"AUTH" "(redacted)"');
      expect(await args()).toBe('"AUTH" "(redacted)"');
      expect(await args()).toBe('"HELLO" "3" "AUTH" "(redacted)" "(redacted)" "SETNAME" "x"');
      admin.close();
    } finally {
      await secured.cleanup();
    }
  });

  test("a monitor that stops reading is closed at its output limit, and the node goes on", async () => {
    const limited = await CloneProcess.start({ name: "monitor-limit", extraArguments: ["-client-output-buffer-limit", "1mb"] });
    const socket = new Socket();
    try {
      await new Promise<void>((resolve, reject) => {
        socket.once("error", reject);
        socket.connect(limited.port, "127.0.0.1", resolve);
      });
      socket.write("MONITOR\r\n");
      socket.pause();
      const before = Number(/client_output_buffer_limit_disconnections:(\d+)/.exec(String(await call(limited, "INFO", "stats")))?.[1]);
      // 20 MB of lines and more, far past 1 MB and what the kernel's buffers take.
      const bench = Bun.spawn(["redis-benchmark", "-p", String(limited.port), "-t", "set", "-n", "200000", "-P", "16", "-d", "64", "-q"], { stdout: "ignore", stderr: "ignore" });
      expect(await bench.exited).toBe(0);
      await eventually(
        "the monitor to be closed at its limit",
        async () => Number(/client_output_buffer_limit_disconnections:(\d+)/.exec(String(await call(limited, "INFO", "stats")))?.[1]),
        (count) => count === before + 1,
      );
      expect(await call(limited, "PING")).toBe("PONG");
      expect(limited.log()).toContain("closed for overcoming of output buffer limits");
    } finally {
      socket.destroy();
      await limited.cleanup();
    }
  });
});
