/**
 * Geospatial commands: GEOADD, GEOPOS, GEODIST, GEOHASH, GEOSEARCH, GEOSEARCHSTORE, GEORADIUS,
 * GEORADIUSBYMEMBER (with STORE and STOREDIST) and their _RO forms, as Redis 7.0.15 answers them
 * (geo.c). A geo set is a sorted set whose scores are the points' 52-bit geohashes (see
 * geohash.ts), so ZRANGE, ZREM and the rest work on it, and GEOADD is ZADD with those scores.
 *
 * A search reads only the score ranges of the (at most nine) cells Redis's algorithm picks, from
 * the skip list, then sorts as Redis does (c-sort.ts), ties and COUNT's partial sort included.
 *
 * Redis checks a search's arguments in one pass that looks at the state on the way: the source
 * key's type first, then each argument in order, FROMMEMBER (and GEORADIUSBYMEMBER's member)
 * looked up where it stands, and some checks skipped when the key is missing. The handler reads
 * the arguments twice before `apply` (as if the key held every member, and as if it were
 * missing): when both fail the command is an error whatever the state, and is answered by a
 * read that finds which error Redis gives first; otherwise it is applied, and read once more
 * against the real sorted set inside.
 */
import type { Applier, Conn } from "../api.ts";
import { RespError } from "../errors.ts";
import { type Command, latin1 } from "../resp/reader.ts";
import { spec } from "../server/command-spec.ts";
import { errNotFloat, errNotInteger, errSyntax, option, parseDouble, parseLong } from "./arguments.ts";
import { type Comparator, mergeSort, partialQuickSort } from "./c-sort.ts";
import { bytesOf, type CloneCommand, writeNullArray } from "./command.ts";
import {
  type Cell,
  cellScores,
  coordinateText,
  decodeScore,
  distance,
  distanceIfWithin,
  distanceText,
  fixedText,
  geohashText,
  hashInteger,
  latitudeMax,
  latitudeMin,
  longitudeMax,
  longitudeMin,
  outsideShape,
  sameCell,
  scoreOf,
  searchCells,
  type Shape,
} from "./geohash.ts";
import type { Keyspace } from "./keyspace.ts";
import type { ScoredMember, SkipList, ZSetValue } from "./zset.ts";
import { addScored, byScoreThenMember, storeSorted } from "./zsets.ts";

const errCouldNotDecode = new RespError("ERR could not decode requested zset member");
const errUnit = new RespError("ERR unsupported unit provided. please use M, KM, FT, MI");
const errRadiusNotNumber = new RespError("ERR need numeric radius");
const errRadiusNegative = new RespError("ERR radius cannot be negative");
const errWidthNotNumber = new RespError("ERR need numeric width");
const errHeightNotNumber = new RespError("ERR need numeric height");
const errBoxNegative = new RespError("ERR height or width cannot be negative");
const errCountNotPositive = new RespError("ERR COUNT must be > 0");
const errAnyWithoutCount = new RespError("ERR the ANY argument requires COUNT argument");

/** A decoded point (longitude, latitude): scratch for one command at a time. */
const xy = new Float64Array(2);

/** Meters per unit (Redis's `extractUnitOrReply`), or null for other text. */
function unitOf(bytes: Uint8Array): number | null {
  switch (option(bytes)) {
    case "m":
      return 1;
    case "km":
      return 1000;
    case "ft":
      return 0.3048;
    case "mi":
      return 1609.34;
    default:
      return null;
  }
}

/** The numbers `parseDoubles` read last (scratch: one command at a time). */
const numbers = [0, 0];
const pointErrors = [errNotFloat, errNotFloat];

/**
 * Reads one double per error from `at` on into `numbers` (Redis's `getDoubleFromObjectOrReply`
 * on each in turn); the first argument that is not one gives its error.
 */
function parseDoubles(command: Command, at: number, errors: readonly RespError[]): RespError | null {
  for (let i = 0; i < errors.length; i++) {
    const value = parseDouble(command.arg(at + i));
    if (value === null) return errors[i] as RespError;
    numbers[i] = value;
  }
  return null;
}

/**
 * Redis's `extractLongLatOrReply`: longitude then latitude (each a float), then the limits, into
 * `into`; the error names the pair as `%f` prints it.
 */
