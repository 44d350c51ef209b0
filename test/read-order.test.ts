/**
 * What a connection's reads may see while leadership moves, driven deterministically: the server
 * in process over real sockets, with a scripted node (whose role, leader and proposals the test
 * controls) and, for proxy mode, a scripted leader that answers only when told.
 *
 * - A read queued behind a write of its connection is served right after that write applies,
 *   without a barrier of its own: the write's commit proves the node's state current. When the
 *   write fails before it applied, the read must not be served from this node's state.
 * - In proxy mode, while commands of a connection wait at the leader they were forwarded to, the
 *   connection's next commands go there too, even after this node is elected: a read must not
 *   overtake the write before it, nor see a write sent after it.
 * - A transaction's reads see the state just before the transaction's first write, not the state
 *   after a write the client sent before MULTI (others' writes may apply in between).
 */
import { afterEach, describe, expect, test } from "bun:test";
import type { Socket, TCPSocketListener } from "bun";
import type { Machine } from "../src/api.ts";
import { redirect } from "../src/errors.ts";
import { Logger } from "../src/log.ts";
import type { Replicator, Ticket } from "../src/node/replicator.ts";
import { notAppliedError } from "../src/node/raft-node.ts";
import { type Command, type CommandSink, RespReader } from "../src/resp/reader.ts";
import { ClientApplier } from "../src/server/applier.ts";
import type { BuiltinContext } from "../src/server/builtin.ts";
import { builtins } from "../src/server/commands/index.ts";
import { createDispatcher } from "../src/server/dispatch.ts";
import { inflightCommandsMax, LeaderProxy } from "../src/server/proxy.ts";
import { defaultServerLimits, Server } from "../src/server/server.ts";
import { plain, RespConnection } from "./helpers/resp-client.ts";

const logger = new Logger("quiet");

/** A node whose role and leader the test sets, and whose proposals wait until the test applies them. */
class ScriptedNode implements Replicator {
  isLeader = true;
  leader: string | null = null;
  readonly proposals: { readonly command: string; readonly ticket: Ticket }[] = [];
  readonly appliedIndex = 0;
  read(): "now" | "notLeader" {
    return this.isLeader ? "now" : "notLeader";
  }
  canReadNow(): boolean {
    return this.isLeader;
  }
  leaderAddress(): string | null {
    return this.leader;
  }
  propose(command: Command, ticket: Ticket | null): void {
    if (ticket === null) throw new Error("every write here comes from a client");
    this.proposals.push({ command: command.args.map((arg) => Buffer.from(arg).toString("latin1")).join(" "), ticket });
  }
  writeRefusal(): null {
    return null;
  }
  proposeNow(): void {}
  stopped(): null {
    return null;
  }
  readonly removed = false;
  onWrite(): void {}
  beginWatch() {
    return { since: 0, release: () => {} };
  }
  replicasHolding(): number | null {
    return null;
  }
  watchedKeysChanged(): boolean {
    return false;
  }
  receive(): void {}
  status(): never {
    throw new Error("not used");
  }
  close(): void {}
}

/** GET and SET over a map that the test writes when it "applies" a proposal. */
function stringsMachine(data: Map<string, string>): Machine {
  return {
    command(applier, conn, command) {
      if (conn === null) return new Error("only client commands here");
      const key = command.key(1);
      if (command.name === "get") {
        applier.apply(conn, command, null, () => {
          const value = data.get(key);
          if (value === undefined) conn.writeNull();
          else conn.writeBulk(value);
        });
        return;
      }
      if (command.name === "set") {
        applier.apply(conn, command, () => undefined, () => conn.writeString("OK"));
        return;
      }
      return new Error(`unknown command '${command.name}'`);
    },
    snapshot: () => {},
    restore: () => {},
  };
}

interface Harness {
  readonly node: ScriptedNode;
  readonly data: Map<string, string>;
  readonly port: number;
}

const stops: (() => void)[] = [];
afterEach(() => {
  for (const stop of stops.splice(0)) stop();
});

