/**
 * The errors a Machine returns or throws, and how each becomes a Redis error reply.
 * Finn's sentinels keep Finn's wire texts (see shared/REFERENCE.md).
 */

/** An error whose message is sent to the client as it is; it should start with a code (`WRONGTYPE ...`). */
export class RespError extends Error {
  override name = "RespError";
}

/** The machine does not know the command: `-ERR unknown command 'name'`. */
export const ErrUnknownCommand: Error = new Error("unknown command");
/** The command has the wrong number of arguments: `-ERR wrong number of arguments for 'name' command`. */
export const ErrWrongNumberOfArguments: Error = new Error("wrong number of arguments");
/** Returned by `Machine.snapshot` to turn snapshots off. */
export const ErrDisabled: Error = new Error("disabled");

/** Redis shortens names echoed in errors; a hostile name must not make a huge error line. */
const echoedNameCharactersMax = 128;

function echoName(name: string): string {
  const short = name.length > echoedNameCharactersMax ? name.slice(0, echoedNameCharactersMax) : name;
  return short.replace(/[\r\n]/g, " ");
}

/**
 * The text of the error reply (without the leading `-`) for an error raised by command `name`
 * (lower case). Like Redis, an unknown command is echoed as the client spelled it (`given`).
 */
export function errorReplyText(error: unknown, name: string, given: string = name): string {
  if (error === ErrUnknownCommand) return `ERR unknown command '${echoName(given)}'`;
  if (error === ErrWrongNumberOfArguments) return `ERR wrong number of arguments for '${echoName(name)}' command`;
  if (error instanceof RespError) return error.message;
  if (error instanceof Error) return `ERR ${error.message}`;
  return `ERR ${String(error)}`;
}

/**
 * The error for a command this node cannot serve: `-MOVED 0 leader` (which redis-cli -c and
 * cluster clients follow) when the leader is known, else `-CLUSTERDOWN`. Both mean the command
 * was not applied.
 */
export function redirect(leader: string | null): RespError {
  return leader === null
    ? new RespError("CLUSTERDOWN No leader is known right now; the command was not applied, retry later")
    : new RespError(`MOVED 0 ${leader}`);
}
