/**
 * TLS: a node started with -tls-cert/-tls-key serves TLS only; redis-cli --tls, node-redis and
 * ioredis connect with the CA; a 3-node cluster forms, replicates and proxies over TLS; a node
 * whose CA does not trust the cluster's certificate cannot join.
 *
 * The certificates are made here with openssl: a CA, a node certificate for 127.0.0.1 signed by
 * it, and a second CA with its own node certificate (the stranger).
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import type { Subprocess } from "bun";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { freePort, makeTemporaryDirectory, removeTemporaryDirectory, repositoryRoot } from "./helpers/clone-process.ts";
import { eventually } from "./helpers/eventually.ts";

setDefaultTimeout(120_000);

const certificates = makeTemporaryDirectory("finn-tls-");
const directories: string[] = [];
const children: Subprocess[] = [];

function run(...command: string[]): void {
  const result = Bun.spawnSync(command, { cwd: certificates, stdout: "pipe", stderr: "pipe" });
  if (result.exitCode !== 0) throw new Error(`${command.join(" ")} failed: ${result.stderr.toString()}`);
}

/** A CA (`<name>-ca.pem`) and a certificate for 127.0.0.1 signed by it (`<name>.pem`, `<name>-key.pem`). */
function makeAuthority(name: string): void {
  run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", `${name}-ca-key.pem`, "-out", `${name}-ca.pem`, "-days", "2", "-subj", `/CN=${name} test CA`);
  run("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", `${name}-key.pem`, "-out", `${name}.csr`, "-subj", "/CN=127.0.0.1");
  Bun.write(join(certificates, `${name}.ext`), "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
  run("openssl", "x509", "-req", "-in", `${name}.csr`, "-CA", `${name}-ca.pem`, "-CAkey", `${name}-ca-key.pem`, "-CAcreateserial", "-out", `${name}.pem`, "-days", "2", "-extfile", `${name}.ext`);
}

function tlsFlags(name: string): string[] {
  return ["-tls-cert", join(certificates, `${name}.pem`), "-tls-key", join(certificates, `${name}-key.pem`), "-tls-ca", join(certificates, `${name}-ca.pem`)];
}

/** redis-cli over TLS, trusting `authority`'s CA; the reply text (errors included). */
function cli(port: number, authority: string, ...args: string[]): string {
  const result = Bun.spawnSync(["redis-cli", "-p", String(port), "--tls", "--cacert", join(certificates, `${authority}-ca.pem`), ...args], { stdout: "pipe", stderr: "pipe" });
  return `${result.stdout.toString()}${result.stderr.toString()}`.trim();
}

async function startNode(authority: string, ...flags: string[]): Promise<number> {
  const port = await freePort();
  const directory = makeTemporaryDirectory("finn-tls-node-");
  directories.push(directory);
  const child = Bun.spawn([process.execPath, "run", join(repositoryRoot, "src", "clone.ts"), "-p", String(port), "-dir", directory, "-loglevel", "warning", ...tlsFlags(authority), ...flags], {
    stdout: "ignore",
    stderr: "ignore",
  });
  children.push(child);
  await eventually(`the TLS node on ${port} to answer PING`, () => cli(port, authority, "PING"), (reply) => reply === "PONG", 30_000);
  return port;
}

function voters(port: number): number {
  return cli(port, "cluster", "RAFTPEERS")
    .split("\n")
    .filter((line) => line === "Leader" || line === "Voter").length;
}

beforeAll(() => {
  makeAuthority("cluster");
  makeAuthority("stranger");
});

afterAll(async () => {
  for (const child of children) child.kill("SIGKILL");
  await Promise.all(children.map((child) => child.exited));
  for (const directory of [...directories, certificates]) removeTemporaryDirectory(directory);
});

describe("TLS", () => {
  let first = 0;
  let second = 0;

  test("a 3-node cluster forms and replicates over TLS; followers proxy to the leader over TLS", async () => {
    first = await startNode("cluster");
    second = await startNode("cluster", "-join", `127.0.0.1:${first}`, "-redirect", "proxy");
    await startNode("cluster", "-join", `127.0.0.1:${first}`);
    await eventually("three voters", () => voters(first), (count) => count === 3, 30_000);
    expect(cli(first, "cluster", "SET", "tls:a", "1")).toBe("OK");
    // Through the follower: forwarded to the leader over a TLS link.
    expect(cli(second, "cluster", "SET", "tls:b", "2")).toBe("OK");
    expect(cli(second, "cluster", "GET", "tls:a")).toBe("1");
    expect(cli(first, "cluster", "GET", "tls:b")).toBe("2");
  });

  test("a plain-text client gets nothing it can read, and the node keeps serving TLS clients", async () => {
    const plain = Bun.spawnSync(["redis-cli", "-p", String(first), "PING"], { stdout: "pipe", stderr: "pipe", timeout: 10_000 });
    expect(`${plain.stdout.toString()}${plain.stderr.toString()}`).not.toContain("PONG");
    expect(cli(first, "cluster", "PING")).toBe("PONG");
  });

  test("a client past -maxclients is told so over TLS, as over plain TCP", async () => {
    const port = await startNode("cluster", "-maxclients", "1");
    // The one client the node takes: a TLS connection held open.
    let opened = false;
    const held = await Bun.connect({
      hostname: "127.0.0.1",
      port,
      tls: { ca: readFileSync(join(certificates, "cluster-ca.pem"), "utf8") },
      socket: {
        data: () => {},
        handshake: () => {
          opened = true;
        },
      },
    });
    try {
      await eventually("the held connection's handshake", () => opened, (done) => done);
      expect(cli(port, "cluster", "PING")).toContain("ERR max number of clients reached");
    } finally {
      held.end();
    }
    expect(await eventually("a client once the held one left", () => cli(port, "cluster", "PING"), (reply) => reply === "PONG")).toBe("PONG");
  });

  test("a client that does not trust the cluster's CA refuses the connection", () => {
    expect(cli(first, "stranger", "PING")).not.toBe("PONG");
  });

  test("node-redis and ioredis connect with the CA", async () => {
    const ca = readFileSync(join(certificates, "cluster-ca.pem"), "utf8");
    const { createClient } = await import("redis");
    const nodeRedis = createClient({ socket: { host: "127.0.0.1", port: first, tls: true, ca } });
    await nodeRedis.connect();
    try {
      expect(await nodeRedis.set("tls:node-redis", "x")).toBe("OK");
      expect(await nodeRedis.get("tls:node-redis")).toBe("x");
    } finally {
      await nodeRedis.quit();
    }
    const { default: Redis } = await import("ioredis");
    const ioredis = new Redis({ host: "127.0.0.1", port: first, tls: { ca } });
    try {
      expect(await ioredis.set("tls:ioredis", "y")).toBe("OK");
      expect(await ioredis.get("tls:ioredis")).toBe("y");
    } finally {
      ioredis.disconnect();
    }
  });

  test("a node whose CA does not trust the cluster cannot join it", async () => {
    const stranger = await startNode("stranger", "-join", `127.0.0.1:${first}`);
    // It keeps trying (each TLS handshake fails verification); give it a few tries.
    await Bun.sleep(3_000);
    expect(voters(first)).toBe(3);
    // And the stranger knows nothing of the cluster.
    expect(cli(stranger, "stranger", "RAFTPEERS")).not.toContain(`127.0.0.1:${first}`);
  });
});
