/**
 * Stream consumer groups against the real redis-server, reply for reply (`helpers/redis-diff.ts`):
 * XGROUP's subcommands with every argument error in Redis's order, and what XINFO GROUPS and
 * CONSUMERS show of them (entries-read and lag as Redis 7.0 counts them, through XADD, XDEL and
 * XTRIM). Idle times, counted from each server's clock, are compared as integers only (`idle`).
 */
import { describe, setDefaultTimeout } from "bun:test";
import { type Case, c, diffServers, diffTests, idle } from "./helpers/redis-diff.ts";

setDefaultTimeout(120_000);

const servers = diffServers();

const setup: Case[] = [c("XADD", "s", "1-0", "a", "1"), c("XADD", "s", "2-0", "b", "2"), c("XADD", "s", "3-0", "c", "3"), c("SET", "str", "v")];

const groups: Case[] = [
  ...setup,
  c("XGROUP", "CREATE", "s", "g", "0"), c("XGROUP", "CREATE", "s", "g", "0"), c("XGROUP", "CREATE", "s", "g2", "$"), c("XGROUP", "create", "s", "g3", "2", "ENTRIESREAD", "2"),
  c("XGROUP", "CREATE", "s", "g4", "1-1", "MKSTREAM"), c("XGROUP", "CREATE", "s", "g5", "+"), c("XGROUP", "CREATE", "s", "g5", "-"), c("XGROUP", "CREATE", "s", "g5", "bad"),
  c("XGROUP", "CREATE", "s", "g5", "5", "foo"), c("XGROUP", "CREATE", "s", "g5", "5", "ENTRIESREAD"), c("XGROUP", "CREATE", "s", "g5", "5", "ENTRIESREAD", "x"),
  c("XGROUP", "CREATE", "s", "g5", "5", "ENTRIESREAD", "-2"), c("XGROUP", "CREATE", "s", "g5", "5", "ENTRIESREAD", "-1"), c("XGROUP", "CREATE", "s", "g6", "5", "MKSTREAM", "ENTRIESREAD", "1", "MKSTREAM"),
  c("XGROUP", "CREATE", "nokey", "g", "0"), c("XGROUP", "CREATE", "nokey", "g", "bad"), c("XGROUP", "CREATE", "nokey", "g", "$", "MKSTREAM"), c("XLEN", "nokey"), c("TYPE", "nokey"),
  c("XGROUP", "CREATE", "nokey2", "g", "bad", "MKSTREAM"), c("EXISTS", "nokey2"), c("XGROUP", "CREATE", "str", "g", "0"), c("XGROUP", "CREATE", "str", "g", "0", "MKSTREAM"),
  c("XGROUP", "CREATE", "s"), c("XGROUP", "CREATE", "s", "g"), c("XGROUP"), c("XGROUP", "FOO"), c("XGROUP", "FOO", "s", "g"),
  c("XINFO", "GROUPS", "s"), c("XINFO", "GROUPS", "nokey"),
  // SETID
  c("XGROUP", "SETID", "s", "g", "2"), c("XGROUP", "SETID", "s", "g", "$"), c("XGROUP", "SETID", "s", "g", "-"), c("XGROUP", "SETID", "s", "g2", "+"), c("XGROUP", "SETID", "s", "g", "1", "ENTRIESREAD", "1"),
  c("XGROUP", "SETID", "s", "nog", "0"), c("XGROUP", "SETID", "nokey9", "g", "0"), c("XGROUP", "SETID", "str", "g", "0"), c("XGROUP", "SETID", "s", "g", "bad"),
  c("XGROUP", "SETID", "s", "g", "0", "ENTRIESREAD"), c("XGROUP", "SETID", "s", "g", "0", "FOO", "1"), c("XGROUP", "SETID", "s", "g", "bad", "ENTRIESREAD", "x"),
  c("XGROUP", "SETID", "s", "g", "0", "ENTRIESREAD", "-5"), c("XGROUP", "SETID", "s", "g", "0", "ENTRIESREAD", "1", "x"), c("XGROUP", "SETID", "s", "nog", "0", "ENTRIESREAD", "x"),
  c("XGROUP", "SETID", "nokey", "g", "0", "FOO", "3"), c("XGROUP", "SETID", "nokey", "g", "0", "ENTRIESREAD", "1", "ENTRIESREAD", "2"), c("XGROUP", "SETID", "s", "g", "0", "MKSTREAM"),
  c("XGROUP", "SETID", "s", "g", "0", "ENTRIESREAD", "1", "ENTRIESREAD", "2"), c("XGROUP", "SETID", "nokey", "g", "0", "ENTRIESREAD", "-3"),
  c("XGROUP", "SETID", "s"), c("XINFO", "GROUPS", "s"),
  // consumers
  c("XGROUP", "CREATECONSUMER", "s", "g", "alice"), c("XGROUP", "CREATECONSUMER", "s", "g", "alice"), c("XGROUP", "CREATECONSUMER", "s", "g", "bob"),
  c("XGROUP", "CREATECONSUMER", "s", "g", "Aaron"), c("XGROUP", "CREATECONSUMER", "s", "nog", "x"), c("XGROUP", "CREATECONSUMER", "nokey9", "g", "x"),
  c("XGROUP", "CREATECONSUMER", "s", "g"), c("XGROUP", "CREATECONSUMER", "s", "g", "x", "y"), idle("XINFO", "CONSUMERS", "s", "g"), c("XINFO", "GROUPS", "s"),
  c("XGROUP", "DELCONSUMER", "s", "g", "bob"), c("XGROUP", "DELCONSUMER", "s", "g", "bob"), c("XGROUP", "DELCONSUMER", "s", "nog", "bob"), c("XGROUP", "DELCONSUMER", "str", "g", "bob"),
  idle("XINFO", "CONSUMERS", "s", "g"), c("XINFO", "CONSUMERS", "s", "nog"), c("XINFO", "CONSUMERS", "nokey9", "g"), c("XINFO", "CONSUMERS", "str", "g"), c("XINFO", "CONSUMERS", "s"),
  // DESTROY
  c("XGROUP", "DESTROY", "s", "g2"), c("XGROUP", "DESTROY", "s", "g2"), c("XGROUP", "DESTROY", "nokey9", "g"), c("XGROUP", "DESTROY", "str", "g"), c("XGROUP", "DESTROY", "s"),
  c("XGROUP", "DESTROY", "s", "g", "x"), c("XINFO", "GROUPS", "s"),
  // HELP and XINFO's own errors
  c("XGROUP", "HELP"), c("XGROUP", "help", "x"), c("XINFO", "HELP"), c("XINFO", "FOO"), c("XINFO"), c("XINFO", "GROUPS"), c("XINFO", "GROUPS", "s", "x"), c("XINFO", "GROUPS", "str"),
  // inside a transaction
  c("MULTI"), c("XGROUP", "CREATE", "s", "t1", "0"), c("XGROUP", "CREATE", "s", "t1", "0"), c("XGROUP", "CREATE", "nokey8", "t", "0"), c("XINFO", "GROUPS", "s"), c("EXEC"),
];

