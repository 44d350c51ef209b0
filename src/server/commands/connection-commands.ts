/** PING, ECHO, QUIT, SELECT, AUTH, HELLO and RESET: the connection commands every client sends. */
import { RespError } from "../../errors.ts";
import { createHash, timingSafeEqual } from "node:crypto";
import { type Builtin, type BuiltinContext, keyword, text } from "../builtin.ts";
import type { Connection } from "../connection.ts";
import { spec } from "../command-spec.ts";
import { subscribed } from "../dispatch.ts";

const noKeys = [0, 0, 0] as const;
const pong = new TextEncoder().encode("+PONG\r\n");

export const ping: Builtin = {
  spec: spec("ping", -1, "fast stale loading", noKeys, "connection", "Returns the server's liveliness response.", "[message]"),
  run(_context, connection, command) {
    if (command.argCount > 2) throw new RespError("ERR wrong number of arguments for 'ping' command");
    if (connection.protocol === 2 && subscribed(connection)) {
      // A subscribed RESP2 client reads arrays only: PING answers as a message would look.
      connection.writeArray(2);
      connection.writeBulk("pong");
      connection.writeBulk(command.argCount === 2 ? command.arg(1) : new Uint8Array(0));
      return;
    }
    if (command.argCount === 1) connection.writeRaw(pong);
    else connection.writeBulk(command.arg(1));
  },
};

export const echo: Builtin = {
  spec: spec("echo", 2, "fast stale loading", noKeys, "connection", "Returns the given string.", "message"),
  run(_context, connection, command) {
    connection.writeBulk(command.arg(1));
  },
};

export const quit: Builtin = {
  spec: spec("quit", -1, "fast stale loading noscript", noKeys, "connection", "Closes the connection."),
  run(_context, connection) {
    connection.writeString("OK");
    connection.closeAfterReply = true;
  },
};

export const select: Builtin = {
  spec: spec("select", 2, "fast stale loading", noKeys, "connection", "Changes the selected database (only 0 exists).", "index:integer"),
  run(_context, connection, command) {
    const index = text(command.args[1]);
    if (!/^-?\d+$/.test(index)) throw new RespError("ERR value is not an integer or out of range");
    if (Number(index) !== 0) throw new RespError("ERR DB index is out of range");
    connection.writeString("OK");
  },
};

/**
 * Checks `[user] password` and marks the connection authenticated (and admin, for the `admin`
 * user). With no password configured, AUTH answers as Redis does for a user without one.
 */
function authenticate(context: BuiltinContext, connection: Connection, args: readonly Uint8Array[]): void {
  const passwords = context.settings.passwords;
  const [first, second] = args;
  const user = second === undefined ? "default" : text(first);
  const password = text(second ?? first);
  if (passwords.client === "" && passwords.admin === "") {
    if (second === undefined) {
      throw new RespError(
        "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?",
      );
    }
    // Only the default user exists then, and it takes every password.
    if (user !== "default") throw new RespError("WRONGPASS invalid username-password pair or user is disabled.");
    return;
  }
  if (user === "default" && passwords.client === "") {
    // The default user has no password (only an admin one is set): every password is accepted, as in Redis.
    connection.grantAccess();
    return;
  }
  const expected = user === "admin" ? passwords.admin : user === "default" ? passwords.client : "";
  if (expected === "" || !secretEquals(password, expected)) {
    throw new RespError("WRONGPASS invalid username-password pair or user is disabled.");
  }
  connection.grantAccess();
  if (user === "admin") connection.admin = true;
}

/** Compares secrets in time independent of where they differ. */
function secretEquals(given: string, expected: string): boolean {
  const a = createHash("sha256").update(given).digest();
  const b = createHash("sha256").update(expected).digest();
  return timingSafeEqual(a, b);
}

export const auth: Builtin = {
  spec: spec("auth", -2, "noscript loading stale fast no-auth", noKeys, "connection", "Authenticates the connection.", "[username] password"),
  run(context, connection, command) {
    if (command.args.length > 3) throw new RespError("ERR syntax error");
    authenticate(context, connection, command.args.slice(1));
    connection.writeString("OK");
  },
};

export const hello: Builtin = {
  spec: spec("hello", -1, "noscript loading stale fast no-auth", noKeys, "connection", "Handshakes with the server.", "[protover:integer]"),
  run(context, connection, command) {
    const args = command.args;
    let protocol = connection.protocol;
    let at = 1;
    if (args.length > 1) {
      const requested = text(args[1]);
      if (!/^[-+]?\d{1,18}$/.test(requested)) throw new RespError("ERR Protocol version is not an integer or out of range");
      const version = Number(requested);
      if (version !== 2 && version !== 3) throw new RespError("NOPROTO unsupported protocol version");
      protocol = version;
      at = 2;
    }
    let name: string | null = null;
    for (; at < args.length; at++) {
      const option = keyword(args[at]);
      if (option === "auth" && at + 2 < args.length) {
        authenticate(context, connection, args.slice(at + 1, at + 3));
        at += 2;
      } else if (option === "setname" && at + 1 < args.length) {
        name = text(args[at + 1]);
        if (/[\s]/.test(name)) throw new RespError("ERR Client names cannot contain spaces, newlines or special characters.");
        at += 1;
      } else {
        throw new RespError(`ERR Syntax error in HELLO option '${text(args[at])}'`);
      }
    }
    connection.protocol = protocol;
    if (name !== null) connection.name = name;
    const writer = context.server.writerFor(connection);
    writer.protocol = protocol;
    writer.map(7);
    writer.bulk("server");
    writer.bulk("redis");
    writer.bulk("version");
    writer.bulk(context.settings.version);
    writer.bulk("proto");
    writer.integer(protocol);
    writer.bulk("id");
    writer.integer(connection.id);
    writer.bulk("mode");
    writer.bulk("standalone");
    writer.bulk("role");
    writer.bulk(context.node.isLeader ? "master" : "replica");
    writer.bulk("modules");
    writer.array(0);
  },
};

/**
 * RESET, as Redis's: the connection as it was when it opened. Its transaction is discarded and
 * WATCH forgotten, it leaves every channel and pattern, speaks RESP2, has no name, reads from the
 * leader again (READWRITE), and is authenticated only as a new connection is. Behind the
 * connection's own writes in flight, as SUBSCRIBE's changes are (a message its earlier PUBLISH
 * sends it still arrives).
 */
export const reset: Builtin = {
  spec: spec("reset", 1, "noscript loading stale fast no-auth", noKeys, "connection", "Resets the connection."),
  run(context, connection) {
    const resetNow = (): void => {
      connection.transaction = null;
      connection.forgetWatch();
      context.pubsub?.forget(connection);
      context.server.monitors.remove(connection);
      connection.protocol = 2;
      connection.name = "";
      connection.replicaReads = false;
      context.server.grantInitialAccess(connection);
      context.server.writerFor(connection).protocol = 2;
      connection.writeString("RESET");
    };
    if (connection.hasWritesInFlight) connection.whenIdle = resetNow;
    else resetNow();
  },
};
