/**
 * MONITOR: every command this node receives from its clients, as Redis shows it to the connections
 * that asked, one status line each:
 *
 *   +1700000000.123456 [0 127.0.0.1:53211] "SET" "key" "value"
 *
 * Arguments are quoted as Redis's `sdscatrepr` quotes them (`\"`, `\\`, `\n`, `\r`, `\t`, `\a`,
 * `\b`, and `\xHH` for other bytes that are not printable ASCII), up to 64 KB of each argument
 * and about 1 MB a line (`quoteArgument`, `monitorLine`). Like Redis, MONITOR shows a
 * command once it has run (its own MONITOR and RESET do not show to the client that sent them),
 * leaves out administrative commands, commands refused before they run (NOAUTH) and peers' Raft
 * traffic, and shows `(redacted)` for the passwords of AUTH and HELLO. Unlike Redis, which shows a
 * transaction's commands when EXEC runs them, a command queued in a MULTI shows when it is queued.
 *
 * A line is fed at the end of a command's dispatch, when the shared output buffer may hold another
 * connection's replies: it never goes there (that would send them early) but takes a slot in the
 * monitor's queue, written at the end of the turn with the monitor's other replies. A monitor
 * that does not read is closed once it holds `queuedRepliesMax` lines or its unsent output passes
 * `outputBytesMax`, as every client past its output limit is.
 */
import { type Command, latin1 } from "../resp/reader.ts";
import { type Connection, Slot, SlotKind } from "./connection.ts";

const redacted = Buffer.from("(redacted)");

/** An argument longer than this shows its first this many bytes and how many more it has. */
export const monitorArgumentBytesMax = 64 * 1024;
/** A line stops after the argument that takes it past this length, and says how many more there are. */
const monitorLineBytesMax = 1024 * 1024;

/** Whether `bytes` are printable ASCII with no quote or backslash: shown as they are. */
function plainBytes(bytes: Uint8Array): boolean {
  for (const byte of bytes) if (byte < 0x20 || byte > 0x7e || byte === 0x22 || byte === 0x5c) return false;
  return true;
}

/**
 * Redis's `sdscatrepr`: the bytes as a quoted, escaped, printable string. Past
 * `monitorArgumentBytesMax` only the start is shown, with `... (N more bytes)` inside the quotes: a
 * 512 MB value would otherwise make a line of up to 2 GB, built on the node's loop.
 */
export function quoteArgument(whole: Uint8Array): string {
  const bytes = whole.length > monitorArgumentBytesMax ? whole.subarray(0, monitorArgumentBytesMax) : whole;
  const more = whole.length > bytes.length ? `... (${whole.length - bytes.length} more bytes)` : "";
  if (plainBytes(bytes)) return `"${latin1(bytes)}${more}"`;
  let text = '"';
  for (const byte of bytes) {
    switch (byte) {
      case 0x5c:
        text += "\\\\";
        break;
      case 0x22:
        text += '\\"';
        break;
      case 0x0a:
        text += "\\n";
        break;
      case 0x0d:
        text += "\\r";
        break;
      case 0x09:
        text += "\\t";
        break;
      case 0x07:
        text += "\\a";
        break;
      case 0x08:
        text += "\\b";
        break;
      default:
        text += byte >= 0x20 && byte <= 0x7e ? String.fromCharCode(byte) : `\\x${byte.toString(16).padStart(2, "0")}`;
    }
  }
  return `${text}${more}"`;
}

/**
 * Argument `index` of `command` as MONITOR and SLOWLOG show it: a password replaced (AUTH's, and
 * HELLO's after AUTH). One at a time, so that a command of a million arguments is not made into a
 * million views to show its first few.
 */
export function shownArgument(command: Command, index: number): Uint8Array {
  if (index > 0 && command.name === "auth") return redacted;
  if (index > 2 && command.name === "hello") {
    // HELLO protover [AUTH username password] [SETNAME name]: the two after an AUTH are redacted.
    for (let i = 2; i < index; i++) {
      if (command.key(i).toLowerCase() !== "auth") continue;
      if (index <= i + 2) return redacted;
      i += 2;
    }
  }
  return command.arg(index);
}

/** One MONITOR line for `command` from `connection`, at `microseconds` since the epoch. */
export function monitorLine(connection: Connection, command: Command, microseconds: number): Uint8Array {
  const seconds = Math.floor(microseconds / 1e6);
  const fraction = String(Math.floor(microseconds % 1e6)).padStart(6, "0");
  const count = command.argCount;
  let args = "";
  for (let i = 0; i < count; i++) {
    if (args.length > monitorLineBytesMax) {
      args += ` ... (${count - i} more arguments)`;
      break;
    }
    args += (i === 0 ? "" : " ") + quoteArgument(shownArgument(command, i));
  }
  return Buffer.from(`+${seconds}.${fraction} [0 ${connection.remoteAddress}] ${args}\r\n`, "latin1");
}

export class Monitors {
  private readonly connections = new Set<Connection>();

  constructor(
    private readonly limits: { readonly queuedRepliesMax: number; readonly outputBytesMax: number },
    /** Closes a monitor past its output limit (the server's, with its log line and counter). */
    private readonly disconnect: (connection: Connection, bytes: number) => void,
    /** Has a connection's queue written at the end of this turn. */
    private readonly markReady: (connection: Connection) => void,
    /** Bytes produced for a connection and not yet taken by its socket. */
    private readonly backlog: (connection: Connection) => number,
  ) {}

  get size(): number {
    return this.connections.size;
  }

  has(connection: Connection): boolean {
    return this.connections.has(connection);
  }

  add(connection: Connection): void {
    this.connections.add(connection);
  }

  /** Stops showing commands to `connection` (RESET, or it closed). */
  remove(connection: Connection): void {
    this.connections.delete(connection);
  }

  /** Shows `command`, which `connection` just ran, to every monitor (the dispatcher chose it: `shownToMonitors`). */
  feed(connection: Connection, command: Command): void {
    const line = monitorLine(connection, command, Math.floor((performance.timeOrigin + performance.now()) * 1000));
    for (const monitor of this.connections) {
      if (monitor.closed) {
        this.connections.delete(monitor);
        continue;
      }
      const backlog = this.backlog(monitor);
      if (monitor.queued >= this.limits.queuedRepliesMax || backlog > this.limits.outputBytesMax) {
        this.connections.delete(monitor);
        this.disconnect(monitor, backlog);
        continue;
      }
      monitor.enqueue(new Slot(SlotKind.Reply, "", line, null, monitor));
      this.markReady(monitor);
    }
  }
}
