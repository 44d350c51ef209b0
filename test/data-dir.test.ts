/** The clone's data directory and every file it writes there are readable by their owner only. */
import { afterAll, expect, setDefaultTimeout, test } from "bun:test";
import { chmodSync, chownSync, closeSync, cpSync, openSync, readdirSync, readFileSync, readSync, renameSync, rmSync, statSync, truncateSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { CloneProcess, call, freePort, makeTemporaryDirectory, removeTemporaryDirectory } from "./helpers/clone-process.ts";
import { eventually } from "./helpers/eventually.ts";
import { RespConnection } from "./helpers/resp-client.ts";

setDefaultTimeout(60_000);

const parent = makeTemporaryDirectory("finn-perm-");
let clone: CloneProcess | undefined;
afterAll(async () => {
  await clone?.cleanup();
  removeTemporaryDirectory(parent);
});

function modesUnder(directory: string): [string, number][] {
  const found: [string, number][] = [[directory, statSync(directory).mode & 0o777]];
  for (const name of readdirSync(directory)) {
    const path = join(directory, name);
    if (statSync(path).isDirectory()) found.push(...modesUnder(path));
    else found.push([path, statSync(path).mode & 0o777]);
  }
  return found;
}

test("a new data directory, its subdirectories and its files allow nobody but the owner", async () => {
  const dir = join(parent, "nested", "data");
  clone = await CloneProcess.start({ dir, extraArguments: ["-snapshot-entries", "5"] });
  for (let i = 0; i < 20; i++) await call(clone, "SET", `k${i}`, "v");
  await call(clone, "RAFTSNAPSHOT");
  const modes = modesUnder(join(parent, "nested"));
  expect(modes.some(([path]) => path.includes("snapshots"))).toBe(true);
  for (const [path, mode] of modes) expect({ path, others: mode & 0o077 }).toEqual({ path, others: 0 });
});

/** Runs the clone on `dir` and returns what it printed when it refused to start (it must exit). */
async function refusedStart(dir: string, extra: string[] = [], chosenPort?: number): Promise<{ exitCode: number | null; signal: string | null; output: string }> {
  const port = String(chosenPort ?? (await freePort()));
  const run = Bun.spawnSync([process.execPath, "run", join(import.meta.dir, "..", "src", "clone.ts"), "-p", port, "-dir", dir, ...extra], { timeout: 20_000 });
  return { exitCode: run.exitCode, signal: run.signalCode === undefined || run.signalCode === null ? null : String(run.signalCode), output: `${run.stdout.toString()}${run.stderr.toString()}` };
}

test("a data directory in use by a running node is refused to a second one, even with its LOCK file deleted; the lock goes with the process, even after kill -9", async () => {
  const dir = join(parent, "shared");
  const first = await CloneProcess.start({ dir });
  try {
    expect(await call(first, "SET", "k", "first")).toBe("OK");
    const second = await refusedStart(dir);
    expect(second.exitCode).not.toBe(0);
    expect(second.output).toContain(`the data directory ${dir} is in use by another node (process ${first.pid})`);
    // With its LOCK file deleted too (the directory itself is locked).
    rmSync(join(dir, "LOCK"));
    const third = await refusedStart(dir);
    expect(third.exitCode).not.toBe(0);
    expect(third.output).toContain(`the data directory ${dir} is in use by another node`);
    expect(await call(first, "GET", "k")).toBe("first");
    first.kill("SIGKILL");
    await first.exited();
    await first.restart();
    expect(await call(first, "GET", "k")).toBe("first");
  } finally {
    await first.stop();
  }
});

test("a directory written by one log backend is refused to the other, and one whose identity is lost is refused", async () => {
  const dir = join(parent, "backend");
  const node = await CloneProcess.start({ dir });
  expect(await call(node, "SET", "k", "lmdb")).toBe("OK");
  await node.stop();
  const other = await refusedStart(dir, ["-backend", "memory"]);
  expect(other.exitCode).not.toBe(0);
  expect(other.output).toContain("holds a log of the lmdb backend (log.mdb): start with -backend lmdb");
  rmSync(join(dir, "finn.mdb"));
  rmSync(join(dir, "finn.mdb-lock"), { force: true });
  const lost = await refusedStart(dir);
  expect(lost.exitCode).not.toBe(0);
  expect(lost.output).toContain("holds a log but no node identity");
});

/** Overwrites `length` bytes of `path` at `offset` with zeros. */
function zeroBytes(path: string, offset: number, length: number): void {
  const fd = openSync(path, "r+");
  try {
    writeSync(fd, Buffer.alloc(length), 0, length, offset);
  } finally {
    closeSync(fd);
  }
}

/** An LMDB file's page size, as its first meta page records it (`mm_dbs[0].md_pad`, after the 24-byte page header and 24 bytes of `MDB_meta`). */
function pageBytesOf(path: string): number {
  const fd = openSync(path, "r");
  try {
    const field = Buffer.alloc(4);
    readSync(fd, field, 0, 4, 48);
    return field.readUInt32LE(0);
  } finally {
    closeSync(fd);
  }
}

/** Makes both meta pages name the main tree's root as the free list's root too (LMDB meta layout). */
function sameRoots(path: string): void {
  const pageBytes = pageBytesOf(path);
  const fd = openSync(path, "r+");
  try {
    for (const page of [0, pageBytes]) {
      const root = Buffer.alloc(8);
      readSync(fd, root, 0, 8, page + 136);
      writeSync(fd, root, 0, 8, page + 88);
    }
  } finally {
    closeSync(fd);
  }
}

test("LMDB files cut short or with a damaged meta page are refused at start, naming the file, not crashed on", async () => {
  const dir = join(parent, "damaged");
  const node = await CloneProcess.start({ dir });
  for (let i = 0; i < 2000; i++) await call(node, "SET", `key:${i}`, "x".repeat(200));
  await node.stop();
  // A log file made now has 16 KB pages (`lmdbPageBytesDefault`); the identity file, the system's.
  const logPage = pageBytesOf(join(dir, "log.mdb"));
  expect(logPage).toBe(16 * 1024);
  const damages: [string, string, (copy: string) => void][] = [
    ["log.mdb cut in half", "log.mdb", (copy) => truncateSync(join(copy, "log.mdb"), Math.floor(statSync(join(copy, "log.mdb")).size / 2))],
    ["log.mdb's first meta page zeroed", "log.mdb", (copy) => zeroBytes(join(copy, "log.mdb"), 0, logPage)],
    ["log.mdb's second meta page zeroed", "log.mdb", (copy) => zeroBytes(join(copy, "log.mdb"), logPage, logPage)],
    ["finn.mdb cut to one page", "finn.mdb", (copy) => truncateSync(join(copy, "finn.mdb"), pageBytesOf(join(copy, "finn.mdb")))],
    ["log.mdb's meta pages naming one page as the root of both trees", "log.mdb", (copy) => sameRoots(join(copy, "log.mdb"))],
  ];
  for (const [what, file, damage] of damages) {
    const copy = join(parent, `damaged-${file}-${damages.findIndex(([name]) => name === what)}`);
    cpSync(dir, copy, { recursive: true });
    damage(copy);
    const run = await refusedStart(copy);
    // Before the check, LMDB crashed the process: SIGBUS on the cut file, SIGSEGV on the meta pages.
    expect({ what, signal: run.signal, exitCode: run.exitCode }).toEqual({ what, signal: null, exitCode: 1 });
    expect(run.output).toContain(`${join(copy, file)} is damaged: `);
  }
  // A -dir that is a file is named as such (it was `EEXIST: file already exists, mkdir`).
  const file = join(parent, "damaged-file");
  cpSync(join(dir, "LOCK"), file);
  const onFile = await refusedStart(file);
  expect(onFile.exitCode).toBe(1);
  expect(onFile.output).toContain(`cannot use ${file} as the data directory: a file of that name, or in its path, is not a directory`);
  // The undamaged directory still starts and serves what it held.
  await node.restart();
  expect(await call(node, "GET", "key:1999")).toBe("x".repeat(200));
  await node.stop();
});

test("LMDB lock files the node may not write are refused at start, naming them (lmdb-js crashed the process on them)", async () => {
  const dir = join(parent, "locked");
  const node = await CloneProcess.start({ dir });
  expect(await call(node, "SET", "k", "v")).toBe("OK");
  await node.stop();
  // Nobody may reach into `parent` (it is the owner's only): the copies go where it may.
  const reachable = makeTemporaryDirectory("finn-locked-");
  chmodSync(reachable, 0o711);
  for (const lock of ["log.mdb-lock", "finn.mdb-lock"]) {
    const copy = join(reachable, lock);
    cpSync(dir, copy, { recursive: true });
    // Run as nobody, owning the directory, with the one lock file read-only.
    chownSync(copy, 65534, 65534);
    for (const name of readdirSync(copy)) chownSync(join(copy, name), 65534, 65534);
    chmodSync(join(copy, lock), 0o444);
    const port = String(await freePort());
    const run = Bun.spawnSync(
      ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", process.execPath, "run", join(import.meta.dir, "..", "src", "clone.ts"), "-p", port, "-dir", copy],
      { timeout: 20_000, env: { ...process.env, HOME: reachable } },
    );
    const output = `${run.stdout.toString()}${run.stderr.toString()}`;
    expect({ lock, signal: run.signalCode ?? null, exitCode: run.exitCode }).toEqual({ lock, signal: null, exitCode: 1 });
    expect(output).toContain(`cannot open ${join(copy, lock)} for writing (EACCES)`);
  }
  removeTemporaryDirectory(reachable);
});

test("a damaged newest snapshot, moved away as its error says, leaves the node on the previous one and the log after it; without those entries, the refusal says what to do", async () => {
  for (const trail of [2000, 10]) {
    const dir = join(parent, `snapshots-trail-${trail}`);
    const node = await CloneProcess.start({ dir, extraArguments: ["-durability", "high", "-snapshot-entries", "500", "-snapshot-trail", String(trail)] });
    // 3,000 entries, one command each (sent one at a time): snapshots at 500, 1,000, ... 3,000;
    // with a trail of 2,000 the log keeps 1,001 on, with a trail of 10 only 2,991 on.
    const connection = await RespConnection.connect(node.port);
    for (let i = 0; i < 1500; i++) {
      await connection.call("INCR", "counter");
      await connection.call("SET", `key:${i % 100}`, `value:${i}`);
    }
    connection.close();
    // Automatic snapshots are written off the loop: wait for the last one before stopping.
    const snapshotFiles = (): string[] => readdirSync(join(dir, "snapshots")).filter((name) => name.endsWith(".snap")).sort();
    await eventually("the snapshot at index 3000", snapshotFiles, (files) => files.some((name) => name.startsWith("snapshot-00000000000000003000-")));
    await node.stop();
    const files = snapshotFiles();
    const newest = join(dir, "snapshots", files[files.length - 1]!);
    expect(newest).toContain("snapshot-00000000000000003000-");
    const bytes = readFileSync(newest);
    bytes[bytes.byteLength - 5]! ^= 0xff;
    writeFileSync(newest, bytes);
    const damaged = await refusedStart(dir);
    expect(damaged.exitCode).toBe(1);
    expect(damaged.output).toContain(`snapshot file ${newest} is corrupt`);
    expect(damaged.output).toContain("Move it away to start from the previous snapshot");
    renameSync(newest, join(parent, `moved-away-${trail}.snap`));
    if (trail === 2000) {
      await node.restart();
      expect(await call(node, "GET", "counter")).toBe("1500");
      expect(await call(node, "GET", "key:99")).toBe("value:1499");
      expect(node.log()).toContain("is older than the one the log records (index 3000): going on from it");
      await node.stop();
      // And again: the older snapshot is the recorded one now.
      await node.restart();
      expect(await call(node, "INCR", "counter")).toBe(1501);
      await node.stop();
    } else {
      const refused = await refusedStart(dir);
      expect(refused.exitCode).toBe(1);
      expect(refused.output).toContain("and the log no longer holds the entries after it");
      expect(refused.output).toContain("put the snapshot file of index 3000 back in");
    }
  }
});

test("a snapshot file of another node copied into the directory is refused, not put in place of the log", async () => {
  const own = await CloneProcess.start({ dir: join(parent, "own-snapshots") });
  const other = await CloneProcess.start({ dir: join(parent, "other-snapshots") });
  try {
    for (let i = 0; i < 20; i++) await call(own, "SET", `own:${i}`, "mine");
    for (let i = 0; i < 200; i++) await call(other, "SET", `other:${i}`, "theirs");
    expect(await call(other, "RAFTSNAPSHOT")).toBe("OK");
    await own.stop();
    await other.stop();
    for (const name of readdirSync(join(other.dir, "snapshots"))) cpSync(join(other.dir, "snapshots", name), join(own.dir, "snapshots", name));
    const refused = await refusedStart(own.dir);
    expect(refused.exitCode).toBe(1);
    expect(refused.output).toContain("its membership does not hold this node");
    // Moved away, the node serves its own log again.
    for (const name of readdirSync(join(other.dir, "snapshots"))) rmSync(join(own.dir, "snapshots", name));
    await own.restart();
    expect(await call(own, "GET", "own:19")).toBe("mine");
    expect(await call(own, "GET", "other:0")).toBeNull();
  } finally {
    await own.stop();
    await other.stop();
  }
});

test("a data directory whose log was lost is refused rather than started empty under the same id", async () => {
  const dir = join(parent, "lost-log");
  const node = await CloneProcess.start({ dir });
  expect(await call(node, "SET", "k", "v")).toBe("OK");
  await node.stop();
  rmSync(join(dir, "log.mdb"));
  rmSync(join(dir, "log.mdb-lock"), { force: true });
  const run = await refusedStart(dir);
  expect(run.exitCode).toBe(1);
  expect(run.output).toContain(`the data directory ${dir} lost its log: this node wrote one (log.mdb, backend lmdb)`);
});

test("a memory-backend log that lost its tail after a snapshot was written goes on from that snapshot, not from an older state", async () => {
  const dir = join(parent, "cut-fastlog");
  const node = await CloneProcess.start({ dir, extraArguments: ["-backend", "memory"], logLevel: "notice" });
  for (let i = 0; i < 200; i++) await call(node, "INCR", "counter");
  // Below High the log reaches the disk within a second, a snapshot file at once: a power loss
  // after RAFTSNAPSHOT can leave the log as it was here, with the snapshot file beyond it.
  const synced = statSync(join(dir, "log.fastlog")).size;
  for (let i = 0; i < 300; i++) await call(node, "INCR", "counter");
  expect(await call(node, "RAFTSNAPSHOT")).toBe("OK");
  await node.stop();
  truncateSync(join(dir, "log.fastlog"), synced);
  await node.restart();
  expect(await call(node, "GET", "counter")).toBe("500");
  expect(await call(node, "INCR", "counter")).toBe(501);
  expect(node.log()).toContain("before the newest snapshot");
  expect(node.log()).toContain("Going on from the snapshot");
  await node.stop();
  // The log now records the snapshot: a second restart needs no recovery.
  await node.restart();
  expect(await call(node, "GET", "counter")).toBe("501");
  await node.stop();
  // Cut to nothing, the log lost the term and vote too: that is damage, and is refused.
  truncateSync(join(dir, "log.fastlog"), 100);
  const run = await refusedStart(dir, ["-backend", "memory"]);
  expect(run.exitCode).toBe(1);
  expect(run.output).toContain("lost the term and vote it recorded: it is damaged");
});

test("a -advertise or -join that is not host:port, and a -join of the node's own address, are refused at start", async () => {
  for (const [flags, message] of [
    [["-advertise", "garbage"], "invalid advertise address 'garbage': expected host:port"],
    [["-advertise", "127.0.0.1:99999"], "invalid advertise address '127.0.0.1:99999': expected host:port"],
    [["-join", "garbage"], "invalid join address 'garbage': expected host:port"],
  ] as const) {
    const run = await refusedStart(join(parent, `flags-${flags[1]}`), [...flags]);
    expect({ flags, exitCode: run.exitCode }).toEqual({ flags, exitCode: 1 });
    expect(run.output).toContain(message);
  }
  // Joining through itself used to retry for ever, answering CLUSTERDOWN.
  const port = await freePort();
  const self = await refusedStart(join(parent, "self-join"), ["-join", `:${port}`], port);
  expect(self.exitCode).toBe(1);
  expect(self.output).toContain(`-join :${port} is this node's own address`);
  // Another name of the loopback interface at the node's port is still the node.
  for (const name of ["localhost", "127.0.0.2"]) {
    const other = await freePort();
    const run = await refusedStart(join(parent, `self-join-${name}`), ["-join", `${name}:${other}`], other);
    expect({ name, exitCode: run.exitCode }).toEqual({ name, exitCode: 1 });
    expect(run.output).toContain(`-join ${name}:${other} is this node's own address`);
  }
});
