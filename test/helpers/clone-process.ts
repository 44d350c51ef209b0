/**
 * A test harness that runs the example clone (`src/clone.ts`) as a real child process.
 *
 * Each clone runs in its own process group (`detached`, so `setsid()`), which lets a test stop
 * exactly what it started with a signal to the group, never anything else on the machine.
 * Output is kept in memory (bounded) so that a failure message can show what the node said.
 * Every process still alive when the test runner exits is killed by a process 'exit' hook, and
 * every temporary data directory the harness made is removed then too.
 *
 *   const node = await CloneProcess.start();
 *   // ... talk to node.port ...
 *   await node.cleanup(); // stop (SIGTERM, then SIGKILL) and remove the data directory
 */
import type { Subprocess } from "bun";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { plain, RespConnection } from "./resp-client.ts";

/** The repository root, so that tests may run from any working directory. */
export const repositoryRoot = resolve(import.meta.dir, "..", "..");
const cloneEntry = join(repositoryRoot, "src", "clone.ts");

/** How much output one process keeps: enough for the tail of a failing run, bounded for long ones. */
const outputBytesMax = 256 * 1024;
/** How long `start` waits for PING to succeed; generous because the test machine has 2 busy cores. */
const readyTimeoutMillisecondsDefault = 20_000;
/** How long `stop` waits after SIGTERM before it sends SIGKILL. */
const stopGraceMillisecondsDefault = 5_000;
/** How often readiness is polled while the process starts. */
const readyPollMillisecondsMin = 20;
const readyPollMillisecondsMax = 200;
/** How many fresh ports `start` tries when the one it picked was taken before the clone bound it. */
const portAttemptsMax = 5;

export type CloneLogLevel = "quiet" | "warning" | "notice" | "verbose" | "debug";

export interface CloneOptions {
  /** Port to listen on; a free one is picked when absent. */
  port?: number;
  /** Address to bind; 127.0.0.1 when absent. */
  bind?: string;
  /** Data directory; a fresh temporary one (removed by `cleanup`) when absent. */
  dir?: string;
  /** Passed as `-join`. */
  join?: string;
  /** Passed as `-loglevel`; `notice` when absent, so "ready to accept connections" is logged. */
  logLevel?: CloneLogLevel;
  /** More command-line flags, appended after the ones above (e.g. ["-durability", "high"]). */
  extraArguments?: readonly string[];
  /** Environment variables added to the parent's. */
  environment?: Record<string, string>;
  /** How long to wait for the node to answer PING. */
  readyTimeoutMilliseconds?: number;
  /** A label for messages (e.g. "node-2"); the port when absent. */
  name?: string;
}

/** Every clone process this test process started and has not seen exit: killed on exit. */
const liveProcesses = new Set<CloneProcess>();
/** Every temporary directory the harness made and has not removed yet: removed on exit. */
const temporaryDirectories = new Set<string>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // 'exit' handlers must be synchronous: a SIGKILL to each group and a recursive rm are.
  const killEverything = (): void => {
    for (const clone of liveProcesses) clone.killGroupSync("SIGKILL");
    for (const directory of temporaryDirectories) removeDirectory(directory);
  };
  process.on("exit", killEverything);
  // The clones run in their own sessions, so a Ctrl-C at the terminal does not reach them, and
  // a signal skips 'exit' handlers: clean up, then exit as the signal would have.
  const signalNumbers = { SIGINT: 2, SIGTERM: 15, SIGHUP: 1 } as const;
  for (const [signal, number] of Object.entries(signalNumbers)) {
    process.once(signal, () => {
      killEverything();
      process.exit(128 + number);
    });
  }
}

function removeDirectory(directory: string): void {
  try {
    rmSync(directory, { recursive: true, force: true });
  } catch (error) {
    // Not fatal for a test, but never silent: a leftover directory should be noticed.
    console.error(`clone-process: could not remove ${directory}: ${String(error)}`);
  }
}

