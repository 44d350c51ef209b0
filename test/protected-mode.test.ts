/**
 * Protected mode, as Redis does it: with no client password, only loopback clients are served;
 * a client from another address gets `-DENIED` and is disconnected; `-protected-mode no` or a
 * password lets it in; peers on other hosts get in when the cluster has a secret.
 *
 * A non-loopback client needs a second address, so the nodes run inside a network namespace this
 * test creates (a veth pair holding 10.213.0.1 and 10.213.0.2, nothing routed outside), and the
 * clients are redis-cli processes started inside it. The namespace is removed afterwards.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import type { Subprocess } from "bun";
import { join } from "node:path";
import { isLoopbackAddress } from "../src/server/server.ts";
import { makeTemporaryDirectory, removeTemporaryDirectory, repositoryRoot } from "./helpers/clone-process.ts";
import { eventually } from "./helpers/eventually.ts";

setDefaultTimeout(120_000);

describe("isLoopbackAddress", () => {
  test("127.0.0.0/8, ::1 and IPv4-mapped loopback are local; everything else is not", () => {
    for (const address of ["127.0.0.1", "127.1.2.3", "::1", "::ffff:127.0.0.1"]) expect(isLoopbackAddress(address)).toBe(true);
    for (const address of ["10.0.0.1", "192.168.1.5", "::ffff:10.0.0.1", "fe80::1", "128.0.0.1", "", "127.0.0.1.evil", "1127.0.0.1"]) {
      expect(isLoopbackAddress(address)).toBe(false);
    }
  });
});

const namespace = `finn-pm-${process.pid}`;
const outsideAddress = "10.213.0.1";
const secondAddress = "10.213.0.2";
const children: Subprocess[] = [];
const directories: string[] = [];

function run(...command: string[]): string {
  const result = Bun.spawnSync(command, { stdout: "pipe", stderr: "pipe" });
  if (result.exitCode !== 0) throw new Error(`${command.join(" ")} failed: ${result.stderr.toString()}`);
  return result.stdout.toString();
}

/** redis-cli inside the namespace; its reply text (errors included) with the trailing newline cut. */
function cli(host: string, port: number, ...args: string[]): string {
  const result = Bun.spawnSync(["ip", "netns", "exec", namespace, "redis-cli", "-h", host, "-p", String(port), "--no-auth-warning", ...args], {
    stdout: "pipe",
    stderr: "pipe",
  });
  return `${result.stdout.toString()}${result.stderr.toString()}`.trim();
}

/** How many voters (the leader included) RAFTPEERS lists on the node at `port` (asked over loopback). */
function voters(port: number): number {
  return cli("127.0.0.1", port, "RAFTPEERS")
    .split("\n")
    .filter((line) => line === "Leader" || line === "Voter").length;
}

/** Starts a clone inside the namespace, bound to every interface of the namespace. */
async function startClone(port: number, ...flags: string[]): Promise<void> {
  const directory = makeTemporaryDirectory("finn-pm-");
  directories.push(directory);
  const child = Bun.spawn(
    ["ip", "netns", "exec", namespace, process.execPath, "run", join(repositoryRoot, "src", "clone.ts"), "-bind", "0.0.0.0", "-p", String(port), "-dir", directory, "-loglevel", "warning", ...flags],
    { stdout: "ignore", stderr: "ignore" },
  );
  children.push(child);
  // A node with a client password answers NOAUTH: up all the same.
  await eventually(`the clone on port ${port} to answer`, () => cli("127.0.0.1", port, "PING"), (reply) => reply === "PONG" || reply.startsWith("NOAUTH"), 30_000);
}

beforeAll(() => {
  run("ip", "netns", "add", namespace);
  run("ip", "-n", namespace, "link", "set", "lo", "up");
  run("ip", "-n", namespace, "link", "add", "pma", "type", "veth", "peer", "name", "pmb");
  run("ip", "-n", namespace, "addr", "add", `${outsideAddress}/24`, "dev", "pma");
  run("ip", "-n", namespace, "addr", "add", `${secondAddress}/24`, "dev", "pmb");
  run("ip", "-n", namespace, "link", "set", "pma", "up");
  run("ip", "-n", namespace, "link", "set", "pmb", "up");
});

