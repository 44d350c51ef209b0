/**
 * Redis's geohash arithmetic (geohash.c, geohash_helper.c and the helpers of geo.c in 7.0.15),
 * operation for operation, so that every score, coordinate, distance and search cell is the
 * double Redis computes: JavaScript doubles round as C's do on x86-64 (SSE2, no fused
 * multiply-add in Redis's build), and `Math.sin`, `Math.cos`, `Math.asin` give glibc's results
 * (compared on two million inputs), so only the order of operations has to be kept.
 *
 * A point's score is its 52-bit interleaved geohash at step 26 (latitude bits at even positions,
 * longitude bits at odd ones) over longitude -180..180 and latitude -85.05112878..85.05112878
 * (Web Mercator's limits). A cell is kept as its two coordinates rather than interleaved: cell
 * numbers can reach 2^step (a point on the upper limit), which Redis keeps as a bit above the
 * cell's own, and a neighbour's move masks only the coordinate it moves; both are kept exactly.
 *
 * Also here: the three number formats geo replies use (`%.4f` by Redis's `fixedpoint_d2string`,
 * `%.17Lf` trimmed, and `%f` in an error), each as glibc and Redis print them.
 */

/** Redis's GEO_LONG_MIN... and GEO_STEP_MAX: the coordinates a point may have, and its score's precision. */
export const longitudeMin = -180;
export const longitudeMax = 180;
export const latitudeMin = -85.05112878;
export const latitudeMax = 85.05112878;
const stepMax = 26;

/** Redis's D_R (M_PI / 180.0), EARTH_RADIUS_IN_METERS and MERCATOR_MAX. */
const degreesToRadians = Math.PI / 180;
const earthRadiusMeters = 6372797.560856;
const mercatorMax = 20037726.37;

const twoTo32 = 4294967296;
const twoTo63 = 9223372036854775808;

/** A cell of the grid at `step` (1..26): its row and column, each below 2^step or equal to it. */
export interface Cell {
  readonly latitude: number;
  readonly longitude: number;
  readonly step: number;
}

/** A cell's extent in degrees (Redis's GeoHashArea). */
interface Area {
  latitudeMin: number;
  latitudeMax: number;
  longitudeMin: number;
  longitudeMax: number;
}

/** Spreads the 16 bits of `value` to the even bit positions of a 32-bit result. */
function spread16(value: number): number {
  let v = value & 0xffff;
  v = (v | (v << 8)) & 0x00ff00ff;
  v = (v | (v << 4)) & 0x0f0f0f0f;
  v = (v | (v << 2)) & 0x33333333;
  v = (v | (v << 1)) & 0x55555555;
  return v;
}

/** Gathers the even bits of a 32-bit `value` into 16 bits (the reverse of `spread16`). */
function gather16(value: number): number {
  let v = value & 0x55555555;
  v = (v | (v >>> 1)) & 0x33333333;
  v = (v | (v >>> 2)) & 0x0f0f0f0f;
  v = (v | (v >>> 4)) & 0x00ff00ff;
  v = (v | (v >>> 8)) & 0x0000ffff;
  return v;
}

/** The high and low 32 bits of the last `interleave` (module scratch: no allocation per point). */
let interleavedHigh = 0;
let interleavedLow = 0;

/** Redis's `interleave64(lat, lon)` of two 32-bit numbers, into `interleavedHigh` and `interleavedLow`. */
function interleave(latitude: number, longitude: number): void {
  interleavedLow = (spread16(latitude) | (spread16(longitude) << 1)) >>> 0;
  interleavedHigh = (spread16(latitude >>> 16) | (spread16(longitude >>> 16) << 1)) >>> 0;
}

/** The 64-bit interleaving of a cell's coordinates, exactly. */
function interleaveBig(cell: Cell): bigint {
  interleave(cell.latitude, cell.longitude);
  return (BigInt(interleavedHigh) << 32n) | BigInt(interleavedLow);
}

/**
 * Redis's `geohashEncode` over the given ranges: the cell at `step` that holds (longitude,
 * latitude), or null outside Web Mercator's limits or the ranges. The offsets are truncated to
 * integers as C converts a double to uint32_t.
 */
