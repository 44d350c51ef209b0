/**
 * `bun run build.ts` must produce one executable that works on its own: copied alone into an
 * empty directory with no `node_modules` anywhere above it and run with a bare environment, it
 * must still load lmdb's native addon (and msgpackr's), which a plain `bun build --compile`
 * leaves on the build machine's disk.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Socket } from "bun";
import { copyFileSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const root = resolve(import.meta.dir, "..");
const buildScript = join(root, "src", "build.ts");
/** A bare environment: no node_modules on PATH, no NODE_PATH, no BUN_* settings. */
const bareEnvironment = { PATH: "/usr/bin:/bin" };

/** The example server that `npm run build` compiles. */
const cloneEntry = join(root, "src", "clone.ts");

/** Temporary directories of this file, removed after all tests, on failure too. */
const temporaryDirectories: string[] = [];

function temporaryDirectory(prefix: string): string {
  // Under the system temp dir (/tmp), so that no node_modules lies on the path above it.
  const directory = mkdtempSync(join(tmpdir(), prefix));
  temporaryDirectories.push(directory);
  return directory;
}

afterAll(() => {
  for (const directory of temporaryDirectories) rmSync(directory, { recursive: true, force: true });
});

/** Runs `bun run build.ts entry outfile` and returns what it printed. */
async function runBuild(entry: string, outfile: string): Promise<string> {
  const child = Bun.spawn([process.execPath, "run", buildScript, entry, outfile], {
    cwd: root,
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdout, stderr, exitCode] = await Promise.all([
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
    child.exited,
  ]);
  if (exitCode !== 0) throw new Error(`build.ts exited with ${exitCode}:\n${stdout}${stderr}`);
  return stdout;
}

/** Copies `binary` alone into a fresh empty directory and returns the copy's path. */
function isolate(binary: string, name: string): { directory: string; executable: string } {
  const directory = temporaryDirectory("finn-build-run-");
  const executable = join(directory, name);
  copyFileSync(binary, executable);
  return { directory, executable };
}

// A program that uses every native path build.ts rewrites: lmdb's ES module and CommonJS
// entries (each loads the addon), its compression dictionary, and msgpackr's accelerator.
const fixtureSource = `
import { open } from "lmdb";
import { pack, unpack, isNativeAccelerationEnabled } from "msgpackr";
const directory = process.argv[2];
if (directory === undefined) throw new Error("usage: fixture DIR");
const db = open({ path: directory + "/esm", compression: true });
const big = "abc".repeat(5000);
await db.put("big", big);
await db.put("small", { value: 1 });
await db.flushed;
if (db.get("big") !== big) throw new Error("lmdb compressed round trip failed");
if (db.get("small")?.value !== 1) throw new Error("lmdb round trip failed");
await db.close();
const lmdbCommonJs = require("lmdb");
const other = lmdbCommonJs.open({ path: directory + "/cjs", compression: true });
await other.put("big", big);
await other.flushed;
if (other.get("big") !== big) throw new Error("lmdb (CommonJS) round trip failed");
await other.close();
const packed = unpack(pack({ list: [1, 2, 3], text: "x".repeat(100) }));
if (packed.list.length !== 3 || packed.text.length !== 100) throw new Error("msgpackr round trip failed");
if (!isNativeAccelerationEnabled) throw new Error("msgpackr-extract did not load");
console.log("ok");
`;

describe("build.ts", () => {
  let fixtureBinary = "";
  let fixtureBuildOutput = "";

  beforeAll(async () => {
    // The fixture needs the project's packages to build, so it sits beside a link to them;
    // the binary then runs somewhere else, with none.
    const source = temporaryDirectory("finn-build-src-");
    symlinkSync(join(root, "node_modules"), join(source, "node_modules"));
    writeFileSync(join(source, "fixture.ts"), fixtureSource);
    const outdir = temporaryDirectory("finn-build-out-");
    fixtureBinary = join(outdir, "fixture");
    fixtureBuildOutput = await runBuild(join(source, "fixture.ts"), fixtureBinary);
  });

  test("writes one executable and reports its size and embedded addons", () => {
    const outdir = resolve(fixtureBinary, "..");
    expect(readdirSync(outdir)).toEqual(["fixture"]);
    expect(fixtureBuildOutput).toMatch(/fixture \d+\.\d MB \(\d+ bytes, bun-\w+-\w+\)/);
    expect(fixtureBuildOutput).toContain("@lmdb/lmdb-");
    expect(fixtureBuildOutput).toContain("@msgpackr-extract/msgpackr-extract-");
  });

  test("the executable runs LMDB and msgpackr from an empty directory", async () => {
    const { directory, executable } = isolate(fixtureBinary, "fixture");
    const child = Bun.spawn([executable, join(directory, "data")], {
      cwd: directory,
      env: bareEnvironment,
      stdout: "pipe",
      stderr: "pipe",
    });
    const [stdout, stderr, exitCode] = await Promise.all([
      new Response(child.stdout).text(),
      new Response(child.stderr).text(),
      child.exited,
    ]);
    expect({ exitCode, stdout, stderr }).toEqual({ exitCode: 0, stdout: "ok\n", stderr: "" });
  });

  test("the executable says what to do, without a stack trace, when $TMPDIR cannot hold its addon", async () => {
    const { directory, executable } = isolate(fixtureBinary, "fixture");
    const child = Bun.spawn([executable, join(directory, "data")], {
      cwd: directory,
      env: { ...bareEnvironment, TMPDIR: join(directory, "missing") },
      stdout: "pipe",
      stderr: "pipe",
    });
    const [stderr, exitCode] = await Promise.all([new Response(child.stderr).text(), child.exited]);
    expect(exitCode).toBe(1);
    expect(stderr).toContain("Cannot load LMDB's native addon embedded in this executable");
    expect(stderr).toContain("Set TMPDIR to a writable directory");
    expect(stderr).not.toContain("    at ");
  });

  test("fails with a clear message and status for a missing entry", async () => {
    const child = Bun.spawn([process.execPath, "run", buildScript, join(root, "no-such-entry.ts"), "/dev/null/x"], {
      cwd: root,
      stdout: "pipe",
      stderr: "pipe",
    });
    const [stderr, exitCode] = await Promise.all([new Response(child.stderr).text(), child.exited]);
    expect(exitCode).toBe(1);
    expect(stderr).toContain("no-such-entry.ts does not exist");
  });
});

/** A port that was free a moment ago (the kernel picks it; the listener is closed at once). */
function freePort(): number {
  const listener = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const { port } = listener;
  listener.stop(true);
  return port;
}

/**
 * One raw RESP connection: `request` sends bytes and resolves with everything received until
 * the reply is at least `expected.length` bytes or ends a line without a prefix of `expected`.
 */
class RawConnection {
  private received = "";
  private wake: (() => void) | null = null;

  private constructor(private readonly socket: Socket<undefined>) {}

  static async open(port: number): Promise<RawConnection> {
    let connection: RawConnection | null = null;
    const socket = await Bun.connect({
      hostname: "127.0.0.1",
      port,
      socket: {
        data(_socket, chunk) {
          if (connection === null) return;
          connection.received += chunk.toString("latin1");
          connection.wake?.();
        },
        close() {
          connection?.wake?.();
        },
      },
    });
    connection = new RawConnection(socket);
    return connection;
  }

  async request(command: string[], expected: string, timeoutMs: number): Promise<string> {
    const encoded = `*${command.length}\r\n` + command.map((part) => `$${Buffer.byteLength(part)}\r\n${part}\r\n`).join("");
    this.received = "";
    this.socket.write(encoded);
    const deadline = Date.now() + timeoutMs;
    while (!this.complete(expected) && Date.now() < deadline) {
      await new Promise<void>((wake) => {
        this.wake = wake;
        setTimeout(wake, 50);
      });
      this.wake = null;
    }
    return this.received;
  }

  private complete(expected: string): boolean {
    if (this.received.length >= expected.length) return true;
    // A different reply (an error, say) is complete once it ends a line.
    return !expected.startsWith(this.received) && this.received.endsWith("\r\n");
  }

  close(): void {
    this.socket.end();
  }
}

/** Connects to `port` once the process listening there accepts, or throws if it exits first. */
async function connectWhenReady(port: number, child: { exitCode: number | null }, timeoutMs: number): Promise<RawConnection> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`the server exited with ${child.exitCode} before it listened`);
    try {
      return await RawConnection.open(port);
    } catch (error) {
      if (Date.now() > deadline) throw new Error(`port ${port} did not accept in ${timeoutMs} ms: ${String(error)}`);
      await Bun.sleep(50);
    }
  }
}

