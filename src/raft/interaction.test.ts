/**
 * Data-driven interaction tests in the style of etcd raft's: each file in testdata/ is a script of
 * commands (`add-nodes`, `campaign`, `propose`, `deliver-msgs drop=...`, `tick-election`,
 * `stabilize`, ...), each followed by `----` and the exact output it must produce: every Ready
 * handed out and every message delivered, so a change in behaviour shows up as a readable diff.
 *
 * `REWRITE=1 bun test src/raft/interaction.test.ts` rewrites the expected outputs from the actual
 * ones; review the diff before committing it.
 */
import { expect, test } from "bun:test";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { assert } from "../assert.ts";
import { TestCluster, type TestOptions } from "./testing/cluster.ts";
import { asIndex, asNodeId, type Entry, type Message, type NodeId, type Ready } from "./types.ts";
import { decodeConfigChange, type ConfigChange } from "./config-change.ts";

const directory = join(import.meta.dir, "testdata");
const decoder = new TextDecoder();
const encoder = new TextEncoder();

function formatEntry(entry: Entry): string {
  const head = `${entry.index}/${entry.term}`;
  switch (entry.type) {
    case "noop":
      return `${head} noop`;
    case "normal":
      return `${head} ${JSON.stringify(decoder.decode(entry.data))}`;
    case "config": {
      const change = decodeConfigChange(entry.data);
      if (change.kind === "bootstrap") return `${head} config bootstrap voters=(${change.membership.voters.join(",")})`;
      return `${head} config ${change.kind} ${change.node}`;
    }
  }
}

function formatEntries(entries: readonly Entry[]): string {
  return `[${entries.map(formatEntry).join(", ")}]`;
}

function formatMessage(message: Message): string {
  const head = `${message.from}->${message.to} ${message.type} term=${message.term}`;
  switch (message.type) {
    case "append":
      return `${head} prev=${message.prevIndex}/${message.prevTerm} commit=${message.commit} entries=${formatEntries(message.entries)}`;
    case "appendResponse":
      return message.reject
        ? `${head} reject index=${message.index} hint=${message.hintIndex}/${message.hintTerm}`
        : `${head} index=${message.index}`;
    case "heartbeat":
      return `${head} commit=${message.commit} round=${message.round} sent=${message.sentIndex}/${message.sentTerm}`;
    case "heartbeatResponse":
      return `${head} round=${message.round} sent=${message.sentIndex} holds=${message.holdsSent}`;
    case "vote":
      return `${head}${message.pre ? " pre" : ""}${message.transfer ? " transfer" : ""} last=${message.lastIndex}/${message.lastTerm}`;
    case "voteResponse":
      return `${head}${message.pre ? " pre" : ""}${message.reject ? " reject" : " granted"}`;
    case "snapshot":
      return `${head} snapshot=${message.snapshot.metadata.index}/${message.snapshot.metadata.term}`;
    case "timeoutNow":
      return head;
  }
}

function formatReady(id: NodeId, ready: Ready): string[] {
  const lines = [`> ${id} ready`];
  if (ready.hardState !== null) {
    lines.push(`  hard state: term=${ready.hardState.term} vote=${ready.hardState.vote ?? "-"} commit=${ready.hardState.commit}`);
  }
  if (ready.snapshot !== null) lines.push(`  snapshot: ${ready.snapshot.metadata.index}/${ready.snapshot.metadata.term}`);
  if (ready.entries.length > 0) lines.push(`  entries: ${formatEntries(ready.entries)}`);
  if (ready.committedEntries.length > 0) lines.push(`  committed: ${formatEntries(ready.committedEntries)}`);
  for (const message of ready.messages) lines.push(`  send: ${formatMessage(message)}`);
  for (const message of ready.messagesAfterPersist) lines.push(`  send after persist: ${formatMessage(message)}`);
  for (const read of ready.readStates) lines.push(`  read state: ctx=${read.ctx} index=${read.index}`);
  for (const ctx of ready.droppedReads) lines.push(`  dropped read: ctx=${ctx}`);
  return lines;
}