// entries-read and lag as Redis 7.0 counts them: entries added, the largest deleted id, the first entry.
const lag: Case[] = [
  ...setup,
  c("XGROUP", "CREATE", "s", "a", "0"), c("XGROUP", "CREATE", "s", "b", "$"), c("XGROUP", "CREATE", "s", "c", "1-0"), c("XGROUP", "CREATE", "s", "d", "2-0", "ENTRIESREAD", "2"),
  c("XGROUP", "CREATE", "s", "e", "9-0"), c("XGROUP", "CREATE", "s", "f", "0", "ENTRIESREAD", "7"), c("XINFO", "GROUPS", "s"),
  c("XDEL", "s", "1-0"), c("XINFO", "GROUPS", "s"), c("XDEL", "s", "2-0"), c("XINFO", "GROUPS", "s"), c("XADD", "s", "4-0", "d", "4"), c("XINFO", "GROUPS", "s"),
  c("XTRIM", "s", "MAXLEN", "0"), c("XINFO", "GROUPS", "s"), c("XADD", "s", "5-0", "e", "5"), c("XINFO", "GROUPS", "s"),
  c("XGROUP", "CREATE", "empty", "g", "$", "MKSTREAM"), c("XGROUP", "CREATE", "empty", "h", "0-1"), c("XINFO", "GROUPS", "empty"),
  c("XADD", "m", "1-0", "a", "1"), c("XADD", "m", "2-0", "a", "1"), c("XADD", "m", "3-0", "a", "1"), c("XDEL", "m", "2-0"), c("XGROUP", "CREATE", "m", "x", "1-0"),
  c("XGROUP", "CREATE", "m", "y", "3-0"), c("XGROUP", "CREATE", "m", "z", "0"), c("XGROUP", "CREATE", "m", "w", "2-0", "ENTRIESREAD", "1"), c("XINFO", "GROUPS", "m"),
];

describe("stream consumer groups answer as redis-server does", () => {
  diffTests(servers, "XGROUP and XINFO GROUPS/CONSUMERS", groups);
  diffTests(servers, "entries-read and lag", lag);
});