function startServer(mode: "moved" | "proxy"): Harness {
  const node = new ScriptedNode();
  const data = new Map<string, string>();
  const server = new Server({ hostname: "127.0.0.1", port: 0, limits: defaultServerLimits, logger });
  server.listen();
  const proxy = new LeaderProxy(logger);
  const applier = new ClientApplier(node, mode, proxy);
  const context: BuiltinContext = {
    server,
    node,
    transport: null,
    cluster: null,
    settings: { port: 0, bind: "127.0.0.1", advertise: "", dir: "", durability: "low", consistency: "high", backend: "memory", version: "7.2.0", nodeId: "n1", cluster: "finn", passwords: { client: "", admin: "" } },
    startedAt: Date.now(),
    startupMemory: { heapUsed: 0, rss: 0 },
    shutdown: null,
    commandSpecs: () => [],
    machineInfo: () => ({}),
    forwardTransaction: (connection, commands) => applier.forwardTransaction(connection, commands),
  };
  server.dispatcher = createDispatcher(builtins, context, stringsMachine(data), applier);
  server.propose = (command, ticket) => node.propose(command, ticket);
  stops.push(() => {
    proxy.close();
    server.stop();
  });
  return { node, data, port: server.port };
}

/** Applies proposal `index` as the node would: the reads before it run, then it is applied and answered. */
function apply(harness: Harness, index: number, key: string, value: string): void {
  const proposal = harness.node.proposals[index];
  if (proposal === undefined) throw new Error(`no proposal ${index}`);
  proposal.ticket.beforeApply?.();
  harness.data.set(key, value);
  proposal.ticket.settle(undefined, undefined);
}

/** A leader that records the commands forwarded to it and answers them only when told. */
class ScriptedLeader implements CommandSink {
  readonly received: string[] = [];
  private socket: Socket<undefined> | null = null;
  private readonly reader = new RespReader();
  private readonly listener: TCPSocketListener<undefined>;

  constructor() {
    this.listener = Bun.listen<undefined>({
      hostname: "127.0.0.1",
      port: 0,
      socket: {
        open: (socket) => {
          this.socket = socket;
        },
        data: (_socket, chunk) => {
          this.reader.feed(chunk, this);
        },
      },
    });
    stops.push(() => this.listener.stop(true));
  }

  get address(): string {
    return `127.0.0.1:${this.listener.port}`;
  }

  onCommand(command: Command): boolean {
    this.received.push(command.args.map((arg) => Buffer.from(arg).toString("latin1")).join(" "));
    return true;
  }

  /** Sends replies, in order, for the commands received so far. */
  answer(replies: string): void {
    if (this.socket === null) throw new Error("nothing connected");
    this.socket.write(replies);
  }
}

async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(2);
  }
}

/** Connects, sends `commands` pipelined, and waits for the node to have `proposals` proposals. */
async function pipeline(harness: Harness, proposals: number, ...commands: string[][]): Promise<RespConnection> {
  const client = await RespConnection.connect(harness.port);
  for (const command of commands) client.command(...command);
  await until(() => harness.node.proposals.length === proposals, `${proposals} proposals`);
  return client;
}