/** Runs one script against one cluster. */
class Interpreter {
  private cluster: TestCluster | null = null;

  private get world(): TestCluster {
    assert(this.cluster !== null, "add-nodes first");
    return this.cluster;
  }

  private processReadies(ids: readonly NodeId[]): string[] {
    const lines: string[] = [];
    for (const id of ids) {
      for (const ready of this.world.process(id)) lines.push(...formatReady(id, ready));
    }
    return lines;
  }

  private deliver(filter: (message: Message) => boolean): string[] {
    const delivered = this.world.deliver(filter);
    return delivered.map((message) => `deliver: ${formatMessage(message)}`);
  }

  run(command: string, args: string[]): string[] {
    const named = new Map<string, string>();
    const positional: string[] = [];
    for (const arg of args) {
      const equals = arg.indexOf("=");
      if (equals > 0) named.set(arg.slice(0, equals), arg.slice(equals + 1));
      else positional.push(arg);
    }
    const ids = positional.map(asNodeId);
    const first = (): NodeId => {
      const id = ids[0];
      assert(id !== undefined, `${command} needs a node id`);
      return id;
    };
    const everyone = (): NodeId[] => (ids.length > 0 ? ids : [...this.world.nodes.keys()]);
    switch (command) {
      case "add-nodes": {
        const count = Number(positional[0]);
        const options: TestOptions = {
          preVote: named.get("prevote") !== "false",
          checkQuorum: named.get("checkquorum") !== "false",
          electionTicks: 10,
          heartbeatTicks: 1,
          ...(named.has("inflight") ? { inflightMessagesMax: Number(named.get("inflight")) } : {}),
          ...(named.has("maxbytes") ? { messageBytesMax: Number(named.get("maxbytes")) } : {}),
        };
        this.cluster = new TestCluster(Array.from({ length: count }, (_, position) => asNodeId(`n${position + 1}`)), options);
        return [`${count} nodes, membership ${this.world.raft(asNodeId("n1")).status().membership.voters.join(",")}`];
      }
      case "campaign":
        this.world.raft(first()).campaign();
        return [];
      case "propose": {
        const items = positional.slice(1).map((item) => encoder.encode(item));
        const result = this.world.raft(first()).propose(items);
        return [result.ok ? `ok index=${result.firstIndex}..${result.lastIndex} term=${result.term}` : `refused: ${result.reason}`];
      }
      case "propose-conf-change": {
        const kind = positional[1];
        const node = asNodeId(positional[2] ?? "");
        let change: ConfigChange;
        if (kind === "addLearner") change = { kind, node, address: `${node}:7481` };
        else if (kind === "promote" || kind === "remove") change = { kind, node };
        else throw new Error(`unknown change ${String(kind)}`);
        const result = this.world.raft(first()).proposeConfigChange(change);
        return [result.ok ? `ok index=${result.lastIndex} term=${result.term}` : `refused: ${result.reason}`];
      }
      case "add-learner-node":
        this.world.addNode(first());
        return [`${first()} started with an empty log`];
      case "process-ready":
        return this.processReadies(everyone());
      case "deliver-msgs": {
        const drop = named.get("drop");
        if (drop !== undefined) {
          const dropped = this.world.drop((message) => message.to === drop || message.from === drop);
          return dropped.map((message) => `dropped: ${formatMessage(message)}`);
        }
        const targets = new Set<string>(everyone());
        return this.deliver((message) => targets.has(message.to));
      }
      case "stabilize": {
        const lines: string[] = [];
        const targets = new Set<string>(everyone());
        for (let round = 0; round < 100; round++) {
          const readies = this.processReadies([...targets].map(asNodeId));
          const delivered = this.deliver((message) => targets.has(message.to) && targets.has(message.from));
          lines.push(...readies, ...delivered);
          if (readies.length === 0 && delivered.length === 0) {
            // Quiet: leaders send the commit index no append carried (the node's short timer).
            const sent = this.world.sendCommitNews([...targets].map(asNodeId));
            if (sent.length === 0) return lines;
            lines.push(`commit news: ${sent.join(",")}`);
          }
        }
        throw new Error("stabilize did not converge");
      }
      case "tick-heartbeat":
      case "tick-election": {
        const count = command === "tick-heartbeat" ? 1 : 2 * 10;
        for (const id of ids) for (let tick = 0; tick < count; tick++) this.world.raft(id).tick();
        return [];
      }
      case "tick": {
        const count = Number(named.get("count") ?? "1");
        for (const id of ids) for (let tick = 0; tick < count; tick++) this.world.raft(id).tick();
        return [];
      }
      case "status":
        return everyone().map((id) => {
          const status = this.world.raft(id).status();
          return `${id}: ${status.role} term=${status.term} leader=${status.leader ?? "-"} commit=${status.commit} applied=${status.applied} last=${status.lastIndex} voters=(${status.membership.voters.join(",")}) learners=(${status.membership.learners.join(",")})`;
        });
      case "raft-log": {
        const raft = this.world.raft(first());
        const status = raft.status();
        if (status.lastIndex < status.firstIndex) return [`empty after ${status.firstIndex - 1}`];
        return raft.entriesBetween(status.firstIndex, asIndex(status.lastIndex + 1)).map(formatEntry);
      }
      case "read-index": {
        const result = this.world.raft(first()).readIndex(Number(positional[1]), named.get("mode") === "lease" ? "lease" : "quorum");
        return [result.ok ? "ok" : `refused: ${result.reason}`];
      }
      case "transfer-leadership": {
        const to = asNodeId(named.get("to") ?? "");
        return [this.world.raft(asNodeId(named.get("from") ?? "")).transferLeadership(to) ? "ok" : "refused"];
      }
      case "compact": {
        const node = this.world.node(first());
        const status = node.raft.status();
        node.storage.createSnapshot(status.applied, status.membership, encoder.encode("image"));
        node.storage.compact(status.applied);
        return [`${first()} compacted through ${status.applied}`];
      }
      case "restart":
        this.world.restart(first());
        return [`${first()} restarted`];
      default:
        throw new Error(`unknown command ${command}`);
    }
  }
}