function parsePoint(command: Command, at: number, into: Float64Array): RespError | null {
  const error = parseDoubles(command, at, pointErrors);
  if (error !== null) return error;
  const longitude = numbers[0] as number;
  const latitude = numbers[1] as number;
  if (longitude < longitudeMin || longitude > longitudeMax || latitude < latitudeMin || latitude > latitudeMax) {
    return new RespError(`ERR invalid longitude,latitude pair ${fixedText(longitude, 6)},${fixedText(latitude, 6)}`);
  }
  into[0] = longitude;
  into[1] = latitude;
  return null;
}

/** What a search's source can tell its arguments: whether it exists, and where a member is. */
interface SourceView {
  readonly exists: boolean;
  /** The member's decoded position into `into`; false when it is not in the set. */
  position(member: string, into: Float64Array): boolean;
}

/** As if the key held every member (at 0,0): the errors left are the arguments' own. */
const everyMember: SourceView = {
  exists: true,
  position(_, into) {
    into[0] = 0;
    into[1] = 0;
    return true;
  },
};

/** As if the key were missing: Redis skips the member lookups, and GEORADIUSBYMEMBER its radius. */
const noSource: SourceView = { exists: false, position: () => false };

function viewOf(zset: ZSetValue | undefined): SourceView {
  if (zset === undefined) return noSource;
  return {
    exists: true,
    position(member, into) {
      const score = zset.scores.get(member);
      if (score === undefined) return false;
      decodeScore(score, into);
      return true;
    },
  };
}

/** Which of Redis's `georadiusGeneric` variants a command is. */
interface SearchSyntax {
  /** GEORADIUS (around coordinates), GEORADIUSBYMEMBER (around a member), GEOSEARCH (FROM... BY...). */
  readonly kind: "coordinates" | "member" | "search";
  /** STORE and STOREDIST key are taken (GEORADIUS and GEORADIUSBYMEMBER, not their _RO forms). */
  readonly storeOption: boolean;
  /** GEOSEARCHSTORE: the destination is argument 1, STOREDIST a flag. */
  readonly searchStore: boolean;
}

type SortOrder = "none" | "asc" | "desc";

/** A search's arguments, read. */
interface SearchQuery {
  readonly shape: Shape;
  readonly withDist: boolean;
  readonly withHash: boolean;
  readonly withCoord: boolean;
  readonly sort: SortOrder;
  readonly any: boolean;
  /** COUNT; 0 for none. */
  readonly count: number;
  /** The destination key, or null for a reply. */
  readonly store: string | null;
  readonly storeDist: boolean;
}

/** A radius or a box, in its unit, with the unit's meters. */
interface Extent {
  radius: number | null;
  width: number;
  height: number;
  conversion: number;
}

const radiusErrors = [errRadiusNotNumber];
const boxErrors = [errWidthNotNumber, errHeightNotNumber];

/**
 * Redis's `extractDistanceOrReply` (radius, unit) or, `box`, `extractBoxOrReply` (width, height,
 * unit) at `at`, into `extent`: the numbers, then their sign, then the unit.
 */
function parseExtent(command: Command, at: number, box: boolean, extent: Extent): RespError | null {
  const error = parseDoubles(command, at, box ? boxErrors : radiusErrors);
  if (error !== null) return error;
  const first = numbers[0] as number;
  const second = numbers[1] as number;
  if (box ? second < 0 || first < 0 : first < 0) return box ? errBoxNegative : errRadiusNegative;
  const conversion = unitOf(command.arg(at + (box ? 2 : 1)));
  if (conversion === null) return errUnit;
  extent.radius = box ? null : first;
  extent.width = box ? first : 0;
  extent.height = box ? second : 0;
  extent.conversion = conversion;
  return null;
}

/**
 * Reads a search's arguments as Redis's `georadiusGeneric` does, in its order, asking `source`
 * where members are; the first error, or the query.
 */
