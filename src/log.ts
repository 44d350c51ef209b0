/**
 * Log lines in Redis's own format, as Finn writes them: `pid:role dd Mon hh:mm:ss.mmm <level> message`,
 * with the level characters `.` debug, `-` verbose, `*` notice and `#` warning.
 */

/** Finn's log levels, quietest first. `quiet` prints nothing. */
export const logLevels = ["quiet", "warning", "notice", "verbose", "debug"] as const;
export type LogLevel = (typeof logLevels)[number];

const levelRank: Readonly<Record<LogLevel, number>> = { quiet: 0, warning: 1, notice: 2, verbose: 3, debug: 4 };
const levelMark: Readonly<Record<Exclude<LogLevel, "quiet">, string>> = {
  warning: "#",
  notice: "*",
  verbose: "-",
  debug: ".",
};
const months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

export function isLogLevel(value: string): value is LogLevel {
  return (logLevels as readonly string[]).includes(value);
}

function pad(value: number, width: number): string {
  return String(value).padStart(width, "0");
}

/** Formats one line; exported for tests. */
export function formatLogLine(pid: number, role: string, time: Date, level: Exclude<LogLevel, "quiet">, message: string): string {
  const stamp =
    `${pad(time.getDate(), 2)} ${months[time.getMonth()] ?? "???"} ` +
    `${pad(time.getHours(), 2)}:${pad(time.getMinutes(), 2)}:${pad(time.getSeconds(), 2)}.${pad(time.getMilliseconds(), 3)}`;
  return `${pid}:${role} ${stamp} ${levelMark[level]} ${message}\n`;
}

/** Where lines go; standard error unless a test captures them. */
export type LogSink = (line: string) => void;

const standardError: LogSink = (line) => {
  process.stderr.write(line);
};

export class Logger {
  /**
   * The role character: `M` for a leader (Redis's master), `S` for a follower, `C` for a
   * candidate, `N` before the node knows.
   */
  role = "N";

  constructor(
    public level: LogLevel = "notice",
    private readonly sink: LogSink = standardError,
  ) {}

  enabled(level: Exclude<LogLevel, "quiet">): boolean {
    return levelRank[level] <= levelRank[this.level];
  }

  private write(level: Exclude<LogLevel, "quiet">, message: string): void {
    if (!this.enabled(level)) return;
    this.sink(formatLogLine(process.pid, this.role, new Date(), level, message));
  }

  debug(message: string): void {
    this.write("debug", message);
  }
  verbose(message: string): void {
    this.write("verbose", message);
  }
  notice(message: string): void {
    this.write("notice", message);
  }
  warning(message: string): void {
    this.write("warning", message);
  }
}
