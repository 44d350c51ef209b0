import { describe, expect, test } from "bun:test";
import { leaderInReply } from "./cluster.ts";

describe("leaderInReply (a removed node asking its old cluster who leads)", () => {
  test("a bulk with an address is the leader", () => {
    expect(leaderInReply("$14\r\n127.0.0.1:7900")).toBe("127.0.0.1:7900");
  });

  test("no leader known (a null bulk), an error or what is not an address is none", () => {
    expect(leaderInReply("$-1")).toBeNull();
    expect(leaderInReply("-CLUSTERDOWN No leader is known right now")).toBeNull();
    expect(leaderInReply("$2\r\n-1")).toBeNull();
    expect(leaderInReply("")).toBeNull();
    expect(leaderInReply("+OK")).toBeNull();
  });
});