/** Makes a fresh directory under the system temp dir; removed by `removeTemporaryDirectory` or on exit. */
export function makeTemporaryDirectory(prefix = "finn-test-"): string {
  installExitHook();
  const directory = mkdtempSync(join(tmpdir(), prefix));
  temporaryDirectories.add(directory);
  return directory;
}

export function removeTemporaryDirectory(directory: string): void {
  removeDirectory(directory);
  temporaryDirectories.delete(directory);
}

/**
 * Returns a port that was free a moment ago on `host`: binds port 0, reads the port, releases it.
 * Another process may take it before the caller binds it; `CloneProcess.start` retries then.
 */
export function freePort(host = "127.0.0.1"): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, host, () => {
      const address = server.address();
      if (address === null || typeof address === "string") {
        server.close();
        reject(new Error(`freePort: unexpected address ${String(address)}`));
        return;
      }
      const port = address.port;
      server.close((error) => (error === undefined ? resolvePort(port) : reject(error)));
    });
  });
}

/** Output of a child process, bounded: the oldest bytes are dropped first. */
class BoundedOutput {
  private text = "";
  private droppedBytes = 0;

  append(chunk: string): void {
    this.text += chunk;
    if (this.text.length > outputBytesMax) {
      const excess = this.text.length - outputBytesMax;
      this.text = this.text.slice(excess);
      this.droppedBytes += excess;
    }
  }

  toString(): string {
    return this.droppedBytes === 0 ? this.text : `[... ${this.droppedBytes} characters dropped ...]\n${this.text}`;
  }
}

function sleep(milliseconds: number): Promise<void> {
  return new Promise((resolveSleep) => setTimeout(resolveSleep, milliseconds));
}