describe("a read queued behind its connection's write", () => {
  test("is served right after the write applies, on the state with that write", async () => {
    const harness = startServer("moved");
    const client = await pipeline(harness, 1, ["SET", "k", "new"], ["GET", "k"]);
    apply(harness, 0, "k", "new");
    expect((await client.readMany(2)).map(plain)).toEqual(["OK", "new"]);
    client.close();
  });

  test("is refused, not served from this node's state, when the write fails before it applied", async () => {
    const harness = startServer("moved");
    harness.data.set("k", "old");
    const client = await pipeline(harness, 2, ["SET", "k", "mine"], ["GET", "k"], ["SET", "k", "again"], ["GET", "k"]);
    // The node lost leadership: the first write is refused with a redirect, the second was
    // overwritten by another leader's entry. Meanwhile the other leader may have committed writes
    // this node has not applied, so "old" would be a stale answer to both reads.
    harness.node.isLeader = false;
    harness.node.proposals[0]?.ticket.settle(undefined, redirect("127.0.0.1:7482"));
    harness.node.proposals[1]?.ticket.settle(undefined, notAppliedError("leadership changed before the write committed"));
    const replies = (await client.readMany(4)).map(plain);
    expect(replies[0]).toEqual({ error: "MOVED 0 127.0.0.1:7482" });
    expect(replies[1]).toEqual({ error: "MOVED 0 127.0.0.1:7482" });
    expect(replies[2]).toEqual({ error: "TRYAGAIN leadership changed before the write committed; the write was not applied" });
    expect(replies[3]).toEqual({ error: "TRYAGAIN The write before this read on the connection was not applied, so the read was not served; retry it" });
    client.close();
  });

  test("a write that applied with an error still lets the read behind it run", async () => {
    const harness = startServer("moved");
    harness.data.set("k", "v");
    const client = await pipeline(harness, 1, ["SET", "k", "bad"], ["GET", "k"]);
    const ticket = harness.node.proposals[0]?.ticket;
    ticket?.beforeApply?.();
    ticket?.settle(undefined, new Error("the machine refused it"));
    expect((await client.readMany(2)).map(plain)).toEqual([{ error: "ERR the machine refused it" }, "v"]);
    client.close();
  });
});

describe("a transaction's reads", () => {
  test("see the state just before the transaction's first write, not just after a write sent before MULTI", async () => {
    const harness = startServer("moved");
    const client = await pipeline(harness, 2, ["SET", "k", "before"], ["MULTI"], ["GET", "k"], ["SET", "k", "in"], ["EXEC"]);
    expect(harness.node.proposals.map((proposal) => proposal.command)).toEqual(["SET k before", "SET k in"]);
    apply(harness, 0, "k", "before");
    // Another client's write applies between the two.
    harness.data.set("k", "other");
    apply(harness, 1, "k", "in");
    expect((await client.readMany(5)).map(plain)).toEqual(["OK", "OK", "QUEUED", "QUEUED", ["other", "OK"]]);
    client.close();
  });
});

/** A follower in proxy mode, whose leader is a scripted one. */
function proxyFollower(): { harness: Harness; leader: ScriptedLeader } {
  const harness = startServer("proxy");
  const leader = new ScriptedLeader();
  harness.node.isLeader = false;
  harness.node.leader = leader.address;
  return { harness, leader };
}

/** A follower in proxy mode and its client, whose first command (`first`) waits at the scripted leader. */
async function forwardedFirst(...first: string[]): Promise<{ harness: Harness; leader: ScriptedLeader; client: RespConnection }> {
  const { harness, leader } = proxyFollower();
  const client = await RespConnection.connect(harness.port);
  client.command(...first);
  await until(() => leader.received.length === 1, "the forwarded command");
  return { harness, leader, client };
}

describe("proxy mode while this node is elected", () => {
  test("commands after one that waits at the old leader follow it there, in order; then they are served here", async () => {
    const { harness, leader, client } = await forwardedFirst("SET", "k", "one");
    harness.data.set("k", "stale");
    // This node is elected while the SET waits at the old leader.
    harness.node.isLeader = true;
    harness.node.leader = null;
    client.command("GET", "k");
    client.command("SET", "k", "two");
    client.command("GET", "k");
    await until(() => leader.received.length === 4, "every command at the old leader");
    expect(leader.received).toEqual(["SET k one", "GET k", "SET k two", "GET k"]);
    expect(harness.node.proposals).toEqual([]);
    leader.answer("+OK\r\n$3\r\none\r\n+OK\r\n$3\r\ntwo\r\n");
    expect((await client.readMany(4)).map(plain)).toEqual(["OK", "one", "OK", "two"]);
    // Nothing waits there any more: this node serves the connection itself.
    harness.data.set("k", "here");
    client.command("GET", "k");
    client.command("SET", "k", "three");
    expect(plain(await client.read())).toBe("here");
    await until(() => harness.node.proposals.length === 1, "the SET's proposal here");
    expect(leader.received.length).toBe(4);
    apply(harness, 0, "k", "three");
    expect(plain(await client.read())).toBe("OK");
    client.close();
  });

  test("EXEC is refused while commands of its connection wait at the old leader", async () => {
    const { harness, leader, client } = await forwardedFirst("GET", "k");
    harness.node.isLeader = true;
    client.command("MULTI");
    client.command("SET", "k", "in");
    client.command("EXEC");
    await Bun.sleep(50);
    expect(harness.node.proposals).toEqual([]);
    leader.answer("$-1\r\n");
    expect((await client.readMany(4)).map(plain)).toEqual([
      null,
      "OK",
      "QUEUED",
      { error: "TRYAGAIN Commands sent before EXEC are still at the previous leader; the transaction was not run" },
    ]);
    client.close();
  });
});