function encode(
  longitudeFrom: number,
  longitudeTo: number,
  latitudeFrom: number,
  latitudeTo: number,
  longitude: number,
  latitude: number,
  step: number,
): Cell | null {
  if (longitude > longitudeMax || longitude < longitudeMin || latitude > latitudeMax || latitude < latitudeMin) return null;
  if (latitude < latitudeFrom || latitude > latitudeTo || longitude < longitudeFrom || longitude > longitudeTo) return null;
  let latitudeOffset = (latitude - latitudeFrom) / (latitudeTo - latitudeFrom);
  let longitudeOffset = (longitude - longitudeFrom) / (longitudeTo - longitudeFrom);
  latitudeOffset *= 2 ** step;
  longitudeOffset *= 2 ** step;
  return { latitude: Math.trunc(latitudeOffset) >>> 0, longitude: Math.trunc(longitudeOffset) >>> 0, step };
}

/**
 * The score GEOADD stores for a point already checked against the limits: the step-26 geohash
 * as a double (`geohashAlign52Bits`, then ZADD's reading of its decimal text; a point on the upper
 * latitude or longitude limit has a 53rd or 54th bit, which the double may round).
 */
export function scoreOf(longitude: number, latitude: number): number {
  const cell = encode(longitudeMin, longitudeMax, latitudeMin, latitudeMax, longitude, latitude, stepMax) as Cell;
  interleave(cell.latitude, cell.longitude);
  // One rounding, as C's conversion of the integer: the high part times 2^32 is exact.
  return interleavedHigh * twoTo32 + interleavedLow;
}

/**
 * Redis's `geohashDecode`: a cell's extent. `ilato + 1` is 32-bit arithmetic in C (it wraps
 * for a cell number of 2^32-1, which only a crafted score gives).
 */
function decode(latitude: number, longitude: number, step: number, area: Area): void {
  const scale = 2 ** step;
  const latitudeScale = latitudeMax - latitudeMin;
  const longitudeScale = longitudeMax - longitudeMin;
  area.latitudeMin = latitudeMin + ((latitude * 1.0) / scale) * latitudeScale;
  area.latitudeMax = latitudeMin + ((((latitude + 1) >>> 0) * 1.0) / scale) * latitudeScale;
  area.longitudeMin = longitudeMin + ((longitude * 1.0) / scale) * longitudeScale;
  area.longitudeMax = longitudeMin + ((((longitude + 1) >>> 0) * 1.0) / scale) * longitudeScale;
}

const scratchArea: Area = { latitudeMin: 0, latitudeMax: 0, longitudeMin: 0, longitudeMax: 0 };

/**
 * Redis's `decodeGeohash`: the centre of the step-26 cell a score names, clamped to the limits,
 * into `xy` (longitude, latitude). The score becomes 64 bits as gcc converts a double to
 * uint64_t on x86-64 (truncation; from 2^63 up through a subtraction; out of range it gives
 * 2^63, or 0 at and above 2^64), so every score a client stored with ZADD decodes as in Redis.
 */
export function decodeScore(score: number, xy: Float64Array): void {
  let whole: number;
  let topBit = 0;
  if (score >= twoTo63) {
    const rest = score - twoTo63;
    // cvttsd2si of an out-of-range value gives 2^63; the flipped top bit makes it 0.
    if (rest >= twoTo63) whole = 0;
    else {
      whole = Math.trunc(rest);
      topBit = 0x80000000;
    }
  } else {
    whole = score < -twoTo63 || Number.isNaN(score) ? -twoTo63 : Math.trunc(score);
  }
  // Two's complement halves of `whole` (exact: dividing by 2^32 and flooring lose nothing).
  const highSigned = Math.floor(whole / twoTo32);
  const low = whole - highSigned * twoTo32;
  const high = ((highSigned >>> 0) | topBit) >>> 0;
  const latitude = (gather16(low) | (gather16(high) << 16)) >>> 0;
  const longitude = (gather16(low >>> 1) | (gather16(high >>> 1) << 16)) >>> 0;
  decode(latitude, longitude, stepMax, scratchArea);
  let x = (scratchArea.longitudeMin + scratchArea.longitudeMax) / 2;
  if (x > longitudeMax) x = longitudeMax;
  if (x < longitudeMin) x = longitudeMin;
  let y = (scratchArea.latitudeMin + scratchArea.latitudeMax) / 2;
  if (y > latitudeMax) y = latitudeMax;
  if (y < latitudeMin) y = latitudeMin;
  xy[0] = x;
  xy[1] = y;
}