function parseSearch(command: Command, syntax: SearchSyntax, source: SourceView): SearchQuery | RespError {
  const center = new Float64Array(2);
  const extent: Extent = { radius: 0, width: 0, height: 0, conversion: 0 };
  let base: number;
  let store: string | null = null;
  let error: RespError | null = null;
  if (syntax.kind === "coordinates") {
    base = 6;
    error = parsePoint(command, 2, center) ?? parseExtent(command, 4, false, extent);
  } else if (syntax.kind === "member") {
    base = 5;
    // With no key, Redis reads neither the member nor the radius.
    if (source.exists) error = source.position(command.key(2), center) ? parseExtent(command, 3, false, extent) : errCouldNotDecode;
  } else {
    base = syntax.searchStore ? 3 : 2;
    if (syntax.searchStore) store = command.key(1);
  }
  if (error !== null) return error;

  let withDist = false;
  let withHash = false;
  let withCoord = false;
  let any = false;
  let sort: SortOrder = "none";
  let count = 0;
  let storeDist = false;
  let fromMember = false;
  let fromPoint = false;
  let byRadius = false;
  let byBox = false;
  const search = syntax.kind === "search";
  const remaining = command.argCount - base;
  for (let i = 0; i < remaining; i++) {
    const at = base + i;
    const name = option(command.arg(at));
    if (name === "withdist") withDist = true;
    else if (name === "withhash") withHash = true;
    else if (name === "withcoord") withCoord = true;
    else if (name === "any") any = true;
    else if (name === "asc") sort = "asc";
    else if (name === "desc") sort = "desc";
    else if (name === "count" && i + 1 < remaining) {
      const given = parseLong(command.arg(at + 1));
      if (given === null) return errNotInteger;
      if (given <= 0) return errCountNotPositive;
      count = given;
      i++;
    } else if ((name === "store" || name === "storedist") && i + 1 < remaining && syntax.storeOption) {
      store = command.key(at + 1);
      storeDist = name === "storedist";
      i++;
    } else if (name === "storedist" && syntax.searchStore) {
      storeDist = true;
    } else if (name === "frommember" && i + 1 < remaining && search && !fromPoint) {
      if (source.exists && !source.position(command.key(at + 1), center)) return errCouldNotDecode;
      fromMember = true;
      i++;
    } else if (name === "fromlonlat" && i + 2 < remaining && search && !fromMember) {
      error = parsePoint(command, at + 1, center);
      fromPoint = true;
      i += 2;
    } else if (name === "byradius" && i + 2 < remaining && search && !byBox) {
      error = parseExtent(command, at + 1, false, extent);
      byRadius = true;
      i += 2;
    } else if (name === "bybox" && i + 3 < remaining && search && !byRadius) {
      error = parseExtent(command, at + 1, true, extent);
      byBox = true;
      i += 3;
    } else {
      return errSyntax;
    }
    if (error !== null) return error;
  }
  if (store !== null && (withDist || withHash || withCoord)) {
    const what = syntax.searchStore ? "GEOSEARCHSTORE" : "STORE option in GEORADIUS";
    return new RespError(`ERR ${what} is not compatible with WITHDIST, WITHHASH and WITHCOORD options`);
  }
  if (search && !(fromMember || fromPoint)) {
    return new RespError(`ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for ${latin1(command.arg(0))}`);
  }
  if (search && !(byRadius || byBox)) {
    return new RespError(`ERR exactly one of BYRADIUS and BYBOX can be specified for ${latin1(command.arg(0))}`);
  }
  if (any && count === 0) return errAnyWithoutCount;
  const shape: Shape = { x: center[0] as number, y: center[1] as number, ...extent };
  return { shape, withDist, withHash, withCoord, sort, any, count, store, storeDist };
}

/** A point a search found (Redis's geoPoint); `dist` in meters. */
interface GeoPoint {
  readonly member: string;
  readonly longitude: number;
  readonly latitude: number;
  readonly dist: number;
  readonly score: number;
}

/** Redis's `sort_gp_asc` (a NaN distance compares as less than anything, both ways, as in C). */
const nearestFirst: Comparator<GeoPoint> = (a, b) => (a.dist > b.dist ? 1 : a.dist === b.dist ? 0 : -1);
const farthestFirst: Comparator<GeoPoint> = (a, b) => -nearestFirst(a, b);

/**
 * Redis's `geoGetPointsInRange` for one cell: the members whose score is in the cell's range, in
 * the set's order, that are inside the shape, appended to `points`; stops at `limit` (ANY).
 */
function collectCell(list: SkipList, cell: Cell, shape: Shape, points: GeoPoint[], limit: number): void {
  const { min, max } = cellScores(cell);
  let node = list.firstInRange({ min, max, minExclusive: false, maxExclusive: true });
  for (; node !== null && node.score < max; node = node.next[0] ?? null) {
    decodeScore(node.score, xy);
    const longitude = xy[0] as number;
    const latitude = xy[1] as number;
    const meters = distanceIfWithin(shape, longitude, latitude);
    if (meters !== outsideShape) points.push({ member: node.member, longitude, latitude, dist: meters, score: node.score });
    // ANY: enough found (Redis checks after every member, found or not).
    if (limit > 0 && points.length >= limit) return;
  }
}