describe("proxy mode, transactions at a follower", () => {
  test("MULTI ... EXEC goes to the leader as one unit, and only EXEC's reply is relayed", async () => {
    const { harness, leader, client } = await forwardedFirst("SET", "before", "1");
    client.command("MULTI");
    client.command("SET", "k", "v");
    client.command("GET", "k");
    client.command("EXEC");
    client.command("GET", "after");
    await until(() => leader.received.length === 6, "the transaction and the GET after it at the leader");
    expect(leader.received).toEqual(["SET before 1", "MULTI", "SET k v", "GET k", "EXEC", "GET after"]);
    expect(harness.node.proposals).toEqual([]);
    leader.answer("+OK\r\n+OK\r\n+QUEUED\r\n+QUEUED\r\n*2\r\n+OK\r\n$1\r\nv\r\n$-1\r\n");
    expect((await client.readMany(6)).map(plain)).toEqual(["OK", "OK", "QUEUED", "QUEUED", ["OK", "v"], null]);
    client.close();
  });

  test("a transaction longer than a proxy link holds in flight is refused, not forwarded", async () => {
    const { harness, leader } = proxyFollower();
    const client = await RespConnection.connect(harness.port);
    client.command("MULTI");
    for (let i = 0; i < inflightCommandsMax; i++) client.command("SET", "k", String(i));
    client.command("EXEC");
    const replies = (await client.readMany(inflightCommandsMax + 2, 30_000)).map(plain);
    expect(replies[0]).toBe("OK");
    expect(replies.slice(1, -1).every((reply) => reply === "QUEUED")).toBe(true);
    expect(replies.at(-1)).toEqual({ error: `TRYAGAIN The transaction has more commands than a proxy link holds in flight (${inflightCommandsMax}); the command was not forwarded` });
    expect(leader.received).toEqual([]);
    client.close();
  });

  test("a transaction under WATCH is redirected: the leader did not watch its keys", async () => {
    const { harness, leader } = proxyFollower();
    const client = await RespConnection.connect(harness.port);
    client.command("WATCH", "k");
    client.command("MULTI");
    client.command("SET", "k", "v");
    client.command("EXEC");
    expect((await client.readMany(4)).map(plain)).toEqual(["OK", "OK", "QUEUED", { error: `MOVED 0 ${leader.address}` }]);
    expect(leader.received).toEqual([]);
    client.close();
  });
});

describe("proxy mode, a leader that cannot be reached", () => {
  test("commands forwarded on a link that never opened are answered TRYAGAIN (not applied), not UNCERTAIN", async () => {
    const harness = startServer("proxy");
    // A port nothing listens on any more.
    const gone = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data: () => {} } });
    const port = gone.port;
    gone.stop(true);
    harness.node.isLeader = false;
    harness.node.leader = `127.0.0.1:${port}`;
    const client = await RespConnection.connect(harness.port);
    client.command("SET", "k", "v");
    client.command("GET", "k");
    const replies = (await client.readMany(2)).map(plain);
    console.log(`replies from a follower whose leader cannot be reached: ${JSON.stringify(replies)}`);
    for (const reply of replies) {
      expect(reply).toEqual({ error: expect.stringMatching(/^TRYAGAIN The leader at 127\.0\.0\.1:\d+ could not be reached \(.*\); the command was not forwarded$/) });
    }
    client.close();
  });
});
