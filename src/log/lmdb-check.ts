/**
 * Checks an LMDB data file before LMDB maps it.
 *
 * LMDB trusts its file: it reads pages through a memory map and checks no checksums. A file cut
 * short makes the process die of SIGBUS when a page past its end is touched, and a damaged meta
 * page (LMDB picks whichever of its two meta pages has the higher transaction id, without looking
 * at the second one's magic) sends it to a wild page: SIGSEGV. Neither can be caught in
 * JavaScript, so the node would crash at start with Bun's panic and no word about which file is
 * bad. This reads the two meta pages as LMDB's own `mdb_env_read_header` does (lmdb-js's LMDB,
 * data version 2, 64-bit, no `overlappingSync`), refuses a file whose meta pages are not both
 * valid, and then visits every page the latest one reaches: each must lie within the file, name
 * itself in its header, and hold nodes within its bounds.
 *
 * What it cannot see: damaged keys and values inside pages that are otherwise well formed (LMDB
 * has no page checksums). Our own records carry checksums and are refused when read; a damaged
 * key that misorders a tree is found by neither.
 */
import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import { StorageCorruptionError } from "./store.ts";

/** The size of LMDB's page header (`MDB_page_header`: page number, txnid, pad, flags, bounds). */
const pageHeaderBytes = 24;
/** Where `MDB_meta` fields sit, from the start of a meta page. */
const magicAt = pageHeaderBytes;
const versionAt = pageHeaderBytes + 4;
/** `mm_dbs[0]` (the free list's tree): its `md_pad` holds the page size. */
const databasesAt = pageHeaderBytes + 24;
const databaseBytes = 48;
/** `md_root` within an `MDB_db`. */
const rootAt = 40;
const lastPageAt = databasesAt + 2 * databaseBytes;
const transactionIdAt = lastPageAt + 8;
const metaBytes = transactionIdAt + 8;
const flagsAt = 18;
const pageFlagMeta = 0x08;
const magic = 0xbeefc0de;
const dataVersion = 2;
/** `P_INVALID`: the root of an empty tree. */
const noPage = 0xffffffffffffffffn;

interface Meta {
  readonly pageBytes: number;
  readonly transactionId: bigint;
  readonly roots: readonly bigint[];
}

/**
 * Throws a `StorageCorruptionError` naming `path` and `advice` when the LMDB file there cannot be
 * opened safely. A missing or empty file is left to LMDB, which creates a new environment.
 */
export function checkLmdbFile(path: string, advice: string): void {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return;
    throw error;
  }
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile()) throw corrupt(path, "it is not a regular file", advice);
    const size = stat.size;
    if (size === 0) return;
    const first = readMeta(fd, 0, path, advice);
    if (size < 2 * first.pageBytes) throw corrupt(path, `it is ${size} bytes long, shorter than its two meta pages`, advice);
    const second = readMeta(fd, first.pageBytes, path, advice);
    if (second.pageBytes !== first.pageBytes) throw corrupt(path, "its two meta pages disagree on the page size", advice);
    const latest = second.transactionId > first.transactionId ? second : first;
    // Pages past the file's end that the free list holds are legal (LMDB may never write them), so
    // the meta page's last page says nothing about truncation: every reachable page is visited.
    new TreeWalk(fd, latest.pageBytes, Math.floor(size / latest.pageBytes), path, advice).walk(latest.roots);
  } finally {
    closeSync(fd);
  }
}

/**
 * Checks the LMDB file at `path` (`checkLmdbFile`), then runs `opening`, which opens it; an error
 * LMDB throws there (a lock file it cannot set up, an incompatible environment, a full disk) is
 * given the file's name, which LMDB's own messages lack.
 */