/**
 * A search over `zset` (Redis's `membersOfAllNeighbors`, then its sort): the points to answer
 * with, in order, and how many of them to answer with (COUNT's first ones).
 */
function search(zset: ZSetValue, query: SearchQuery): { points: GeoPoint[]; returned: number } {
  const cells = searchCells(query.shape);
  const limit = query.any ? query.count : 0;
  const points: GeoPoint[] = [];
  // Huge radii can make neighbours the same cell: one the same as the last read is skipped (but,
  // as in Redis, not one the same as the centre's cell, index 0).
  let lastRead = 0;
  for (let i = 0; i < cells.length; i++) {
    const cell = cells[i];
    if (cell === null || cell === undefined) continue;
    if (lastRead !== 0 && sameCell(cell, cells[lastRead] as Cell)) continue;
    if (limit > 0 && points.length >= limit) break;
    collectCell(zset.list, cell, query.shape, points, limit);
    lastRead = i;
  }
  const returned = query.count === 0 || points.length < query.count ? points.length : query.count;
  // COUNT without ANY asks for the nearest: ascending unless an order was given.
  const sort = query.sort === "none" && query.count !== 0 && !query.any ? "asc" : query.sort;
  if (sort !== "none") {
    const compare = sort === "asc" ? nearestFirst : farthestFirst;
    if (returned === points.length) mergeSort(points, compare);
    else partialQuickSort(points, compare, 0, returned - 1);
  }
  return { points, returned };
}

/** A coordinate as Redis's `addReplyHumanLongDouble` sends it: a bulk string, or in RESP3 a double with that text. */
function writeCoordinate(conn: Conn, value: number): void {
  const text = coordinateText(value);
  if (conn.protocol === 3) conn.writeRaw(Buffer.from(`,${text}\r\n`, "latin1"));
  else conn.writeBulk(text);
}

/** A search's reply: members, or per member an array with the WITH... items in Redis's order. */
function writePoints(conn: Conn, points: readonly GeoPoint[], returned: number, query: SearchQuery): void {
  const extras = (query.withDist ? 1 : 0) + (query.withCoord ? 1 : 0) + (query.withHash ? 1 : 0);
  conn.writeArray(returned);
  for (let i = 0; i < returned; i++) {
    const point = points[i] as GeoPoint;
    if (extras > 0) conn.writeArray(extras + 1);
    conn.writeBulk(bytesOf(point.member));
    if (query.withDist) conn.writeBulk(distanceText(point.dist / query.shape.conversion));
    if (query.withHash) conn.writeInt(hashInteger(point.score));
    if (query.withCoord) {
      conn.writeArray(2);
      writeCoordinate(conn, point.longitude);
      writeCoordinate(conn, point.latitude);
    }
  }
}

/**
 * The sorted set a STORE form makes: the members found with their geohash scores, or (STOREDIST)
 * their distances in the unit. A NaN distance (antipodes, a rounding away) is stored as 0: Redis
 * would stop on its assertion that scores are not NaN.
 */
function storedEntries(points: readonly GeoPoint[], returned: number, query: SearchQuery): ScoredMember[] {
  const entries: ScoredMember[] = [];
  for (let i = 0; i < returned; i++) {
    const point = points[i] as GeoPoint;
    const dist = point.dist / query.shape.conversion;
    entries.push({ member: point.member, score: query.storeDist ? (Number.isNaN(dist) ? 0 : dist) : point.score });
  }
  return entries.sort(byScoreThenMember);
}