const geohashAlphabet = "0123456789bcdefghjkmnpqrstuvwxyz";

/**
 * GEOHASH's 11 characters for a decoded point: the point encoded again over the standard
 * latitude range -90..90 at step 26; 10 characters of 5 bits from bit 51 down, then "0" (Redis
 * has 52 bits and keeps the 11-character form).
 */
export function geohashText(longitude: number, latitude: number): string {
  const cell = encode(-180, 180, -90, 90, longitude, latitude, stepMax) as Cell;
  interleave(cell.latitude, cell.longitude);
  let text = "";
  // Bits 51..2 in groups of five: shifts 47, 42, 37, 32 fall in the high half, 27..2 in the low.
  for (let shift = 47; shift >= 2; shift -= 5) {
    const index = shift >= 32 ? (interleavedHigh >>> (shift - 32)) & 0x1f : (interleavedLow >>> shift) & 0x1f;
    text += geohashAlphabet[index];
  }
  return `${text}0`;
}

/** Redis's `geohashGetLatDistance`: the distance along a meridian. */
function latitudeDistance(latitude1: number, latitude2: number): number {
  return earthRadiusMeters * Math.abs(latitude2 * degreesToRadians - latitude1 * degreesToRadians);
}

/**
 * Redis's `geohashGetDistance` (7.0.15's): the haversine distance in meters on a sphere of
 * radius 6372797.560856 m, or the distance along the meridian when the longitudes agree. Antipodal
 * points can make it NaN (the sum under the root rounds above 1), as in Redis.
 */
export function distance(longitude1: number, latitude1: number, longitude2: number, latitude2: number): number {
  const longitude1r = longitude1 * degreesToRadians;
  const longitude2r = longitude2 * degreesToRadians;
  const v = Math.sin((longitude2r - longitude1r) / 2);
  if (v === 0) return latitudeDistance(latitude1, latitude2);
  const latitude1r = latitude1 * degreesToRadians;
  const latitude2r = latitude2 * degreesToRadians;
  const u = Math.sin((latitude2r - latitude1r) / 2);
  const a = u * u + Math.cos(latitude1r) * Math.cos(latitude2r) * v * v;
  return 2.0 * earthRadiusMeters * Math.asin(Math.sqrt(a));
}

/** What a search looks for, in the units given (Redis's GeoShape). */
export interface Shape {
  /** The centre: longitude, latitude. */
  readonly x: number;
  readonly y: number;
  /** Meters per unit (M 1, KM 1000, FT 0.3048, MI 1609.34). */
  readonly conversion: number;
  /** BYRADIUS's radius, or null for BYBOX. */
  readonly radius: number | null;
  /** BYBOX's width and height (0 for BYRADIUS). */
  readonly width: number;
  readonly height: number;
}

/** What `distanceIfWithin` says of a point outside the shape (no distance is negative). */
export const outsideShape = -1;

/**
 * Redis's `geoWithinShape` for a point already decoded: its distance from the centre in meters
 * when it is in the shape, else `outsideShape`. A NaN distance (antipodes) counts as inside a
 * radius, as the C comparison `distance > radius` is false for it.
 */
export function distanceIfWithin(shape: Shape, longitude: number, latitude: number): number {
  if (shape.radius !== null) {
    const meters = distance(shape.x, shape.y, longitude, latitude);
    return meters > shape.radius * shape.conversion ? outsideShape : meters;
  }
  const width = shape.width * shape.conversion;
  const height = shape.height * shape.conversion;
  // geohashGetDistanceIfInRectangle: the latitude condition first, then the longitude one along
  // the point's own parallel.
  if (latitudeDistance(latitude, shape.y) > height / 2) return outsideShape;
  if (distance(longitude, latitude, shape.x, latitude) > width / 2) return outsideShape;
  return distance(shape.x, shape.y, longitude, latitude);
}

/** Redis's `geohashEstimateStepsByRadius`: a step whose cells are about as wide as the radius. */
function stepsForRadius(meters: number, latitude: number): number {
  if (meters === 0) return stepMax;
  let step = 1;
  let range = meters;
  while (range < mercatorMax) {
    range *= 2;
    step++;
  }
  step -= 2;
  if (latitude > 66 || latitude < -66) {
    step--;
    if (latitude > 80 || latitude < -80) step--;
  }
  if (step < 1) step = 1;
  if (step > stepMax) step = stepMax;
  return step;
}