afterAll(async () => {
  for (const child of children) child.kill("SIGKILL");
  await Promise.all(children.map((child) => child.exited));
  Bun.spawnSync(["ip", "netns", "del", namespace]);
  for (const directory of directories) removeTemporaryDirectory(directory);
});

describe("protected mode", () => {
  test("on by default: a loopback client is served, a client from another address gets DENIED", async () => {
    await startClone(7001);
    expect(cli("127.0.0.1", 7001, "SET", "k", "v")).toBe("OK");
    const denied = cli(outsideAddress, 7001, "GET", "k");
    expect(denied).toStartWith("DENIED Finn is running in protected mode");
    expect(denied).toContain("-auth PASSWORD");
    expect(denied).toContain("-protected-mode no");
    // The node is still up and serving loopback clients.
    expect(cli("127.0.0.1", 7001, "GET", "k")).toBe("v");
  });

  test("-protected-mode no serves every address", async () => {
    await startClone(7002, "-protected-mode", "no");
    expect(cli(outsideAddress, 7002, "SET", "k", "v")).toBe("OK");
    expect(cli(outsideAddress, 7002, "GET", "k")).toBe("v");
  });

  test("with a password, protected mode does not apply: remote clients AUTH as usual", async () => {
    await startClone(7003, "-auth", "pw");
    expect(cli(outsideAddress, 7003, "GET", "k")).toStartWith("NOAUTH");
    expect(cli(outsideAddress, 7003, "-a", "pw", "SET", "k", "v")).toBe("OK");
  });

  test("a node on another host joins with the admin password, and its Raft traffic gets in with the secret", async () => {
    const secured = ["-secret", "s3cret", "-admin-auth", "adm"];
    await startClone(7004, ...secured, "-advertise", `${outsideAddress}:7004`);
    await startClone(7005, ...secured, "-advertise", `${secondAddress}:7005`, "-join", `${outsideAddress}:7004`);
    await eventually("two voters", () => voters(7004), (count) => count === 2, 30_000);
    expect(cli("127.0.0.1", 7004, "SET", "shared", "1")).toBe("OK");
    // An ordinary client from another host is still refused: no client password is set.
    expect(cli(secondAddress, 7004, "GET", "shared")).toStartWith("DENIED");
  });

  test("without an admin password, a node on another host cannot join; the first node stays alone", async () => {
    await startClone(7006, "-secret", "s3cret", "-advertise", `${outsideAddress}:7006`);
    await startClone(7007, "-secret", "s3cret", "-advertise", `${secondAddress}:7007`, "-join", `${outsideAddress}:7006`);
    // The joiner keeps asking (each try is refused with DENIED); give it a few tries.
    await Bun.sleep(3_000);
    expect(voters(7006)).toBe(1);
  });

  test("without a secret, a node on another host that would refuse the leader's links is not added", async () => {
    // The joining node may ask (the admin password), but in protected mode with no secret it
    // lets no peer on another host in: added, it would be a learner that never catches up.
    await startClone(7008, "-admin-auth", "adm", "-advertise", `${outsideAddress}:7008`);
    await startClone(7009, "-admin-auth", "adm", "-advertise", `${secondAddress}:7009`, "-join", `${outsideAddress}:7008`);
    const id = cli("127.0.0.1", 7009, "RAFTNODEID");
    expect(cli("127.0.0.1", 7008, "--user", "admin", "--pass", "adm", "RAFTJOIN", id, `${secondAddress}:7009`)).toContain(
      "refuses the leader's host (protected mode): give every node the same -secret",
    );
    expect(cli("127.0.0.1", 7008, "RAFTPEERS").split("\n")).toEqual([`${outsideAddress}:7008`, "Leader"]);
  });
});