/** GEORADIUS, GEORADIUSBYMEMBER, their _RO forms, GEOSEARCH and GEOSEARCHSTORE; the source key is `sourceAt`. */
function searchCommand(syntax: SearchSyntax, sourceAt: number): CloneCommand["run"] {
  return (db: Keyspace, applier: Applier, conn: Conn | null, command: Command) => {
    const assumed = parseSearch(command, syntax, everyMember);
    const query = assumed instanceof RespError ? parseSearch(command, syntax, noSource) : assumed;
    if (query instanceof RespError) {
      // Wrong whatever the state; which error comes first (WRONGTYPE, a missing member) is read.
      return applier.apply(conn, command, null, () => {
        const real = parseSearch(command, syntax, viewOf(db.lookup<ZSetValue>(command.key(sourceAt), "zset")));
        throw real instanceof RespError ? real : query;
      });
    }
    /** The query against the real set (its members' positions), or an error to throw. */
    const resolve = (zset: ZSetValue): SearchQuery => {
      const real = parseSearch(command, syntax, viewOf(zset));
      if (real instanceof RespError) throw real;
      return real;
    };
    const store = query.store;
    if (store !== null) {
      return applier.apply(
        conn,
        command,
        () => {
          const zset = db.lookup<ZSetValue>(command.key(sourceAt), "zset");
          if (zset === undefined) return storeSorted(db, store, []);
          const real = resolve(zset);
          const { points, returned } = search(zset, real);
          return storeSorted(db, store, storedEntries(points, returned, real));
        },
        (stored) => conn?.writeInt(stored),
      );
    }
    return applier.apply(conn, command, null, () => {
      const zset = db.lookup<ZSetValue>(command.key(sourceAt), "zset");
      if (zset === undefined) {
        conn?.writeArray(0);
        return;
      }
      const real = resolve(zset);
      const { points, returned } = search(zset, real);
      if (conn !== null) writePoints(conn, points, returned, real);
    });
  };
}

/** GEOADD key [NX|XX] [CH] longitude latitude member...: ZADD with the points' geohash scores. */
function geoadd(db: Keyspace, applier: Applier, conn: Conn | null, command: Command): void | Error {
  let nx = false;
  let xx = false;
  let ch = false;
  let first = 2;
  for (; first < command.argCount; first++) {
    const name = option(command.arg(first));
    if (name === "nx") nx = true;
    else if (name === "xx") xx = true;
    else if (name === "ch") ch = true;
    else break;
  }
  const elements = command.argCount - first;
  // No point at all gets ZADD's own syntax error.
  if (elements % 3 !== 0 || (xx && nx) || elements === 0) return errSyntax;
  const scores: number[] = [];
  for (let at = first; at < command.argCount; at += 3) {
    const error = parsePoint(command, at, xy);
    if (error !== null) return error;
    scores.push(scoreOf(xy[0] as number, xy[1] as number));
  }
  return addScored(db, applier, conn, command, { nx, xx, gt: false, lt: false, ch, incr: false }, scores, (j) => first + 3 * j + 2);
}

/** GEOPOS and GEOHASH: an array with one reply per member asked for (`found`), `missing` for one not in the set. */
function eachMember(missing: (conn: Conn) => void, found: (conn: Conn, longitude: number, latitude: number) => void): CloneCommand["run"] {
  return (db, applier, conn, command) =>
    applier.apply(conn, command, null, () => {
      const zset = db.lookup<ZSetValue>(command.key(1), "zset");
      if (conn === null) return;
      conn.writeArray(command.argCount - 2);
      for (let i = 2; i < command.argCount; i++) {
        const score = zset?.scores.get(command.key(i));
        if (score === undefined) {
          missing(conn);
          continue;
        }
        decodeScore(score, xy);
        found(conn, xy[0] as number, xy[1] as number);
      }
    });
}

const radiusOptions = "[WITHCOORD] [WITHDIST] [WITHHASH] [(COUNT count:integer [ANY])] [ASC|DESC]";
const searchOptions =
  "[FROMMEMBER member:string] [FROMLONLAT longitude:double latitude:double] [BYRADIUS radius:double M|KM|FT|MI] " +
  "[BYBOX width:double height:double M|KM|FT|MI] [ASC|DESC] [(COUNT count:integer [ANY])]";

/**
 * The key GEORADIUS or GEORADIUSBYMEMBER writes: its STORE or STOREDIST destination (the last
 * given), looked for from argument 5 on as Redis's `georadiusGetKeys` does; none without one. The
 * source is only read (a WATCH on it stays valid, as in Redis).
 */
function radiusKeys(command: Command): string[] {
  let destination: string | null = null;
  for (let i = 5; i + 1 < command.argCount; i++) {
    const name = option(command.arg(i));
    if (name === "store" || name === "storedist") destination = command.key(++i);
  }
  return destination === null ? [] : [destination];
}

/**
 * GEORADIUS and GEORADIUSBYMEMBER (`store`: with STORE and STOREDIST), or their _RO forms. The
 * STORE key is not at a fixed position: the spec lists the source, as Redis's does, and its
 * `keys` finds the destination it writes (for WATCH and blocked clients).
 */