/** A cell moved by `dx` columns (east positive) and `dy` rows (north positive), each wrapping at 2^step. */
function moved(cell: Cell, dx: number, dy: number): Cell {
  const mask = 2 ** cell.step - 1;
  // Redis's geohash_move_x and _y mask only the coordinate they move: the other keeps a bit at 2^step.
  const longitude = dx === 0 ? cell.longitude : (cell.longitude + dx) & mask;
  const latitude = dy === 0 ? cell.latitude : (cell.latitude + dy) & mask;
  return { latitude: latitude >>> 0, longitude: longitude >>> 0, step: cell.step };
}

/** Redis's `geohashNeighbors`, in the order `membersOfAllNeighbors` reads them (after the cell itself). */
function neighbours(cell: Cell): Array<Cell | null> {
  return [
    moved(cell, 0, 1), // north
    moved(cell, 0, -1), // south
    moved(cell, 1, 0), // east
    moved(cell, -1, 0), // west
    moved(cell, 1, 1), // north-east
    moved(cell, -1, 1), // north-west
    moved(cell, 1, -1), // south-east
    moved(cell, -1, -1), // south-west
  ];
}

/**
 * Redis's `geohashCalculateAreasByShapeWGS84`: the cells a search reads, in Redis's order (the
 * centre's cell, then north, south, east, west, north-east, north-west, south-east, south-west),
 * null for a neighbour left out because the shape's bounding box does not reach it.
 */
export function searchCells(shape: Shape): Array<Cell | null> {
  const { x: longitude, y: latitude, conversion } = shape;
  const circular = shape.radius !== null;
  // geohashBoundingBox
  const height = conversion * (circular ? (shape.radius as number) : shape.height / 2);
  const width = conversion * (circular ? (shape.radius as number) : shape.width / 2);
  const latitudeDelta = height / earthRadiusMeters / degreesToRadians;
  const longitudeDeltaTop = width / earthRadiusMeters / Math.cos((latitude + latitudeDelta) * degreesToRadians) / degreesToRadians;
  const longitudeDeltaBottom = width / earthRadiusMeters / Math.cos((latitude - latitudeDelta) * degreesToRadians) / degreesToRadians;
  const southern = latitude < 0;
  const boundLongitudeMin = southern ? longitude - longitudeDeltaBottom : longitude - longitudeDeltaTop;
  const boundLongitudeMax = southern ? longitude + longitudeDeltaBottom : longitude + longitudeDeltaTop;
  const boundLatitudeMin = latitude - latitudeDelta;
  const boundLatitudeMax = latitude + latitudeDelta;

  // A box is covered by the circle through its corners.
  let meters = circular
    ? (shape.radius as number)
    : Math.sqrt((shape.width / 2) * (shape.width / 2) + (shape.height / 2) * (shape.height / 2));
  meters *= conversion;
  let steps = stepsForRadius(meters, latitude);
  const at = (step: number): Cell => encode(longitudeMin, longitudeMax, latitudeMin, latitudeMax, longitude, latitude, step) as Cell;
  let cell = at(steps);
  let around = neighbours(cell);

  // When a neighbour on a side does not reach the box's edge, the cells are too small: one step up.
  const area: Area = { latitudeMin: 0, latitudeMax: 0, longitudeMin: 0, longitudeMax: 0 };
  let decrease = false;
  const [north, south, east, west] = around as [Cell, Cell, Cell, Cell];
  decode(north.latitude, north.longitude, north.step, area);
  if (area.latitudeMax < boundLatitudeMax) decrease = true;
  decode(south.latitude, south.longitude, south.step, area);
  if (area.latitudeMin > boundLatitudeMin) decrease = true;
  decode(east.latitude, east.longitude, east.step, area);
  if (area.longitudeMax < boundLongitudeMax) decrease = true;
  decode(west.latitude, west.longitude, west.step, area);
  if (area.longitudeMin > boundLongitudeMin) decrease = true;
  if (steps > 1 && decrease) {
    steps--;
    cell = at(steps);
    around = neighbours(cell);
  }
  decode(cell.latitude, cell.longitude, cell.step, area);

  // Leave out the sides the box does not reach past the centre's cell.
  if (steps >= 2) {
    if (area.latitudeMin < boundLatitudeMin) around[1] = around[6] = around[7] = null;
    if (area.latitudeMax > boundLatitudeMax) around[0] = around[4] = around[5] = null;
    if (area.longitudeMin < boundLongitudeMin) around[3] = around[5] = around[7] = null;
    if (area.longitudeMax > boundLongitudeMax) around[2] = around[4] = around[6] = null;
  }
  return [cell, ...around];
}