export function openLmdbFile<T>(path: string, advice: string, opening: () => T): T {
  checkLmdbFile(path, advice);
  // LMDB opens both for writing; a lock file it cannot write (read-only, immutable) crashed the
  // process inside lmdb-js instead of failing.
  for (const file of [path, `${path}-lock`]) checkWritable(file);
  try {
    return opening();
  } catch (error) {
    throw new Error(`cannot open ${path}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
}

/** Throws an error naming `file` when it exists and cannot be opened for writing. */
function checkWritable(file: string): void {
  let fd: number;
  try {
    fd = openSync(file, "r+");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return;
    throw new Error(`cannot open ${file} for writing (${code ?? String(error)}): LMDB writes it; give this process read and write access to it (\`chmod u+rw\`, \`chattr -i\`)`, { cause: error });
  }
  closeSync(fd);
}

/** Node flags (`MDB_node.mn_flags`) of leaf nodes. */
const nodeBigData = 0x01;
const nodeSubDatabase = 0x02;
const pageFlagBranch = 0x01;
const pageFlagLeaf = 0x02;
const pageFlagOverflow = 0x04;
const pageFlagLeaf2 = 0x20;
/** `MDB_node`'s header: data size (or child page) low and high words, flags, key size. */
const nodeHeaderBytes = 8;
/** No B-tree is as deep as this (a cycle is caught as a page reached twice first). */
const depthMax = 64;

/**
 * Visits every page reachable from the meta page's trees (the free list and the main database,
 * and the named databases the main one holds), checking that each exists in the file, says it is
 * the page it was reached as, and holds nodes within its bounds. Reads the whole live file once.
 */
class TreeWalk {
  private readonly page: Buffer;
  /** One bit per page: LMDB reaches every page once, so a page reached again means damage (or a cycle). */
  private readonly reached: Uint8Array;

  constructor(
    private readonly fd: number,
    private readonly pageBytes: number,
    private readonly pages: number,
    private readonly path: string,
    private readonly advice: string,
  ) {
    this.page = Buffer.alloc(pageBytes);
    this.reached = new Uint8Array(Math.ceil(pages / 8));
  }

  walk(roots: readonly bigint[]): void {
    for (const root of roots) if (root !== noPage) this.visit(this.pageNumber(root, "a tree's root"), 0);
  }

  private visit(number: number, depth: number): void {
    if (depth > depthMax) throw this.damaged(`its trees are deeper than ${depthMax} levels`);
    const page = this.read(number);
    const flags = page.readUInt16LE(flagsAt);
    const count = page.readUInt16LE(20) >> 1;
    if ((flags & pageFlagLeaf2) !== 0) return;
    if ((flags & (pageFlagBranch | pageFlagLeaf)) === 0) throw this.damaged(`page ${number} is neither a branch nor a leaf`);
    // The page buffer is reused by the visits below: take what is needed from it first.
    const children: number[] = [];
    const overflows: number[] = [];
    const databases: number[] = [];
    for (let i = 0; i < count; i++) {
      const at = pageHeaderBytes + page.readUInt16LE(pageHeaderBytes + 2 * i);
      if (pageHeaderBytes + 2 * count > at || at + nodeHeaderBytes > this.pageBytes) throw this.damaged(`page ${number} has a node out of bounds`);
      const low = page.readUInt16LE(at);
      const high = page.readUInt16LE(at + 2);
      const nodeFlags = page.readUInt16LE(at + 4);
      const dataAt = at + nodeHeaderBytes + page.readUInt16LE(at + 6);
      if ((flags & pageFlagBranch) !== 0) {
        children.push(this.pageNumber(BigInt(low) | (BigInt(high) << 16n) | (BigInt(nodeFlags) << 32n), `a child of page ${number}`));
        continue;
      }
      if ((nodeFlags & nodeBigData) !== 0) {
        if (dataAt + 8 > this.pageBytes) throw this.damaged(`page ${number} has a node out of bounds`);
        overflows.push(this.pageNumber(page.readBigUInt64LE(dataAt), `an overflow page of page ${number}`));
      } else if ((nodeFlags & nodeSubDatabase) !== 0) {
        if (dataAt + databaseBytes > this.pageBytes) throw this.damaged(`page ${number} has a node out of bounds`);
        const root = page.readBigUInt64LE(dataAt + rootAt);
        if (root !== noPage) databases.push(this.pageNumber(root, `a database root in page ${number}`));
      } else if (dataAt + (low | (high << 16)) > this.pageBytes) {
        throw this.damaged(`page ${number} has a node out of bounds`);
      }
    }
    for (const child of children) this.visit(child, depth + 1);
    for (const overflow of overflows) {
      const first = this.read(overflow);
      if ((first.readUInt16LE(flagsAt) & pageFlagOverflow) === 0) throw this.damaged(`page ${overflow} is not the overflow page page ${number} names`);
      const span = first.readUInt32LE(20);
      if (span < 1 || overflow + span > this.pages) throw this.damaged(`the overflow pages from ${overflow} go past its end: it was cut short`);
    }
    for (const root of databases) this.visit(root, depth + 1);
  }

  /** Reads page `number` into the shared buffer, checking it exists, was not reached before and names itself. */
  private read(number: number): Buffer {
    const bit = 1 << (number & 7);
    if (((this.reached[number >> 3] ?? 0) & bit) !== 0) throw this.damaged(`page ${number} is reached twice`);
    this.reached[number >> 3] = (this.reached[number >> 3] ?? 0) | bit;
    const read = readSync(this.fd, this.page, 0, this.pageBytes, number * this.pageBytes);
    if (read < this.pageBytes) throw this.damaged(`page ${number} lies past its end: it was cut short`);
    const named = this.page.readBigUInt64LE(0);
    if (named !== BigInt(number)) throw this.damaged(`page ${number} says it is page ${named}`);
    return this.page;
  }

  private pageNumber(value: bigint, what: string): number {
    if (value >= BigInt(this.pages)) {
      throw this.damaged(`${what} is page ${value}, past its last page (${this.pages - 1}): it was cut short`);
    }
    return Number(value);
  }

  private damaged(what: string): StorageCorruptionError {
    return corrupt(this.path, what, this.advice);
  }
}

function readMeta(fd: number, offset: number, path: string, advice: string): Meta {
  const bytes = Buffer.alloc(metaBytes);
  const read = readSync(fd, bytes, 0, metaBytes, offset);
  const which = offset === 0 ? "first" : "second";
  if (read < metaBytes) throw corrupt(path, `its ${which} meta page is cut short`, advice);
  if ((bytes.readUInt16LE(flagsAt) & pageFlagMeta) === 0 || bytes.readUInt32LE(magicAt) !== magic) {
    throw corrupt(path, `its ${which} meta page is not an LMDB meta page (damaged, or not an LMDB file)`, advice);
  }
  const version = bytes.readUInt32LE(versionAt) & 0xffff;
  if (version !== dataVersion) throw corrupt(path, `its ${which} meta page has data version ${version}, not ${dataVersion}`, advice);
  const pageBytes = bytes.readUInt32LE(databasesAt);
  // LMDB's page sizes are powers of two from 512 bytes to 64 KB.
  if (pageBytes < 512 || pageBytes > 65536 || (pageBytes & (pageBytes - 1)) !== 0) {
    throw corrupt(path, `its ${which} meta page gives an impossible page size (${pageBytes})`, advice);
  }
  return {
    pageBytes,
    transactionId: bytes.readBigUInt64LE(transactionIdAt),
    roots: [bytes.readBigUInt64LE(databasesAt + rootAt), bytes.readBigUInt64LE(databasesAt + databaseBytes + rootAt)],
  };
}

function corrupt(path: string, what: string, advice: string): StorageCorruptionError {
  return new StorageCorruptionError(path, null, `${path} is damaged: ${what}. ${advice}`);
}