/** Stops a server we started: SIGTERM (it closes LMDB and exits), SIGKILL if it lingers. */
async function stop(child: { exitCode: number | null; exited: Promise<number>; kill(signal: NodeJS.Signals): void }): Promise<void> {
  if (child.exitCode !== null) return;
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
  await child.exited;
  clearTimeout(timer);
}

describe("npm run build (src/clone.ts)", () => {
  test("the compiled clone serves PING, SET and GET with LMDB from an empty directory", async () => {
    const outdir = temporaryDirectory("finn-build-clone-");
    const binary = join(outdir, "finn-clone");
    const output = await runBuild(cloneEntry, binary);
    expect(output).toContain("@lmdb/lmdb-");

    const { directory, executable } = isolate(binary, "finn-clone");
    const port = freePort();
    const child = Bun.spawn([executable, "-p", String(port), "-dir", join(directory, "data")], {
      cwd: directory,
      env: bareEnvironment,
      stdout: "pipe",
      stderr: "pipe",
    });
    const stderrText = new Response(child.stderr).text();
    const stdoutText = new Response(child.stdout).text();
    let connection: RawConnection | null = null;
    try {
      connection = await connectWhenReady(port, child, 15_000);
      // The node listens before it has opened its log and state machine, and answers -LOADING
      // meanwhile, as Redis does while it loads (on a loaded machine that can take a while).
      let pong = "";
      const readyBy = Date.now() + 15_000;
      do {
        pong = await connection.request(["PING"], "+PONG\r\n", 5_000);
        if (!pong.startsWith("-LOADING")) break;
        await Bun.sleep(50);
      } while (Date.now() < readyBy);
      expect(pong).toBe("+PONG\r\n");
      // A single node may still be electing itself leader; until then SET is refused.
      let reply = "";
      const deadline = Date.now() + 10_000;
      do {
        reply = await connection.request(["SET", "k", "v"], "+OK\r\n", 5_000);
        if (reply === "+OK\r\n" || !reply.startsWith("-")) break;
        await Bun.sleep(100);
      } while (Date.now() < deadline);
      expect(reply).toBe("+OK\r\n");
      expect(await connection.request(["GET", "k"], "$1\r\nv\r\n", 5_000)).toBe("$1\r\nv\r\n");
    } catch (error) {
      await stop(child);
      throw new Error(`${String(error)}\nserver stdout:\n${await stdoutText}\nserver stderr:\n${await stderrText}`);
    } finally {
      connection?.close();
      await stop(child);
    }
  });
});