/** Resolves with true when `promise` settles within `milliseconds`, false otherwise. */
async function settlesWithin(promise: Promise<unknown>, milliseconds: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<false>((resolveTimeout) => {
    timer = setTimeout(() => resolveTimeout(false), milliseconds);
  });
  try {
    return await Promise.race([promise.then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** One clone node running as a child process. */
export class CloneProcess {
  readonly host: string;
  readonly port: number;
  readonly dir: string;
  readonly name: string;
  private readonly options: CloneOptions;
  private readonly ownsDirectory: boolean;
  private readonly output = new BoundedOutput();
  private child: Subprocess<"ignore", "pipe", "pipe"> | null = null;
  /** Resolves when both output streams of the current child have ended. */
  private outputDone: Promise<void> = Promise.resolve();
  private cleanedUp = false;

  private constructor(options: CloneOptions, port: number, dir: string, ownsDirectory: boolean) {
    this.options = options;
    this.host = options.bind === undefined || options.bind === "0.0.0.0" ? "127.0.0.1" : options.bind;
    this.port = port;
    this.dir = dir;
    this.ownsDirectory = ownsDirectory;
    this.name = options.name ?? `clone:${port}`;
  }

  /**
   * Starts a clone and waits until it answers PING. When no port is given, a free one is picked,
   * and a fresh one is tried if the clone could not bind it (another process took it meanwhile).
   */
  static async start(options: CloneOptions = {}): Promise<CloneProcess> {
    installExitHook();
    const ownsDirectory = options.dir === undefined;
    const dir = options.dir ?? makeTemporaryDirectory("finn-clone-");
    let lastError: unknown;
    const attempts = options.port === undefined ? portAttemptsMax : 1;
    for (let attempt = 0; attempt < attempts; attempt++) {
      const port = options.port ?? (await freePort(options.bind === "0.0.0.0" ? "127.0.0.1" : options.bind));
      const clone = new CloneProcess(options, port, dir, ownsDirectory);
      try {
        await clone.launch();
        return clone;
      } catch (error) {
        lastError = error;
        await clone.stop();
        // The clone says "cannot listen on HOST:PORT: the address is already in use".
        const addressInUse = /EADDRINUSE|address is already in use/i.test(clone.log());
        if (!addressInUse) break;
      }
    }
    if (ownsDirectory) removeTemporaryDirectory(dir);
    throw lastError;
  }

  /** `host:port`, the address clients and `-join` use. */
  get address(): string {
    return `${this.host}:${this.port}`;
  }

  /** The process id of the current child (also its process group id), or null when none runs. */
  get pid(): number | null {
    return this.child?.pid ?? null;
  }

  /** True while the current child has not exited. */
  get running(): boolean {
    return this.child !== null && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Resolves with the exit code (or signal name) when the current child exits. */
  async exited(): Promise<number | string | null> {
    const child = this.child;
    if (child === null) return null;
    await child.exited;
    return child.signalCode ?? child.exitCode;
  }

  /** Everything the process wrote to stdout and stderr so far (bounded), for failure messages. */
  log(): string {
    return this.output.toString();
  }

  /** Sends `signal` to the process group of the current child; no-op if none runs. */
  kill(signal: NodeJS.Signals | number = "SIGTERM"): void {
    this.killGroupSync(signal);
  }

  /** @internal Synchronous group kill, also used by the exit hook. */
  killGroupSync(signal: NodeJS.Signals | number): void {
    const child = this.child;
    if (child === null || !this.running) return;
    try {
      // A negative pid addresses the whole process group the child leads (it called setsid()).
      process.kill(-child.pid, signal);
    } catch (error) {
      // ESRCH: the group is already gone, which is what we wanted.
      if ((error as NodeJS.ErrnoException).code !== "ESRCH") throw error;
    }
  }

  /**
   * Stops the current child: SIGTERM to its group, then SIGKILL if it has not exited within the
   * grace period. Safe to call at any time, repeatedly, and when nothing runs.
   * Resolves with the exit code or signal name, or null when nothing was running.
   */
  async stop(graceMilliseconds = stopGraceMillisecondsDefault): Promise<number | string | null> {
    const child = this.child;
    if (child === null) return null;
    if (this.running) {
      this.killGroupSync("SIGTERM");
      if (!(await settlesWithin(child.exited, graceMilliseconds))) {
        this.output.append(`\n[clone-process: no exit ${graceMilliseconds} ms after SIGTERM; sending SIGKILL]\n`);
        this.killGroupSync("SIGKILL");
        await child.exited;
      }
    }
    await child.exited;
    if (this.child === child) liveProcesses.delete(this);
    await settlesWithin(this.outputDone, 1_000);
    return child.signalCode ?? child.exitCode;
  }

  /** Stops the node (gracefully) and starts it again on the same port and data directory. */
  async restart(): Promise<void> {
    await this.stop();
    await this.launch();
  }

  /** Stops the node and removes its data directory if the harness made it. Idempotent. */
  async cleanup(): Promise<void> {
    if (this.cleanedUp) return;
    this.cleanedUp = true;
    await this.stop();
    if (this.ownsDirectory) removeTemporaryDirectory(this.dir);
  }

  /** The command line of the child. */
  commandLine(): string[] {
    const options = this.options;
    const argv = [process.execPath, "run", cloneEntry, "-p", String(this.port), "-dir", this.dir];
    if (options.bind !== undefined) argv.push("-bind", options.bind);
    if (options.join !== undefined) argv.push("-join", options.join);
    argv.push("-loglevel", options.logLevel ?? "notice");
    if (options.extraArguments !== undefined) argv.push(...options.extraArguments);
    return argv;
  }

  private async launch(): Promise<void> {
    if (this.cleanedUp) throw new Error(`${this.name}: launch after cleanup`);
    if (this.running) throw new Error(`${this.name}: already running (pid ${this.pid})`);
    const argv = this.commandLine();
    this.output.append(`[clone-process: ${argv.join(" ")}]\n`);
    const child = Bun.spawn(argv, {
      cwd: repositoryRoot,
      env: { ...process.env, ...this.options.environment },
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
      detached: true,
    });
    this.child = child;
    liveProcesses.add(this);
    void child.exited.then(() => {
      if (this.child === child) liveProcesses.delete(this);
    });
    this.outputDone = Promise.all([this.collect(child.stdout), this.collect(child.stderr)]).then(() => undefined);
    await this.waitReady(this.options.readyTimeoutMilliseconds ?? readyTimeoutMillisecondsDefault);
  }

  private async collect(stream: ReadableStream<Uint8Array>): Promise<void> {
    const decoder = new TextDecoder();
    try {
      for await (const chunk of stream) this.output.append(decoder.decode(chunk, { stream: true }));
    } catch (error) {
      this.output.append(`\n[clone-process: output stream failed: ${String(error)}]\n`);
    }
  }

  /** The value of `-auth` among the extra arguments, if any. */
  private passwordArgument(): string | null {
    const extra = this.options.extraArguments ?? [];
    const at = extra.findIndex((argument) => argument === "-auth" || argument === "--auth");
    return at >= 0 ? (extra[at + 1] ?? null) : null;
  }

  /** Polls until a TCP connection succeeds and PING is answered with PONG, or fails clearly. */
  private async waitReady(timeoutMilliseconds: number): Promise<void> {
    const deadline = Date.now() + timeoutMilliseconds;
    let poll = readyPollMillisecondsMin;
    let lastError = "no attempt yet";
    while (Date.now() < deadline) {
      if (!this.running) {
        await settlesWithin(this.outputDone, 1_000);
        throw new Error(
          `${this.name} exited (${String(await this.exited())}) before answering PING\n--- log ---\n${this.log()}`,
        );
      }
      const attemptMilliseconds = Math.max(100, Math.min(2_000, deadline - Date.now()));
      try {
        const connection = await RespConnection.connect(this.port, this.host, { timeoutMilliseconds: attemptMilliseconds });
        try {
          // A node started with -auth wants the password first.
          const password = this.passwordArgument();
          if (password !== null) {
            connection.command("AUTH", password);
            await connection.read(attemptMilliseconds);
          }
          connection.command("PING");
          const reply = await connection.read(attemptMilliseconds);
          if (reply.type === "simple" && reply.value === "PONG") {
            // Make sure it is our child that answered, not another process that holds the port.
            connection.command("INFO", "server");
            const info = plain(await connection.read(attemptMilliseconds));
            const processId = typeof info === "string" ? /^process_id:(\d+)/m.exec(info)?.[1] : undefined;
            if (processId === undefined || Number(processId) === this.pid) return;
            lastError = `port ${this.port} is answered by another process (pid ${processId})`;
          } else {
            lastError = `PING answered ${Bun.inspect(plain(reply))}`;
          }
        } finally {
          connection.close();
        }
      } catch (error) {
        lastError = String(error);
      }
      await sleep(poll);
      poll = Math.min(readyPollMillisecondsMax, poll * 2);
    }
    throw new Error(
      `${this.name} did not answer PING within ${timeoutMilliseconds} ms (last: ${lastError})\n--- log ---\n${this.log()}`,
    );
  }
}

/** Stops and cleans up every given clone, collecting failures instead of stopping at the first. */
export async function cleanupAll(clones: Iterable<CloneProcess | undefined>): Promise<void> {
  const results = await Promise.allSettled([...clones].map((clone) => clone?.cleanup()));
  const failures = results.filter((result): result is PromiseRejectedResult => result.status === "rejected");
  if (failures.length > 0) throw new AggregateError(failures.map((failure) => failure.reason), "cleanup failed");
}

/** Sends one command to a clone on a fresh connection and returns its reply as a plain value. */
export async function call(clone: CloneProcess, ...args: string[]): Promise<unknown> {
  const connection = await RespConnection.connect(clone.port, clone.host);
  try {
    return plain(await connection.call(...args));
  } finally {
    connection.close();
  }
}
