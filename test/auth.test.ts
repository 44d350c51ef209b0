/**
 * Passwords: clients AUTH before anything else (AUTH, AUTH default, HELLO ... AUTH), cluster
 * administration needs the admin user when an admin password is set, and a node with both
 * passwords still joins its cluster and proxies to its leader.
 */
import { afterAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { CloneProcess, cleanupAll } from "./helpers/clone-process.ts";
import { plain, RespConnection } from "./helpers/resp-client.ts";

setDefaultTimeout(120_000);

const started: CloneProcess[] = [];
afterAll(async () => {
  await cleanupAll(started);
});

const secured = ["-auth", "client-pass", "-admin-auth", "admin-pass"];

async function session(clone: CloneProcess, commands: string[][]): Promise<unknown[]> {
  const connection = await RespConnection.connect(clone.port);
  try {
    for (const command of commands) connection.command(...command);
    return (await connection.readMany(commands.length)).map(plain);
  } finally {
    connection.close();
  }
}

describe("passwords", () => {
  let first: CloneProcess;
  let second: CloneProcess;

  test("nothing but the handshake before AUTH; a wrong password is refused", async () => {
    first = await CloneProcess.start({ name: "auth-1", extraArguments: secured });
    started.push(first);
    expect(
      await session(first, [["PING"], ["SET", "k", "v"], ["AUTH", "wrong"], ["AUTH", "default", "wrong"], ["GET", "k"], ["AUTH", "client-pass"], ["SET", "k", "v"], ["GET", "k"]]),
    ).toEqual([
      { error: "NOAUTH Authentication required." },
      { error: "NOAUTH Authentication required." },
      { error: "WRONGPASS invalid username-password pair or user is disabled." },
      { error: "WRONGPASS invalid username-password pair or user is disabled." },
      { error: "NOAUTH Authentication required." },
      "OK",
      "OK",
      "v",
    ]);
  });

  test("HELLO 3 AUTH default <password> authenticates in the handshake", async () => {
    const [hello, get] = await session(first, [["HELLO", "3", "AUTH", "default", "client-pass"], ["GET", "k"]]);
    expect(hello instanceof Map && hello.get("proto")).toBe(3);
    expect(get).toBe("v");
    const [refused] = await session(first, [["HELLO", "3", "AUTH", "default", "nope"]]);
    expect(refused).toEqual({ error: "WRONGPASS invalid username-password pair or user is disabled." });
  });

  test("RESET takes the authentication back: the connection needs AUTH again, as a new one does", async () => {
    expect(
      await session(first, [["RESET"], ["AUTH", "admin", "admin-pass"], ["GET", "k"], ["RESET"], ["GET", "k"], ["RAFTSNAPSHOT"], ["AUTH", "client-pass"], ["GET", "k"], ["RAFTSNAPSHOT"]]),
    ).toEqual([
      "RESET",
      "OK",
      "v",
      "RESET",
      { error: "NOAUTH Authentication required." },
      { error: "NOAUTH Authentication required." },
      "OK",
      "v",
      { error: "NOPERM this command needs the admin user: AUTH admin <password>" },
    ]);
  });

  test("administration needs the admin user", async () => {
    expect(await session(first, [["AUTH", "client-pass"], ["RAFTSNAPSHOT"], ["AUTH", "admin", "admin-pass"], ["RAFTSNAPSHOT"]])).toEqual([
      "OK",
      { error: "NOPERM this command needs the admin user: AUTH admin <password>" },
      "OK",
      "OK",
    ]);
  });

  test("a node with the same passwords joins, and as a proxy forwards with the password", async () => {
    second = await CloneProcess.start({ name: "auth-2", join: `:${first.port}`, extraArguments: [...secured, "-redirect", "proxy"] });
    started.push(second);
    const deadline = Date.now() + 20_000;
    let peers: unknown = null;
    while (Date.now() < deadline) {
      [, peers] = await session(first, [["AUTH", "client-pass"], ["RAFTPEERS"]]);
      if (Array.isArray(peers) && peers.length === 4 && !peers.includes("Learner")) break;
      await Bun.sleep(50);
    }
    expect(Array.isArray(peers) && peers.length === 4).toBe(true);
    expect(await session(second, [["AUTH", "client-pass"], ["SET", "via-proxy", "1"], ["GET", "via-proxy"]])).toEqual(["OK", "OK", "1"]);
    // Cluster administration is not forwarded when an admin password is set (the link to the
    // leader is not the admin user): the admin is redirected to the leader.
    expect(await session(second, [["AUTH", "admin", "admin-pass"], ["RAFTREMOVEPEER", "127.0.0.1:1"]])).toEqual([
      "OK",
      { error: `MOVED 0 ${first.address}` },
    ]);
  });

  test("CLIENT LIST shows another node's link as a replica, and the admin user as admin", async () => {
    const [, replicas, normal, info] = await session(first, [["AUTH", "admin", "admin-pass"], ["CLIENT", "LIST", "TYPE", "replica"], ["CLIENT", "LIST", "TYPE", "normal"], ["CLIENT", "INFO"]]);
    const lines = (value: unknown): string[] => String(value).split("\n").filter((line) => line !== "");
    expect(lines(replicas).length).toBeGreaterThanOrEqual(1);
    for (const line of lines(replicas)) expect(line).toContain(" flags=S ");
    for (const line of lines(normal)) expect(line).toContain(" flags=N ");
    expect(String(info)).toContain(" user=admin ");
    const [, plainInfo] = await session(first, [["AUTH", "client-pass"], ["CLIENT", "INFO"]]);
    expect(String(plainInfo)).toContain(" user=default ");
    expect(await session(first, [["AUTH", "client-pass"], ["CLIENT", "KILL", "TYPE", "replica"]])).toEqual([
      "OK",
      { error: "NOPERM closing a peer node's link needs the admin user: AUTH admin <password>" },
    ]);
  });

  test("only the admin user may close a peer node's link with CLIENT KILL", async () => {
    const bystander = await RespConnection.connect(first.port);
    try {
      bystander.command("AUTH", "client-pass");
      expect(plain(await bystander.read())).toBe("OK");
      // Every connection but this one: the second node's Raft link among them.
      expect(await session(first, [["AUTH", "client-pass"], ["CLIENT", "KILL", "SKIPME", "yes"]])).toEqual([
        "OK",
        { error: "NOPERM closing a peer node's link needs the admin user: AUTH admin <password>" },
      ]);
      bystander.command("PING");
      expect(plain(await bystander.read())).toBe("PONG");
      const [, killed] = await session(first, [["AUTH", "admin", "admin-pass"], ["CLIENT", "KILL", "SKIPME", "yes"]]);
      expect(killed).toBeGreaterThanOrEqual(2);
    } finally {
      bystander.close();
    }
    // The link comes back: the second node still proxies to the leader.
    const deadline = Date.now() + 20_000;
    let reply: unknown[] = [];
    while (Date.now() < deadline) {
      reply = await session(second, [["AUTH", "client-pass"], ["SET", "after-kill", "1"]]);
      if (reply[1] === "OK") break;
      await Bun.sleep(50);
    }
    expect(reply).toEqual(["OK", "OK"]);
  });

  test("a node joining without the cluster's passwords is told which flag it lacks, and is not added", async () => {
    const withoutPassword = await CloneProcess.start({ name: "auth-nopass", join: `:${first.port}` });
    const clientPasswordOnly = await CloneProcess.start({ name: "auth-clientpass", join: `:${first.port}`, extraArguments: ["-auth", "client-pass"] });
    started.push(withoutPassword, clientPasswordOnly);
    const deadline = Date.now() + 20_000;
    const advised = (clone: CloneProcess, advice: string): boolean => clone.log().includes(advice);
    const noPassword = "the cluster has a password: start this node with the cluster's -admin-auth";
    const noAdmin = "joining needs the admin user: start this node with the cluster's -admin-auth";
    while (Date.now() < deadline && !(advised(withoutPassword, noPassword) && advised(clientPasswordOnly, noAdmin))) await Bun.sleep(50);
    expect(withoutPassword.log()).toContain(noPassword);
    expect(clientPasswordOnly.log()).toContain(noAdmin);
    const [, peers] = await session(first, [["AUTH", "client-pass"], ["RAFTPEERS"]]);
    // Nothing was added: the cluster is still the two nodes of the tests before.
    expect((peers as string[]).filter((_, at) => at % 2 === 0).sort()).toEqual([first.address, second.address].sort());
  });

  test("redis-cli -a authenticates", () => {
    const run = Bun.spawnSync(["redis-cli", "-p", String(first.port), "-a", "client-pass", "--no-auth-warning", "GET", "k"]);
    expect(run.stdout.toString().trim()).toBe("v");
  });
});