/** True when two cells are the same (Redis compares their interleaved bits and step). */
export function sameCell(a: Cell, b: Cell): boolean {
  return a.latitude === b.latitude && a.longitude === b.longitude && a.step === b.step;
}

/**
 * Redis's `scoresOfGeoHashBox`: the scores of the points in a cell, from `min` (included) to
 * `max` (excluded): the cell's bits and the next number's, aligned to 52 bits, as doubles.
 */
export function cellScores(cell: Cell): { min: number; max: number } {
  const bits = interleaveBig(cell);
  const shift = BigInt(52 - cell.step * 2);
  return { min: Number(bits << shift), max: Number((bits + 1n) << shift) };
}

/** WITHHASH's integer: the score as C converts a double to long long (out of range: -2^63). */
export function hashInteger(score: number): number | bigint {
  if (!(score < twoTo63 && score >= -twoTo63)) return -(2n ** 63n);
  const whole = Math.trunc(score);
  return Number.isSafeInteger(whole) ? whole : BigInt(whole);
}

/**
 * `value` with `digits` decimals, as glibc's printf("%.*f") prints a double: its exact value
 * rounded, a tie to even; "inf", "-inf", "-0.000000" for minus zero.
 */
export function fixedText(value: number, digits: number): string {
  if (value === Infinity) return "inf";
  if (value === -Infinity) return "-inf";
  const zeros = digits > 0 ? `.${"0".repeat(digits)}` : "";
  if (Math.abs(value) >= 1e21) return `${BigInt(value)}${zeros}`; // an integer: toFixed would print an exponent
  const sign = value < 0 || Object.is(value, -0) ? "-" : "";
  const magnitude = Math.abs(value);
  // A tie needs the value to be a multiple of 2^-(digits+1): only then may toFixed (which rounds
  // a tie up) and printf (to even) differ, and the exact digits are worked out.
  const halves = magnitude * 2 ** (digits + 1);
  if (!Number.isInteger(halves)) return sign + magnitude.toFixed(digits);
  const scaled = BigInt(halves) * 5n ** BigInt(digits); // twice the value times 10^digits
  let units = scaled / 2n;
  if (scaled % 2n === 1n && units % 2n === 1n) units += 1n;
  const text = units.toString().padStart(digits + 1, "0");
  return `${sign}${text.slice(0, text.length - digits)}${zeros === "" ? "" : `.${text.slice(text.length - digits)}`}`;
}

/**
 * A coordinate as GEOPOS and WITHCOORD print it (Redis's `addReplyHumanLongDouble`: the double
 * as a long double, `%.17Lf`, trailing zeros and point removed, "-0" made "0").
 */
export function coordinateText(value: number): string {
  let text = fixedText(value, 17);
  if (text.includes(".")) text = text.replace(/\.?0+$/, "");
  return text === "-0" ? "0" : text;
}

/** llrint: to the nearest integer, a tie to even; out of range (or NaN) x86's answer, -2^63. */
function roundToInteger(value: number): number | bigint {
  if (!(value < twoTo63 && value >= -twoTo63)) return -(2n ** 63n);
  let rounded = Math.round(value); // a tie goes up
  if (rounded - value === 0.5 && rounded % 2 !== 0) rounded -= 1;
  return Number.isSafeInteger(rounded) ? rounded : BigInt(rounded);
}

/**
 * A distance as Redis 7.0.15 prints it (`addReplyDoubleDistance`, `fixedpoint_d2string(d, 4)`):
 * the double times 10^4 rounded to an integer (llrint), printed with four decimals. This is not
 * printf's "%.4f": the product is rounded first, so a distance within a few ulps of a half
 * may round the other way.
 */
export function distanceText(value: number): string {
  if (value === 0) return "0.0000";
  const units = roundToInteger(value * 10000);
  const negative = units < 0;
  const digits = (negative ? -BigInt(units) : units).toString().padStart(5, "0");
  return `${negative ? "-" : ""}${digits.slice(0, -4)}.${digits.slice(-4)}`;
}