interface Block {
  readonly comment: string[];
  readonly command: string;
  readonly expected: string;
}

function parse(text: string): Block[] {
  const blocks: Block[] = [];
  const lines = text.split("\n");
  let position = 0;
  while (position < lines.length) {
    const comment: string[] = [];
    while (position < lines.length && (lines[position]!.startsWith("#") || lines[position]!.trim() === "")) {
      comment.push(lines[position]!);
      position++;
    }
    if (position >= lines.length) break;
    const command = lines[position]!;
    position++;
    assert(lines[position] === "----", `expected ---- after ${command}`);
    position++;
    const output: string[] = [];
    while (position < lines.length && lines[position] !== "") {
      output.push(lines[position]!);
      position++;
    }
    blocks.push({ comment, command, expected: output.join("\n") });
  }
  return blocks;
}

function render(blocks: readonly { comment: string[]; command: string; output: string }[]): string {
  return blocks.map((block) => [...block.comment, block.command, "----", ...(block.output === "" ? ["ok"] : [block.output])].join("\n")).join("\n") + "\n";
}

for (const file of readdirSync(directory).filter((name) => name.endsWith(".txt")).sort()) {
  test(`interaction: ${file}`, () => {
    const path = join(directory, file);
    const blocks = parse(readFileSync(path, "utf8"));
    const interpreter = new Interpreter();
    const results = blocks.map((block) => {
      const [command = "", ...args] = block.command.split(/\s+/).filter((word) => word !== "");
      const output = interpreter.run(command, args).join("\n");
      return { ...block, output: output === "" ? "ok" : output };
    });
    if (process.env["REWRITE"] !== undefined) {
      writeFileSync(path, render(results));
      return;
    }
    for (const result of results) expect(`${result.command}\n${result.output}`).toBe(`${result.command}\n${result.expected}`);
  });
}
