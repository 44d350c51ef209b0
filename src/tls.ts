/**
 * TLS for client and peer traffic. With a certificate and key, a node serves TLS only on its port
 * (clients and peers alike), and every connection it opens to another node (peer links, joins,
 * proxied commands) is TLS too: it verifies the other node's certificate against the CA given
 * (the system's roots when none) and presents its own certificate.
 */
import type { Socket as BunSocket } from "bun";
import { readFileSync } from "node:fs";

type Socket = BunSocket<undefined>;

/** Where a node's certificate, key and (optionally) CA are, in PEM files. */
export interface TlsFiles {
  readonly certFile: string;
  readonly keyFile: string;
  /** The CA that signed the other nodes' certificates (and clients' when they present one). */
  readonly caFile?: string;
}

/** The PEM contents of `TlsFiles`. */
export interface TlsConfig {
  readonly cert: string;
  readonly key: string;
  readonly ca: string | null;
}

/** Reads the PEM files; an error names the file and why it could not be read. */
export function loadTls(files: TlsFiles): TlsConfig {
  const read = (what: string, path: string): string => {
    try {
      const text = readFileSync(path, "utf8");
      if (!text.includes("-----BEGIN ")) throw new Error("not a PEM file");
      return text;
    } catch (error) {
      throw new Error(`cannot read the TLS ${what} ${path}: ${error instanceof Error ? error.message : String(error)}`);
    }
  };
  return {
    cert: read("certificate", files.certFile),
    key: read("key", files.keyFile),
    ca: files.caFile === undefined ? null : read("CA certificate", files.caFile),
  };
}

/** `tls` options for `Bun.listen`. */
export function listenTls(config: TlsConfig): { cert: string; key: string; ca?: string } {
  return { cert: config.cert, key: config.key, ...(config.ca === null ? {} : { ca: config.ca }) };
}

/** `tls` options for `Bun.connect` to another node: verify it, present ourselves. */
export function connectTls(config: TlsConfig): { cert: string; key: string; ca?: string; rejectUnauthorized: true } {
  return { cert: config.cert, key: config.key, rejectUnauthorized: true, ...(config.ca === null ? {} : { ca: config.ca }) };
}

/**
 * `open` and `handshake` socket handlers that call `ready` once the connection can carry data: at
 * once for plain TCP, after a successful, verified handshake for TLS (bytes written before it are
 * not taken). `fail` hears why a handshake failed.
 */
export function whenReady(
  tls: TlsConfig | null,
  ready: (socket: Socket) => void,
  fail: (why: string) => void,
): { open: (socket: Socket) => void; handshake: (socket: Socket, success: boolean, authorizationError: Error | null) => void } {
  return {
    open: (socket) => {
      if (tls === null) ready(socket);
    },
    handshake: (socket, success, authorizationError) => {
      if (tls === null) return;
      if (success && authorizationError === null) {
        ready(socket);
        return;
      }
      fail(`TLS handshake failed: ${authorizationError?.message ?? "refused"}`);
      socket.terminate();
    },
  };
}
