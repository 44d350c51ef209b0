/**
 * Addresses of nodes, `host:port`: what `-join`, `-advertise`, RAFTADDPEER and RAFTJOIN take, what
 * a membership records for each member, and what peer links, the leader proxy and cluster
 * administration connect to. An empty host (`:7481`) means the loopback address; an IPv6 host is
 * written in brackets (`[::1]:7481`).
 */
import { RespError } from "./errors.ts";

export interface HostPort {
  readonly host: string;
  readonly port: number;
}

/** Splits `host:port`, or null when it is not one (no colon, a port that is not 0-65535). */
export function splitAddress(address: string): HostPort | null {
  const colon = address.lastIndexOf(":");
  if (colon < 0) return null;
  let host = address.slice(0, colon);
  const portText = address.slice(colon + 1);
  if (!/^\d{1,5}$/.test(portText) || Number(portText) > 65535) return null;
  if (host.startsWith("[") && host.endsWith("]")) host = host.slice(1, -1);
  if (/[\s/]/.test(host)) return null;
  return { host: host === "" ? "127.0.0.1" : host, port: Number(portText) };
}

/** Splits an address to listen on (port 0: a free port the system picks), or throws an error naming it. */
export function parseAddress(address: string): HostPort {
  const parsed = splitAddress(address);
  if (parsed === null) throw new Error(`invalid address '${address}': expected host:port with a port from 0 to 65535`);
  return parsed;
}

/** Splits the address of another node (a port from 1 to 65535), or throws a Redis-style error naming it. */
export function parseNodeAddress(address: string): HostPort {
  const parsed = splitAddress(address);
  if (parsed === null || parsed.port === 0) throw new RespError(`ERR invalid address '${address}': expected host:port with a port from 1 to 65535`);
  return parsed;
}