function radiusCommand(kind: "coordinates" | "member", store: boolean): CloneCommand {
  const around = kind === "coordinates" ? "a coordinate" : "a member";
  const described = spec(
    `${kind === "coordinates" ? "georadius" : "georadiusbymember"}${store ? "" : "_ro"}`,
    kind === "coordinates" ? -6 : -5,
    store ? "write denyoom movablekeys" : "readonly",
    [1, 1, 1],
    "geo",
    store
      ? `Queries a geospatial index for members within a distance from ${around}, optionally stores the result.`
      : `Returns members from a geospatial index that are within a distance from ${around}.`,
    `key ${kind === "coordinates" ? "longitude:double latitude:double" : "member:string"} radius:double M|KM|FT|MI ${radiusOptions}` +
      (store ? " [STORE key:key] [STOREDIST key:key]" : ""),
  );
  return {
    spec: store ? { ...described, keys: radiusKeys } : described,
    run: searchCommand({ kind, storeOption: store, searchStore: false }, 1),
  };
}

export const geoCommands: readonly CloneCommand[] = [
  {
    spec: spec(
      "geoadd",
      -5,
      "write denyoom",
      [1, 1, 1],
      "geo",
      "Adds one or more members to a geospatial index. The key is created if it doesn't exist.",
      "key [NX|XX] [CH] (longitude:double latitude:double member:string)...",
    ),
    run: geoadd,
  },
  {
    spec: spec(
      "geopos",
      -2,
      "readonly",
      [1, 1, 1],
      "geo",
      "Returns the longitude and latitude of members from a geospatial index.",
      "key [member:string...]",
    ),
    run: eachMember(writeNullArray, (conn, longitude, latitude) => {
      conn.writeArray(2);
      writeCoordinate(conn, longitude);
      writeCoordinate(conn, latitude);
    }),
  },
  {
    spec: spec("geodist", -4, "readonly", [1, 1, 1], "geo", "Returns the distance between two members of a geospatial index.", "key member1:string member2:string [M|KM|FT|MI]"),
    run(db, applier, conn, command) {
      // The unit is read before the key, as in Redis.
      let toMeters = 1;
      if (command.argCount === 5) {
        const unit = unitOf(command.arg(4));
        if (unit === null) return errUnit;
        toMeters = unit;
      } else if (command.argCount > 5) {
        return errSyntax;
      }
      return applier.apply(conn, command, null, () => {
        const zset = db.lookup<ZSetValue>(command.key(1), "zset");
        const first = zset?.scores.get(command.key(2));
        const second = zset?.scores.get(command.key(3));
        if (first === undefined || second === undefined) {
          conn?.writeNull();
          return;
        }
        decodeScore(first, xy);
        const longitude = xy[0] as number;
        const latitude = xy[1] as number;
        decodeScore(second, xy);
        conn?.writeBulk(distanceText(distance(longitude, latitude, xy[0] as number, xy[1] as number) / toMeters));
      });
    },
  },
  {
    spec: spec("geohash", -2, "readonly", [1, 1, 1], "geo", "Returns members from a geospatial index as geohash strings.", "key [member:string...]"),
    run: eachMember(
      (conn) => conn.writeNull(),
      (conn, longitude, latitude) => conn.writeBulk(geohashText(longitude, latitude)),
    ),
  },
  {
    spec: spec(
      "geosearch",
      -7,
      "readonly",
      [1, 1, 1],
      "geo",
      "Queries a geospatial index for members inside an area of a box or a circle.",
      `key ${searchOptions} [WITHCOORD] [WITHDIST] [WITHHASH]`,
    ),
    run: searchCommand({ kind: "search", storeOption: false, searchStore: false }, 1),
  },
  {
    spec: spec(
      "geosearchstore",
      -8,
      "write denyoom",
      [1, 2, 1],
      "geo",
      "Queries a geospatial index for members inside an area of a box or a circle, optionally stores the result.",
      `destination:key source:key ${searchOptions} [STOREDIST]`,
    ),
    run: searchCommand({ kind: "search", storeOption: false, searchStore: true }, 2),
  },
  radiusCommand("coordinates", true),
  radiusCommand("coordinates", false),
  radiusCommand("member", true),
  radiusCommand("member", false),
];
