/**
 * The geospatial commands (GEOADD, GEOPOS, GEODIST, GEOHASH, GEOSEARCH, GEOSEARCHSTORE,
 * GEORADIUS, GEORADIUSBYMEMBER and their _RO forms) against the real redis-server, reply for reply
 * (`helpers/redis-diff.ts`): cities around the world, points on the limits of Web Mercator, near
 * the poles, on both sides of the antimeridian and on the equator; scores stored with ZADD that no
 * GEOADD gives (negative, fractional, past 2^53, 2^63 and 2^64, infinite); radii from 0 to
 * infinity and boxes, in every unit; every option and their combinations (ASC, DESC, COUNT with
 * and without ANY, WITHCOORD, WITHDIST, WITHHASH, STORE, STOREDIST); the STORE forms' destination
 * (overwritten whatever its type, deleted when nothing is found); and every error, in Redis's
 * order, with its text (the invalid pair printed as `%f`, WRONGTYPE before the arguments, the
 * checks Redis skips when the key is missing). Then 200 seeded random points searched from 150
 * random centres, and a 3-node cluster that applies GEOADD and the STORE forms alike.
 *
 * Order: a search without ASC or DESC answers in the order Redis reads its cells, and ties in
 * distance come in the order of Redis's sort (glibc's qsort, or Redis's pqsort under COUNT).
 * Redis does not promise either, so those replies are compared `sorted`; the clone reproduces
 * both (its own test of that: the "cell order" script, compared exactly).
 */
import { describe, expect, setDefaultTimeout, test } from "bun:test";
import { Clone } from "../src/clone/machine.ts";
import type { FinnNode } from "../src/finn.ts";
import { seededRandom } from "../src/resp/testing/chunks.ts";
import { awaitSameDigest, InProcessNodes, writeEach } from "./helpers/in-process-nodes.ts";
import { type Case, c, diffServers, diffTests, sorted } from "./helpers/redis-diff.ts";
import { callPort } from "./helpers/resp-client.ts";

setDefaultTimeout(180_000);

const servers = diffServers();

/** [longitude, latitude, name] */
const cities: ReadonlyArray<readonly [string, string, string]> = [
  ["13.361389", "38.115556", "Palermo"],
  ["15.087269", "37.502669", "Catania"],
  ["12.496366", "41.902782", "Rome"],
  ["2.352222", "48.856613", "Paris"],
  ["-0.127758", "51.507351", "London"],
  ["0", "51.4779", "Greenwich"],
  ["-74.005974", "40.712776", "NewYork"],
  ["139.691711", "35.689487", "Tokyo"],
  ["151.209290", "-33.868820", "Sydney"],
  ["-46.633308", "-23.550520", "SaoPaulo"],
  ["18.424055", "-33.924870", "CapeTown"],
  ["-21.817439", "64.126521", "Reykjavik"],
  ["-149.900278", "61.218056", "Anchorage"],
  ["-157.858333", "21.306944", "Honolulu"],
  ["174.763336", "-36.848461", "Auckland"],
  ["178.441895", "-18.141600", "Suva"],
  ["-171.751990", "-13.833330", "Apia"],
  ["-165.406387", "64.501114", "Nome"],
  ["15.634", "78.2232", "Longyearbyen"],
  ["166.6863", "-77.8419", "McMurdo"],
  ["-68.303", "-54.8019", "Ushuaia"],
  ["-78.467834", "-0.180653", "Quito"],
  ["103.819836", "1.352083", "Singapore"],
  ["36.821946", "-1.292066", "Nairobi"],
  ["-62.3481", "82.5018", "Alert"],
  ["179.999", "0.5", "EastEdge"],
  ["-179.999", "0.5", "WestEdge"],
];

const allCities = cities.flatMap(([longitude, latitude, name]) => [longitude, latitude, name]);
const cityNames = cities.map(([, , name]) => name);

const basics: Case[] = [
  // GEOADD: replies, options, scores as ZADD stores them
  c("GEOADD", "Sicily", "13.361389", "38.115556", "Palermo", "15.087269", "37.502669", "Catania"), c("ZRANGE", "Sicily", "0", "-1", "WITHSCORES"),
  c("GEOADD", "Sicily", "13.361389", "38.115556", "Palermo"), c("GEOADD", "Sicily", "CH", "13.361389", "38.115556", "Palermo"),
  c("GEOADD", "Sicily", "CH", "13.4", "38.1", "Palermo"), c("GEOADD", "Sicily", "NX", "13.5", "38.2", "Palermo", "14", "37", "Agrigento"),
  c("ZSCORE", "Sicily", "Palermo"), c("GEOADD", "Sicily", "XX", "13.361389", "38.115556", "Palermo", "15", "38", "Messina"), c("ZCARD", "Sicily"),
  c("GEOADD", "Sicily", "XX", "CH", "15.087269", "37.502669", "Catania", "15.1", "37.5", "Agrigento"), c("GEOADD", "Sicily", "ch", "nx", "ch", "12", "37", "Marsala"),
  c("GEOADD", "Sicily", "NX", "XX", "12", "37", "Trapani"), c("GEOADD", "Sicily", "GT", "12", "37", "Trapani"), c("GEOADD", "Sicily", "INCR", "12", "37", "Trapani"),
  c("GEOADD", "Sicily", "NX", "CH", "XX"), c("GEOADD", "Sicily", "CH", "CH", "CH"), c("GEOADD", "Sicily", "12", "37"), c("GEOADD", "Sicily", "12", "37", "a", "13"),
  c("GEOADD", "Sicily", "12", "37", "dup", "13", "38", "dup"), c("GEOPOS", "Sicily", "dup"), c("GEOADD", "Sicily"), c("GEOADD", "Sicily", "1", "2"),
  c("GEOADD", "new", "XX", "1", "2", "m"), c("EXISTS", "new"), c("GEOADD", "new", "NX", "1", "2", "m"), c("TYPE", "new"), c("OBJECT", "ENCODING", "new"),
  // GEOADD: coordinates on and past the limits, and numbers as Redis reads them
  c("GEOADD", "edges", "180", "85.05112878", "ne", "-180", "-85.05112878", "sw", "180", "-85.05112878", "se", "-180", "85.05112878", "nw"),
  c("ZRANGE", "edges", "0", "-1", "WITHSCORES"), c("GEOPOS", "edges", "ne", "sw", "se", "nw"), c("GEOHASH", "edges", "ne", "sw", "se", "nw"),
  c("GEOADD", "edges", "0", "0", "origin", "-0", "-0", "negzero", "0.000001", "0.000001", "tiny"), c("GEOPOS", "edges", "origin", "negzero", "tiny"),
  c("GEOADD", "edges", "180.0000001", "0", "x"), c("GEOADD", "edges", "-180.0000001", "0", "x"), c("GEOADD", "edges", "0", "85.05112879", "x"),
  c("GEOADD", "edges", "0", "-85.05112879", "x"), c("GEOADD", "edges", "200", "100", "x"), c("GEOADD", "edges", "-200.5", "-0", "x"),
  c("GEOADD", "edges", "1e300", "0", "x"), c("GEOADD", "edges", "inf", "0", "x"), c("GEOADD", "edges", "0", "-inf", "x"), c("GEOADD", "edges", "1e400", "0", "x"),
  c("GEOADD", "edges", "nan", "0", "x"), c("GEOADD", "edges", "0", "nan", "x"), c("GEOADD", "edges", "abc", "0", "x"), c("GEOADD", "edges", "0", "", "x"),
  c("GEOADD", "edges", " 1", "0", "x"), c("GEOADD", "edges", "0x10", "0x1p2", "hex"), c("GEOPOS", "edges", "hex"), c("GEOADD", "edges", "1e-400", "0", "x"),
  c("GEOADD", "edges", "1", "2", "ok", "300", "2", "bad"), c("GEOPOS", "edges", "ok"), c("GEOADD", "edges", "1", "2", "ok2", "x", "2", "bad", "500", "0", "worse"),
  c("GEOADD", "edges", "0.1234567890123456789", "-12.3456789", "precise"), c("GEOPOS", "edges", "precise"), c("GEOHASH", "edges", "precise"),
  c("SET", "str", "v"), c("GEOADD", "str", "1", "2", "m"), c("GEOADD", "str", "999", "2", "m"), c("GEOADD", "str", "NX", "XX", "1", "2", "m"),
  // GEOPOS
  c("GEOPOS", "Sicily", "Palermo", "Catania", "nothing", "Palermo"), c("GEOPOS", "Sicily"), c("GEOPOS", "nokey", "a", "b"), c("GEOPOS", "nokey"),
  c("GEOPOS", "str", "a"), c("GEOPOS", "str"), c("GEOPOS"),
  // GEODIST
  c("GEODIST", "Sicily", "Palermo", "Catania"), c("GEODIST", "Sicily", "Palermo", "Catania", "m"), c("GEODIST", "Sicily", "Palermo", "Catania", "km"),
  c("GEODIST", "Sicily", "Palermo", "Catania", "KM"), c("GEODIST", "Sicily", "Palermo", "Catania", "ft"), c("GEODIST", "Sicily", "Palermo", "Catania", "Mi"),
  c("GEODIST", "Sicily", "Palermo", "Palermo"), c("GEODIST", "Sicily", "Palermo", "nothing"), c("GEODIST", "Sicily", "nothing", "Palermo"),
  c("GEODIST", "Sicily", "Palermo", "Catania", "yd"), c("GEODIST", "Sicily", "Palermo", "Catania", "kilometers"), c("GEODIST", "Sicily", "Palermo", "Catania", "km", "x"),
  c("GEODIST", "nokey", "a", "b"), c("GEODIST", "nokey", "a", "b", "parsec"), c("GEODIST", "str", "a", "b"), c("GEODIST", "str", "a", "b", "parsec"),
  c("GEODIST", "str", "a", "b", "km", "x"), c("GEODIST", "Sicily", "Palermo"), c("GEODIST", "edges", "ne", "sw"), c("GEODIST", "edges", "ne", "nw"),
  c("GEODIST", "edges", "se", "sw", "km"), c("GEODIST", "edges", "origin", "negzero"), c("GEODIST", "edges", "origin", "tiny", "ft"),
  // GEOHASH
  c("GEOHASH", "Sicily", "Palermo", "Catania", "nothing"), c("GEOHASH", "Sicily"), c("GEOHASH", "nokey", "a"), c("GEOHASH", "str", "a"), c("GEOHASH"),
  c("GEOHASH", "edges", "origin", "negzero", "tiny", "hex"),
];

/** Sorted sets whose scores GEOADD never gives: decoded as Redis casts a double to 64 bits. */
const oddScores: Case[] = [
  c("ZADD", "odd", "0", "zero", "-1", "minus1", "1.5", "frac", "4503599627370496", "p52", "9007199254740992", "p53", "13510798882111488", "p53b"),
  c("ZADD", "odd", "-4503599627370496", "m52", "9223372036854775808", "p63", "18446744073709551616", "p64", "1e300", "huge", "-1e300", "nhuge"),
  c("ZADD", "odd", "inf", "inf", "-inf", "ninf", "-9223372036854775808", "m63", "-0.5", "mhalf", "3.7e15", "big", "123456789012.75", "mid"),
  c("GEOPOS", "odd", "zero", "minus1", "frac", "p52", "p53", "p53b", "m52", "p63", "p64", "huge", "nhuge", "inf", "ninf", "m63", "mhalf", "big", "mid"),
  c("GEOHASH", "odd", "zero", "minus1", "frac", "p52", "p53", "p53b", "m52", "p63", "p64", "huge", "nhuge", "inf", "ninf", "m63", "mhalf", "big", "mid"),
  c("GEODIST", "odd", "zero", "minus1"), c("GEODIST", "odd", "p63", "ninf", "km"), c("GEODIST", "odd", "huge", "frac"), c("GEODIST", "odd", "mid", "big", "mi"),
  c("GEOSEARCH", "odd", "FROMLONLAT", "0", "0", "BYRADIUS", "30000", "km", "ASC", "WITHHASH", "WITHCOORD", "WITHDIST"),
  c("GEOSEARCH", "odd", "FROMMEMBER", "p52", "BYRADIUS", "100", "km", "WITHHASH"), c("GEOSEARCH", "odd", "FROMMEMBER", "inf", "BYBOX", "1000", "1000", "km", "WITHCOORD"),
  c("GEOSEARCH", "odd", "FROMMEMBER", "frac", "BYRADIUS", "0", "m", "WITHHASH", "WITHCOORD"), c("GEORADIUSBYMEMBER", "odd", "mid", "5000", "km", "WITHHASH", "ASC"),
  c("ZADD", "frac", "1.5", "a", "2.25", "b", "2.75", "c", "1e-300", "d"), c("GEOSEARCH", "frac", "FROMLONLAT", "-180", "-85.05112878", "BYRADIUS", "1", "m", "WITHHASH"),
];

/** The cities, searched with every option. */
const searches: Case[] = [
  c("GEOADD", "world", ...allCities), c("ZCARD", "world"), c("GEOPOS", "world", ...cityNames), c("GEOHASH", "world", ...cityNames),
  c("GEODIST", "world", "Paris", "London", "km"), c("GEODIST", "world", "NewYork", "Tokyo", "mi"), c("GEODIST", "world", "Sydney", "London", "ft"),
  c("GEODIST", "world", "EastEdge", "WestEdge"), c("GEODIST", "world", "Alert", "McMurdo", "km"), c("GEODIST", "world", "Quito", "Singapore"),
  c("GEODIST", "world", "Greenwich", "London"), c("GEODIST", "world", "Suva", "Apia", "km"),
  // BYRADIUS from members and points, sorted
  c("GEOSEARCH", "world", "FROMMEMBER", "Paris", "BYRADIUS", "1000", "km", "ASC"), c("GEOSEARCH", "world", "FROMMEMBER", "Paris", "BYRADIUS", "1000", "km", "DESC"),
  c("GEOSEARCH", "world", "FROMMEMBER", "Paris", "BYRADIUS", "2000", "km", "ASC", "WITHDIST"), c("GEOSEARCH", "world", "FROMMEMBER", "Paris", "BYRADIUS", "2000", "km", "ASC", "WITHCOORD"),
  c("GEOSEARCH", "world", "FROMMEMBER", "Paris", "BYRADIUS", "2000", "km", "ASC", "WITHHASH"),
  c("GEOSEARCH", "world", "FROMMEMBER", "Paris", "BYRADIUS", "2000", "km", "DESC", "WITHDIST", "WITHCOORD", "WITHHASH"),
  c("GEOSEARCH", "world", "FROMMEMBER", "Paris", "BYRADIUS", "2000", "km", "WITHHASH", "WITHCOORD", "WITHDIST", "ASC"),
  c("GEOSEARCH", "world", "FROMLONLAT", "15", "37", "BYRADIUS", "200", "km", "ASC", "WITHDIST"), c("GEOSEARCH", "world", "FROMLONLAT", "15", "37", "BYRADIUS", "200", "mi", "ASC", "WITHDIST"),
  c("GEOSEARCH", "world", "FROMLONLAT", "15", "37", "BYRADIUS", "656168", "ft", "ASC", "WITHDIST"), c("GEOSEARCH", "world", "FROMLONLAT", "15", "37", "BYRADIUS", "200000", "m", "ASC", "WITHDIST"),
  c("GEOSEARCH", "world", "FROMLONLAT", "15", "37", "BYRADIUS", "200", "KM", "ASC", "WITHDIST"), c("GEOSEARCH", "world", "FROMLONLAT", "15", "37", "BYRADIUS", "200", "Km", "DESC", "WITHDIST"),
  // COUNT (the nearest), COUNT ANY (the first found), in each order
  c("GEOSEARCH", "world", "FROMMEMBER", "Rome", "BYRADIUS", "3000", "km", "COUNT", "3"), c("GEOSEARCH", "world", "FROMMEMBER", "Rome", "BYRADIUS", "3000", "km", "COUNT", "3", "DESC"),
  c("GEOSEARCH", "world", "FROMMEMBER", "Rome", "BYRADIUS", "3000", "km", "COUNT", "3", "ASC", "WITHDIST"), c("GEOSEARCH", "world", "FROMMEMBER", "Rome", "BYRADIUS", "3000", "km", "COUNT", "1"),
  c("GEOSEARCH", "world", "FROMMEMBER", "Rome", "BYRADIUS", "3000", "km", "COUNT", "100", "WITHDIST"), c("GEOSEARCH", "world", "FROMMEMBER", "Rome", "BYRADIUS", "3000", "km", "COUNT", "3", "ANY", "ASC"),
  c("GEOSEARCH", "world", "FROMMEMBER", "Rome", "BYRADIUS", "3000", "km", "COUNT", "2", "ANY", "DESC", "WITHDIST"), c("GEOSEARCH", "world", "FROMMEMBER", "Rome", "BYRADIUS", "3000", "km", "COUNT", "9223372036854775807"),
  c("GEOSEARCH", "world", "FROMMEMBER", "Rome", "BYRADIUS", "3000", "km", "COUNT", "3", "COUNT", "2"), c("GEOSEARCH", "world", "FROMMEMBER", "Rome", "BYRADIUS", "3000", "km", "ANY", "COUNT", "2", "ASC"),
  c("GEOSEARCH", "world", "FROMLONLAT", "0", "0", "BYRADIUS", "20000", "km", "COUNT", "5", "ASC", "WITHDIST"), c("GEOSEARCH", "world", "FROMLONLAT", "0", "0", "BYRADIUS", "20000", "km", "COUNT", "5", "DESC", "WITHDIST"),
  c("GEOSEARCH", "world", "FROMLONLAT", "0", "0", "BYRADIUS", "20000", "km", "COUNT", "26", "ASC", "WITHDIST"),
  // BYBOX
  c("GEOSEARCH", "world", "FROMMEMBER", "Paris", "BYBOX", "2000", "2000", "km", "ASC", "WITHDIST"), c("GEOSEARCH", "world", "FROMMEMBER", "Paris", "BYBOX", "400", "1000", "km", "ASC"),
  c("GEOSEARCH", "world", "FROMMEMBER", "Paris", "BYBOX", "1000", "400", "km", "ASC"), c("GEOSEARCH", "world", "FROMLONLAT", "14", "38", "BYBOX", "400", "400", "km", "DESC", "WITHCOORD"),
  c("GEOSEARCH", "world", "FROMLONLAT", "14", "38", "BYBOX", "248.5", "248.5", "mi", "ASC", "WITHDIST"), c("GEOSEARCH", "world", "FROMLONLAT", "0", "0", "BYBOX", "40000", "20000", "km", "ASC"),
  c("GEOSEARCH", "world", "FROMLONLAT", "0", "0", "BYBOX", "0", "0", "m", "ASC"), c("GEOSEARCH", "world", "FROMMEMBER", "Quito", "BYBOX", "0", "0", "m", "WITHDIST"),
  c("GEOSEARCH", "world", "FROMLONLAT", "151", "-34", "BYBOX", "3000", "3000", "km", "ASC", "COUNT", "1", "WITHDIST"),
  // Radii from nothing to everything
  c("GEOSEARCH", "world", "FROMMEMBER", "Tokyo", "BYRADIUS", "0", "m", "WITHDIST"), c("GEOSEARCH", "world", "FROMMEMBER", "Tokyo", "BYRADIUS", "1e-9", "m"),
  c("GEOSEARCH", "world", "FROMMEMBER", "Tokyo", "BYRADIUS", "5e-324", "km"), c("GEOSEARCH", "world", "FROMMEMBER", "Tokyo", "BYRADIUS", "1", "m"),
  c("GEOSEARCH", "world", "FROMMEMBER", "Tokyo", "BYRADIUS", "10000", "km", "ASC"), c("GEOSEARCH", "world", "FROMMEMBER", "Tokyo", "BYRADIUS", "20037.7", "km", "ASC"),
  c("GEOSEARCH", "world", "FROMMEMBER", "Tokyo", "BYRADIUS", "1e9", "m", "DESC", "WITHDIST"), c("GEOSEARCH", "world", "FROMMEMBER", "Tokyo", "BYRADIUS", "inf", "m", "ASC", "WITHDIST"),
  c("GEOSEARCH", "world", "FROMMEMBER", "Tokyo", "BYBOX", "inf", "inf", "km", "ASC"), c("GEOSEARCH", "world", "FROMMEMBER", "Tokyo", "BYBOX", "1e12", "10", "km", "ASC"),
  c("GEOSEARCH", "world", "FROMMEMBER", "Tokyo", "BYRADIUS", "-0", "m"),
  // the antimeridian, the poles, the equator
  c("GEOSEARCH", "world", "FROMLONLAT", "180", "0.5", "BYRADIUS", "500", "km", "ASC", "WITHDIST"), c("GEOSEARCH", "world", "FROMLONLAT", "-180", "0.5", "BYRADIUS", "500", "km", "ASC", "WITHDIST"),
  c("GEOSEARCH", "world", "FROMMEMBER", "EastEdge", "BYRADIUS", "1", "km", "ASC", "WITHDIST"), c("GEOSEARCH", "world", "FROMMEMBER", "WestEdge", "BYBOX", "10", "10", "km", "ASC", "WITHDIST"),
  c("GEOSEARCH", "world", "FROMMEMBER", "Suva", "BYRADIUS", "1500", "km", "ASC", "WITHDIST"), c("GEOSEARCH", "world", "FROMMEMBER", "Apia", "BYRADIUS", "1500", "km", "ASC", "WITHDIST"),
  c("GEOSEARCH", "world", "FROMMEMBER", "Auckland", "BYRADIUS", "3000", "km", "ASC", "WITHDIST"), c("GEOSEARCH", "world", "FROMLONLAT", "179.5", "-16", "BYBOX", "1200", "800", "km", "ASC"),
  c("GEOSEARCH", "world", "FROMMEMBER", "Alert", "BYRADIUS", "1000", "km", "ASC", "WITHDIST"), c("GEOSEARCH", "world", "FROMMEMBER", "Alert", "BYRADIUS", "3000", "km", "ASC", "WITHDIST"),
  c("GEOSEARCH", "world", "FROMLONLAT", "0", "85.05112878", "BYRADIUS", "2500", "km", "ASC", "WITHDIST"), c("GEOSEARCH", "world", "FROMLONLAT", "100", "-85.05112878", "BYRADIUS", "1000", "km", "ASC", "WITHDIST"),
  c("GEOSEARCH", "world", "FROMMEMBER", "Longyearbyen", "BYBOX", "2000", "2000", "km", "ASC", "WITHDIST"), c("GEOSEARCH", "world", "FROMMEMBER", "McMurdo", "BYRADIUS", "5000", "km", "ASC"),
  c("GEOSEARCH", "world", "FROMLONLAT", "-78", "0", "BYRADIUS", "100", "km", "ASC", "WITHDIST"), c("GEOSEARCH", "world", "FROMLONLAT", "103.8", "0", "BYBOX", "400", "400", "km", "ASC", "WITHDIST"),
  c("GEOSEARCH", "world", "FROMMEMBER", "Reykjavik", "BYRADIUS", "2500", "km", "ASC", "WITHDIST"), c("GEOSEARCH", "world", "FROMMEMBER", "Anchorage", "BYRADIUS", "1000", "km", "ASC", "WITHDIST"),
  c("GEOSEARCH", "world", "FROMMEMBER", "Nome", "BYRADIUS", "2000", "mi", "ASC", "WITHDIST"), c("GEOSEARCH", "world", "FROMMEMBER", "Honolulu", "BYRADIUS", "4000", "km", "ASC"),
  c("GEOSEARCH", "world", "FROMMEMBER", "Ushuaia", "BYBOX", "3000", "5000", "km", "ASC", "WITHDIST"), c("GEOSEARCH", "world", "FROMMEMBER", "CapeTown", "BYRADIUS", "7000", "km", "DESC"),
  // the unsorted forms: Redis's cell order (see the file comment)
  sorted("GEOSEARCH", "world", "FROMMEMBER", "Paris", "BYRADIUS", "2000", "km"), sorted("GEOSEARCH", "world", "FROMMEMBER", "Paris", "BYRADIUS", "2000", "km", "WITHDIST", "WITHCOORD"),
  sorted("GEOSEARCH", "world", "FROMLONLAT", "0", "0", "BYRADIUS", "20000", "km"), sorted("GEOSEARCH", "world", "FROMLONLAT", "0", "0", "BYRADIUS", "20000", "km", "COUNT", "5", "ANY"),
  sorted("GEOSEARCH", "world", "FROMLONLAT", "0", "0", "BYBOX", "40000", "40000", "km"), sorted("GEOSEARCH", "world", "FROMMEMBER", "Suva", "BYRADIUS", "3000", "km", "WITHHASH"),
  sorted("GEOSEARCH", "world", "FROMMEMBER", "Alert", "BYRADIUS", "9000", "km"), sorted("GEOSEARCH", "world", "FROMMEMBER", "Tokyo", "BYRADIUS", "inf", "km"),
  sorted("GEOSEARCH", "world", "FROMLONLAT", "180", "0", "BYRADIUS", "20000", "km", "COUNT", "3", "ANY", "WITHDIST"),
  // GEOSEARCHSTORE
  c("GEOSEARCHSTORE", "near", "world", "FROMMEMBER", "Paris", "BYRADIUS", "2000", "km"), c("ZRANGE", "near", "0", "-1", "WITHSCORES"),
  c("GEOSEARCHSTORE", "near", "world", "FROMMEMBER", "Paris", "BYRADIUS", "2000", "km", "STOREDIST"), c("ZRANGE", "near", "0", "-1"),
  c("GEOSEARCHSTORE", "near", "world", "FROMMEMBER", "Paris", "BYRADIUS", "2000", "mi", "STOREDIST", "COUNT", "2", "DESC"), c("ZRANGE", "near", "0", "-1"),
  c("GEOSEARCHSTORE", "near", "world", "FROMLONLAT", "0", "0", "BYBOX", "40000", "20000", "km", "COUNT", "4", "ANY"), c("ZRANGE", "near", "0", "-1", "WITHSCORES"),
  c("GEOSEARCHSTORE", "near", "world", "FROMLONLAT", "0", "0", "BYRADIUS", "1", "m"), c("EXISTS", "near"), c("SET", "dest", "v", "EX", "1000"),
  c("GEOSEARCHSTORE", "dest", "world", "FROMMEMBER", "Rome", "BYRADIUS", "1", "km"), c("TYPE", "dest"), c("TTL", "dest"), c("GEOPOS", "dest", "Rome"),
  c("SET", "dest", "v", "EX", "1000"), c("GEOSEARCHSTORE", "dest", "world", "FROMMEMBER", "Rome", "BYRADIUS", "0", "km"), c("EXISTS", "dest"),
  c("SET", "dest", "v"), c("GEOSEARCHSTORE", "dest", "nokey", "FROMMEMBER", "Rome", "BYRADIUS", "10", "km"), c("EXISTS", "dest"),
  c("GEOSEARCHSTORE", "world2", "world", "FROMLONLAT", "0", "0", "BYRADIUS", "30000", "km", "STOREDIST", "storedist"), c("ZRANGE", "world2", "0", "-1"),
  c("GEOSEARCHSTORE", "world2", "world2", "FROMLONLAT", "0", "0", "BYRADIUS", "1", "m"), c("EXISTS", "world2"),
  c("GEOSEARCHSTORE", "copy", "world", "FROMMEMBER", "Singapore", "BYRADIUS", "30000", "km", "DESC", "COUNT", "3"), c("ZRANGE", "copy", "0", "-1", "WITHSCORES"),
  c("GEOSEARCHSTORE", "copy", "world", "FROMMEMBER", "Singapore", "BYRADIUS", "30000", "km"), c("GEOPOS", "copy", "Singapore", "Sydney"),
  c("GEOSEARCHSTORE", "copy", "copy", "FROMMEMBER", "Singapore", "BYRADIUS", "3000", "km"), c("ZRANGE", "copy", "0", "-1"),
  // GEORADIUS and GEORADIUSBYMEMBER (and _RO), with STORE and STOREDIST
  c("GEORADIUS", "world", "15", "37", "200", "km"), c("GEORADIUS", "world", "15", "37", "200", "km", "WITHDIST", "ASC"), c("GEORADIUS", "world", "15", "37", "2000", "km", "DESC", "COUNT", "2"),
  c("GEORADIUS", "world", "15", "37", "2000", "km", "WITHCOORD", "WITHHASH", "WITHDIST", "ASC", "COUNT", "3", "ANY"), c("GEORADIUS_RO", "world", "15", "37", "200", "km", "WITHDIST", "ASC"),
  c("GEORADIUS", "world", "15", "37", "2000", "km", "STORE", "r1"), c("ZRANGE", "r1", "0", "-1", "WITHSCORES"), c("GEORADIUS", "world", "15", "37", "2000", "km", "STOREDIST", "r2", "ASC", "COUNT", "3"),
  c("ZRANGE", "r2", "0", "-1"), c("GEORADIUS", "world", "15", "37", "2000", "km", "STORE", "r1", "STOREDIST", "r3"), c("EXISTS", "r1", "r3"), c("ZRANGE", "r3", "0", "-1"),
  c("GEORADIUS", "world", "15", "37", "2000", "km", "STOREDIST", "r3", "STORE", "r4"), c("ZRANGE", "r4", "0", "-1", "WITHSCORES"), c("GEORADIUS", "world", "15", "37", "1", "m", "STORE", "r4"), c("EXISTS", "r4"),
  c("GEORADIUS", "nokey", "15", "37", "2000", "km", "STORE", "r3"), c("EXISTS", "r3"), c("GEORADIUS", "nokey", "15", "37", "2000", "km"),
  c("GEORADIUSBYMEMBER", "world", "Palermo", "200", "km"), c("GEORADIUSBYMEMBER", "world", "Palermo", "200", "km", "WITHDIST", "WITHCOORD", "ASC"),
  c("GEORADIUSBYMEMBER", "world", "Palermo", "3000", "km", "COUNT", "4", "DESC", "WITHHASH"), c("GEORADIUSBYMEMBER_RO", "world", "Palermo", "3000", "km", "COUNT", "4", "WITHDIST"),
  c("GEORADIUSBYMEMBER", "world", "Palermo", "3000", "km", "STORE", "b1", "COUNT", "4"), c("ZRANGE", "b1", "0", "-1", "WITHSCORES"),
  c("GEORADIUSBYMEMBER", "world", "Palermo", "3000", "mi", "STOREDIST", "b1", "DESC"), c("ZRANGE", "b1", "0", "-1"),
  c("GEORADIUSBYMEMBER", "world", "Palermo", "0", "km", "STORE", "b1"), c("ZRANGE", "b1", "0", "-1"), c("GEORADIUSBYMEMBER", "world", "nothing", "0", "km", "STORE", "b1"),
];

/** Errors, each where Redis finds it first. */
const errors: Case[] = [
  c("GEOADD", "e", "1", "1", "a", "2", "2", "b"), c("SET", "str", "v"),
  // WRONGTYPE before anything else a search checks
  c("GEOSEARCH", "str", "FROMMEMBER", "a", "BYRADIUS", "1", "km"), c("GEOSEARCH", "str", "FOO"), c("GEOSEARCH", "str", "FROMLONLAT", "999", "0", "BYRADIUS", "1", "km"),
  c("GEORADIUS", "str", "999", "0", "1", "km"), c("GEORADIUS", "str", "0", "0", "1", "km", "STORE", "x"), c("GEORADIUSBYMEMBER", "str", "a", "x", "km"), c("GEORADIUS_RO", "str", "a", "b", "c", "d"),
  c("GEOSEARCHSTORE", "x", "str", "FROMLONLAT", "0", "0", "BYRADIUS", "1", "km"), c("GEOSEARCHSTORE", "str", "e", "FROMLONLAT", "0", "0", "BYRADIUS", "1000", "km"), c("TYPE", "str"), c("SET", "str", "v"),
  c("GEOSEARCHSTORE", "x", "str", "FOO"), c("GEOSEARCHSTORE", "x", "str", "FROMLONLAT", "0", "0", "BYRADIUS", "1", "km", "WITHDIST"),
  // FROM... and BY...: missing, both, twice, cut short
  c("GEOSEARCH", "e", "BYRADIUS", "1", "km"), c("GEOSEARCH", "e", "FROMLONLAT", "0", "0"), c("GEOSEARCH", "e", "FROMLONLAT", "0", "0", "WITHDIST", "ASC", "COUNT", "1"),
  c("geosearch", "e", "BYBOX", "1", "1", "km", "ASC"), c("GeoSearch", "e", "FROMMEMBER", "a", "ASC"), c("geosearchstore", "d", "e", "BYRADIUS", "1", "km"),
  c("GEOSEARCHSTORE", "d", "e", "FROMLONLAT", "0", "0", "ASC"), c("GEOSEARCH", "e", "FROMMEMBER", "a", "FROMLONLAT", "0", "0", "BYRADIUS", "1", "km"),
  c("GEOSEARCH", "e", "FROMLONLAT", "0", "0", "FROMMEMBER", "a", "BYRADIUS", "1", "km"), c("GEOSEARCH", "e", "FROMMEMBER", "a", "FROMMEMBER", "b", "BYRADIUS", "500", "km", "ASC"),
  c("GEOSEARCH", "e", "FROMLONLAT", "0", "0", "FROMLONLAT", "1", "1", "BYRADIUS", "1", "km", "ASC"), c("GEOSEARCH", "e", "FROMLONLAT", "0", "0", "BYRADIUS", "1", "km", "BYBOX", "1", "1", "km"),
  c("GEOSEARCH", "e", "FROMLONLAT", "0", "0", "BYBOX", "1", "1", "km", "BYRADIUS", "1", "km"), c("GEOSEARCH", "e", "FROMLONLAT", "0", "0", "BYRADIUS", "1", "km", "BYRADIUS", "500", "km", "ASC"),
  c("GEOSEARCH", "e", "FROMLONLAT", "0", "0", "BYBOX", "1", "1", "km", "BYBOX", "500", "500", "km", "ASC"), c("GEOSEARCH", "e", "FROMLONLAT", "0", "BYRADIUS", "1", "km"),
  c("GEOSEARCH", "e", "FROMMEMBER"), c("GEOSEARCH", "e", "FROMMEMBER", "a", "BYRADIUS", "1"), c("GEOSEARCH", "e", "FROMMEMBER", "a", "BYBOX", "1", "1"),
  c("GEOSEARCH", "e", "FROMMEMBER", "a", "BYRADIUS", "1", "km", "COUNT"), c("GEOSEARCH", "e", "FROMMEMBER", "a", "BYRADIUS", "1", "km", "STORE", "x"),
  c("GEOSEARCH", "e", "FROMMEMBER", "a", "BYRADIUS", "1", "km", "STOREDIST"), c("GEOSEARCH", "e", "FROMMEMBER", "a", "BYRADIUS", "1", "km", "STOREDIST", "x"),
  c("GEOSEARCHSTORE", "d", "e", "FROMMEMBER", "a", "BYRADIUS", "1", "km", "STORE", "x"), c("GEOSEARCHSTORE", "d", "e", "FROMMEMBER", "a", "BYRADIUS", "1", "km", "STOREDIST", "x"),
  // members that are not there
  c("GEOSEARCH", "e", "FROMMEMBER", "nothing", "BYRADIUS", "1", "km"), c("GEOSEARCH", "e", "FROMMEMBER", "nothing", "BYRADIUS", "-1", "km"),
  c("GEOSEARCH", "e", "BYRADIUS", "-1", "km", "FROMMEMBER", "nothing"), c("GEOSEARCH", "e", "FROMMEMBER", "nothing", "FOO"), c("GEOSEARCH", "e", "FOO", "FROMMEMBER", "nothing"),
  c("GEOSEARCH", "e", "FROMMEMBER", "a", "FROMMEMBER", "nothing", "BYRADIUS", "1", "km"), c("GEOSEARCHSTORE", "d", "e", "FROMMEMBER", "nothing", "BYRADIUS", "1", "km", "WITHDIST"),
  c("GEORADIUSBYMEMBER", "e", "nothing", "1", "km"), c("GEORADIUSBYMEMBER", "e", "nothing", "x", "parsec"), c("GEORADIUSBYMEMBER_RO", "e", "nothing", "1", "km", "STORE", "x"),
  c("GEORADIUSBYMEMBER", "e", "nothing", "1", "km", "STORE", "x"),
  // a missing key: Redis skips the member lookups, and GEORADIUSBYMEMBER its radius, but not the rest
  c("GEOSEARCH", "nokey", "FROMMEMBER", "nothing", "BYRADIUS", "1", "km"), c("GEOSEARCH", "nokey", "FROMMEMBER", "nothing", "BYRADIUS", "-1", "km"),
  c("GEOSEARCH", "nokey", "FROMMEMBER", "nothing"), c("GEOSEARCH", "nokey", "FROMLONLAT", "999", "0", "BYRADIUS", "1", "km"), c("GEOSEARCH", "nokey", "FROMMEMBER", "x", "BYRADIUS", "1", "km", "ANY"),
  c("GEORADIUSBYMEMBER", "nokey", "nothing", "1", "km"), c("GEORADIUSBYMEMBER", "nokey", "nothing", "x", "parsec"), c("GEORADIUSBYMEMBER", "nokey", "nothing", "-5", "km", "WITHDIST"),
  c("GEORADIUSBYMEMBER", "nokey", "nothing", "x", "parsec", "COUNT", "0"), c("GEORADIUSBYMEMBER", "nokey", "nothing", "x", "parsec", "FOO"),
  c("SET", "gone", "v"), c("GEORADIUSBYMEMBER", "nokey", "nothing", "x", "parsec", "STORE", "gone"), c("EXISTS", "gone"), c("SET", "gone", "v"),
  c("GEORADIUSBYMEMBER", "nokey", "nothing", "x", "parsec", "STORE", "gone", "WITHDIST"), c("EXISTS", "gone"), c("GEORADIUSBYMEMBER_RO", "nokey", "nothing", "x", "parsec"),
  c("GEORADIUSBYMEMBER", "e", "a", "x", "parsec", "STORE", "gone"), c("EXISTS", "gone"), c("GEORADIUS", "nokey", "999", "0", "1", "km"), c("GEORADIUS", "nokey", "0", "0", "x", "km"),
  c("GEOSEARCHSTORE", "gone", "nokey", "FROMMEMBER", "x", "BYBOX", "1", "1", "m"), c("EXISTS", "gone"),
  // coordinates, radii, boxes, units
  c("GEOSEARCH", "e", "FROMLONLAT", "181", "0", "BYRADIUS", "1", "km"), c("GEOSEARCH", "e", "FROMLONLAT", "0", "-86", "BYRADIUS", "1", "km"), c("GEOSEARCH", "e", "FROMLONLAT", "x", "0", "BYRADIUS", "1", "km"),
  c("GEOSEARCH", "e", "FROMLONLAT", "0", "x", "BYRADIUS", "1", "km"), c("GEOSEARCH", "e", "FROMLONLAT", "1e300", "-1e300", "BYRADIUS", "1", "km"), c("GEOSEARCH", "e", "FROMLONLAT", "-0", "-inf", "BYRADIUS", "1", "km"),
  c("GEOSEARCH", "e", "FROMLONLAT", "0", "0", "BYRADIUS", "x", "km"), c("GEOSEARCH", "e", "FROMLONLAT", "0", "0", "BYRADIUS", "-1", "km"), c("GEOSEARCH", "e", "FROMLONLAT", "0", "0", "BYRADIUS", "-1", "parsec"),
  c("GEOSEARCH", "e", "FROMLONLAT", "0", "0", "BYRADIUS", "1", "parsec"), c("GEOSEARCH", "e", "FROMLONLAT", "0", "0", "BYRADIUS", "nan", "km"), c("GEOSEARCH", "e", "FROMLONLAT", "0", "0", "BYRADIUS", "-inf", "km"),
  c("GEOSEARCH", "e", "FROMLONLAT", "0", "0", "BYBOX", "x", "1", "km"), c("GEOSEARCH", "e", "FROMLONLAT", "0", "0", "BYBOX", "1", "x", "km"), c("GEOSEARCH", "e", "FROMLONLAT", "0", "0", "BYBOX", "x", "x", "km"),
  c("GEOSEARCH", "e", "FROMLONLAT", "0", "0", "BYBOX", "-1", "1", "km"), c("GEOSEARCH", "e", "FROMLONLAT", "0", "0", "BYBOX", "1", "-1", "parsec"), c("GEOSEARCH", "e", "FROMLONLAT", "0", "0", "BYBOX", "1", "1", "parsec"),
  c("GEORADIUS", "e", "181", "0", "1", "km"), c("GEORADIUS", "e", "x", "0", "1", "km"), c("GEORADIUS", "e", "0", "0", "x", "km"), c("GEORADIUS", "e", "0", "0", "-1", "km"),
  c("GEORADIUS", "e", "0", "0", "1", "parsec"), c("GEORADIUS", "e", "0", "0", "1", "km", "FOO"), c("GEORADIUSBYMEMBER", "e", "a", "x", "km"), c("GEORADIUSBYMEMBER", "e", "a", "1", "parsec"),
  // COUNT and ANY
  c("GEOSEARCH", "e", "FROMLONLAT", "0", "0", "BYRADIUS", "1", "km", "COUNT", "0"), c("GEOSEARCH", "e", "FROMLONLAT", "0", "0", "BYRADIUS", "1", "km", "COUNT", "-1"),
  c("GEOSEARCH", "e", "FROMLONLAT", "0", "0", "BYRADIUS", "1", "km", "COUNT", "x"), c("GEOSEARCH", "e", "FROMLONLAT", "0", "0", "BYRADIUS", "1", "km", "COUNT", "1.5"),
  c("GEOSEARCH", "e", "FROMLONLAT", "0", "0", "BYRADIUS", "1", "km", "COUNT", "9223372036854775808"), c("GEOSEARCH", "e", "FROMLONLAT", "0", "0", "BYRADIUS", "1", "km", "ANY"),
  c("GEOSEARCH", "e", "FROMLONLAT", "0", "0", "BYRADIUS", "1", "km", "ANY", "ASC"), c("GEORADIUS", "e", "0", "0", "1", "km", "ANY"), c("GEORADIUS", "e", "0", "0", "1", "km", "COUNT", "0"),
  c("GEOSEARCH", "e", "FROMLONLAT", "0", "0", "COUNT", "0", "BYRADIUS", "x", "km"), c("GEOSEARCH", "e", "ANY", "FROMLONLAT", "0", "0"),
  // STORE with WITH..., and the order of the checks after the loop
  c("GEORADIUS", "e", "0", "0", "1", "km", "STORE", "x", "WITHDIST"), c("GEORADIUS", "e", "0", "0", "1", "km", "WITHHASH", "STOREDIST", "x"),
  c("GEORADIUSBYMEMBER", "e", "a", "1", "km", "WITHCOORD", "STORE", "x"), c("GEOSEARCHSTORE", "d", "e", "FROMLONLAT", "0", "0", "BYRADIUS", "1", "km", "WITHCOORD"),
  c("GEOSEARCHSTORE", "d", "e", "WITHDIST"), c("GEORADIUS", "e", "0", "0", "1", "km", "STORE", "x", "WITHDIST", "ANY"), c("GEOSEARCH", "e", "WITHDIST", "ANY"),
  c("GEORADIUS_RO", "e", "0", "0", "1", "km", "STORE", "x"), c("GEORADIUS_RO", "e", "0", "0", "1", "km", "STOREDIST", "x"), c("GEORADIUS", "e", "0", "0", "1", "km", "STORE"),
  c("GEORADIUS", "e", "0", "0", "1", "km", "FROMMEMBER", "a"), c("GEORADIUS", "e", "0", "0", "1", "km", "BYRADIUS", "1", "km"), c("GEORADIUS", "e", "0", "0", "1", "km", "storedist"),
  // arity
  c("GEOSEARCH", "e", "FROMLONLAT", "0", "0"), c("GEOSEARCH", "e", "FROMMEMBER", "a", "BYRADIUS", "1"), c("GEOSEARCHSTORE", "d", "e", "FROMMEMBER", "a", "BYRADIUS", "1"),
  c("GEORADIUS", "e", "0", "0", "1"), c("GEORADIUS_RO", "e", "0", "0", "1"), c("GEORADIUSBYMEMBER", "e", "a", "1"), c("GEORADIUSBYMEMBER_RO", "e", "a", "1"), c("GEODIST", "e", "a"),
  c("GEOHASH"), c("GEOADD", "e", "1", "1"), c("GEORADIUS", "e"), c("GEOSEARCHSTORE", "d"),
  c("DBSIZE"),
];

/** 200 random points (a third of them near the poles, a third near the antimeridian), searched from 150 random centres. */
function randomScript(): Case[] {
  // Seeded: the script is the same on every run.
  const random = seededRandom(0x9e0);
  const longitude = (): number => {
    const roll = random();
    return roll < 0.2 ? 180 - random() * 3 : roll < 0.35 ? -180 + random() * 3 : random() * 360 - 180;
  };
  const latitude = (): number => {
    const roll = random();
    return roll < 0.15 ? 85.05112878 - random() * 8 : roll < 0.3 ? -85.05112878 + random() * 8 : random() * 170.1 - 85.05;
  };
  const text = (value: number): string => String(Math.max(-180, Math.min(180, value)));
  const points: string[] = [];
  const placed: Array<[number, number]> = [];
  for (let i = 0; i < 200; i++) {
    const at: [number, number] = [Math.max(-180, Math.min(180, longitude())), Math.max(-85.05112878, Math.min(85.05112878, latitude()))];
    placed.push(at);
    points.push(String(at[0]), String(at[1]), `p${i}`);
  }
  const script: Case[] = [c("GEOADD", "random", ...points), c("ZCARD", "random")];
  const units = ["m", "km", "mi", "ft"] as const;
  const meters = { m: 1, km: 1000, mi: 1609.34, ft: 0.3048 };
  for (let i = 0; i < 150; i++) {
    const unit = units[i % 4] as (typeof units)[number];
    // Radii from 10 m to 10,000 km, as often small as large.
    const size = (10 ** (1 + random() * 6)) / meters[unit];
    // About the search's size, in degrees of latitude.
    const degrees = (size * meters[unit]) / 111_000;
    // From a member, from near one (within about the search's size: most then find something), or from anywhere.
    const near = placed[Math.floor(random() * 200)] as [number, number];
    const from =
      i % 3 === 0
        ? ["FROMMEMBER", `p${Math.floor(random() * 200)}`]
        : i % 3 === 1
          ? ["FROMLONLAT", text(near[0] + (random() - 0.5) * degrees), String(Math.max(-85.05, Math.min(85.05, near[1] + (random() - 0.5) * degrees)))]
          : ["FROMLONLAT", text(longitude()), String(Math.max(-85.05, Math.min(85.05, latitude())))];
    const by = i % 2 === 0 ? ["BYRADIUS", size.toPrecision(6), unit] : ["BYBOX", size.toPrecision(6), (size * (0.2 + random() * 2)).toPrecision(6), unit];
    const options = i % 5 === 0 ? ["DESC", "WITHHASH", "COUNT", "5"] : i % 5 === 1 ? ["ASC", "WITHCOORD"] : ["ASC", "WITHDIST"];
    script.push(c("GEOSEARCH", "random", ...from, ...by, ...options), sorted("GEOSEARCH", "random", ...from, ...by));
    if (i % 10 === 0) script.push(c("GEOSEARCHSTORE", "stored", "random", ...from, ...by, "STOREDIST"), c("ZRANGE", "stored", "0", "-1"));
  }
  script.push(c("GEOHASH", "random", ...Array.from({ length: 200 }, (_, i) => `p${i}`)), c("GEOPOS", "random", ...Array.from({ length: 200 }, (_, i) => `p${i}`)));
  return script;
}

/**
 * Points at equal distances (a ring around a centre, and copies of one position): ties, sorted
 * by glibc's qsort (stable) in full, and by Redis's pqsort under COUNT, compared exactly; and the
 * unsorted forms, in Redis's cell order, compared exactly. Both are Redis's behaviour, not its
 * promise (see the file comment).
 */
const cellOrder: Case[] = [
  c("GEOADD", "ties", "10", "10", "t0", "10", "10", "t1", "10", "10", "t2", "10", "10", "t3", "10", "10", "t4", "10", "10", "t5", "10", "10", "t6", "10", "10", "t7"),
  c("GEOADD", "ties", "10.01", "10", "e", "9.99", "10", "w", "10", "10.01", "n", "10", "9.99", "s", "10.001", "10", "e1", "9.999", "10", "w1"),
  c("GEOADD", "ties", ...Array.from({ length: 50 }, (_, i) => ["10.5", "10.5", `q${i}`]).flat(), ...Array.from({ length: 30 }, (_, i) => ["10.2", "10.2", `r${i}`]).flat()),
  c("GEOSEARCH", "ties", "FROMLONLAT", "10", "10", "BYRADIUS", "5", "km", "ASC", "WITHDIST"), c("GEOSEARCH", "ties", "FROMLONLAT", "10", "10", "BYRADIUS", "5", "km", "DESC"),
  c("GEOSEARCH", "ties", "FROMLONLAT", "10", "10", "BYRADIUS", "100", "km", "ASC"), c("GEOSEARCH", "ties", "FROMLONLAT", "10", "10", "BYRADIUS", "100", "km", "DESC"),
  c("GEOSEARCH", "ties", "FROMLONLAT", "10", "10", "BYRADIUS", "100", "km", "COUNT", "20"), c("GEOSEARCH", "ties", "FROMLONLAT", "10", "10", "BYRADIUS", "100", "km", "COUNT", "60", "DESC"),
  c("GEOSEARCH", "ties", "FROMLONLAT", "10", "10", "BYRADIUS", "100", "km", "COUNT", "45"), c("GEOSEARCH", "ties", "FROMLONLAT", "10.5", "10.5", "BYRADIUS", "100", "km", "COUNT", "7"),
  c("GEOSEARCH", "ties", "FROMLONLAT", "10.5", "10.5", "BYRADIUS", "100", "km", "COUNT", "55", "DESC"), c("GEOSEARCH", "ties", "FROMLONLAT", "10", "10", "BYRADIUS", "100", "km", "COUNT", "3", "ANY"),
  c("GEOSEARCH", "ties", "FROMLONLAT", "10", "10", "BYRADIUS", "100", "km"), c("GEOSEARCH", "ties", "FROMLONLAT", "10", "10", "BYBOX", "300", "300", "km", "WITHDIST"),
  c("GEOSEARCH", "ties", "FROMMEMBER", "t0", "BYRADIUS", "2", "km"), c("GEOSEARCHSTORE", "tied", "ties", "FROMMEMBER", "t0", "BYRADIUS", "100", "km", "COUNT", "30", "STOREDIST"),
  c("ZRANGE", "tied", "0", "-1"),
  c("GEOADD", "world", ...allCities), c("GEOSEARCH", "world", "FROMLONLAT", "0", "0", "BYRADIUS", "20000", "km"), c("GEOSEARCH", "world", "FROMMEMBER", "Paris", "BYRADIUS", "2000", "km"),
  c("GEOSEARCH", "world", "FROMMEMBER", "Suva", "BYRADIUS", "3000", "km"), c("GEOSEARCH", "world", "FROMLONLAT", "180", "0", "BYRADIUS", "20000", "km", "COUNT", "3", "ANY"),
  c("GEORADIUS", "world", "0", "0", "20000", "km", "COUNT", "4", "ANY", "WITHDIST"),
];

/** STOREDIST writes: the distances stored are compared as doubles (see the test). */
const storeDistWrites: string[][] = [
  ["GEOSEARCHSTORE", "d", "world", "FROMMEMBER", "Paris", "BYRADIUS", "2000", "km", "STOREDIST"],
  ["GEOSEARCHSTORE", "d", "world", "FROMMEMBER", "Paris", "BYRADIUS", "2000", "mi", "STOREDIST", "COUNT", "2", "DESC"],
  ["GEOSEARCHSTORE", "d", "world", "FROMLONLAT", "0", "0", "BYRADIUS", "30000", "km", "STOREDIST"],
  ["GEOSEARCHSTORE", "d", "world", "FROMLONLAT", "179", "-20", "BYBOX", "8000", "3000", "ft", "STOREDIST", "ASC", "COUNT", "5"],
  ["GEORADIUS", "world", "15", "37", "2000", "km", "STOREDIST", "d", "ASC", "COUNT", "3"],
  ["GEORADIUS", "world", "15", "37", "2000", "m", "STORE", "x", "STOREDIST", "d"],
  ["GEORADIUSBYMEMBER", "world", "Palermo", "3000", "mi", "STOREDIST", "d", "DESC"],
  ["GEORADIUSBYMEMBER", "world", "Alert", "20000", "km", "STOREDIST", "d"],
  ["GEOSEARCHSTORE", "d", "random", "FROMMEMBER", "p7", "BYRADIUS", "3000", "km", "STOREDIST"],
  ["GEOSEARCHSTORE", "d", "random", "FROMLONLAT", "-179.5", "80", "BYBOX", "5000", "2000", "km", "STOREDIST"],
];

describe("the geospatial commands answer as redis-server does", () => {
  diffTests(servers, "GEOADD, GEOPOS, GEODIST, GEOHASH", basics);
  diffTests(servers, "scores no GEOADD gives", oddScores);
  diffTests(servers, "searches over cities", searches);
  diffTests(servers, "errors", errors);
  diffTests(servers, "random points and searches", randomScript());
  diffTests(servers, "ties and cell order, exactly", cellOrder);

  // Redis 7.0 prints a stored score with %.17g, the clone with the shortest digits that read back
  // as the same double (as Redis 7.2 does): the stored distances are compared as numbers.
  test("STOREDIST stores the distances redis-server stores, double for double", async () => {
    const stored = async (port: number): Promise<unknown[]> => {
      await callPort(port, "FLUSHALL");
      await callPort(port, "GEOADD", "world", ...allCities);
      await callPort(port, ...((randomScript()[0] as Case).args as string[]));
      const results: unknown[] = [];
      for (const write of storeDistWrites) {
        results.push(await callPort(port, ...write));
        const flat = (await callPort(port, "ZRANGE", "d", "0", "-1", "WITHSCORES")) as string[];
        results.push(flat.map((item, i) => (i % 2 === 1 ? Number(item) : item)));
      }
      return results;
    };
    const expected = await stored(servers.redisPort);
    expect(expected.flat().length).toBeGreaterThan(60);
    expect(await stored(servers.clonePort)).toEqual(expected);
  });
});

describe("a 3-node cluster", () => {
  const cluster = new InProcessNodes("geo");

  test("applies GEOADD and the STORE forms alike on every node (DEBUG DIGEST)", async () => {
    const first = await cluster.openCluster([new Clone(), new Clone(), new Clone()], { logLevel: "warning", consistency: "low" });
    const writes: string[][] = [
      ["GEOADD", "world", ...allCities],
      ["GEOADD", "world", "CH", "2.35", "48.85", "Paris", "0", "0", "Null"],
      ["GEOSEARCHSTORE", "near", "world", "FROMMEMBER", "Paris", "BYRADIUS", "2000", "km", "STOREDIST"],
      ["GEOSEARCHSTORE", "far", "world", "FROMLONLAT", "180", "0", "BYBOX", "20000", "8000", "km", "COUNT", "4", "DESC"],
      ["GEORADIUS", "world", "15", "37", "3000", "km", "STORE", "sicily"],
      ["GEORADIUSBYMEMBER", "world", "Tokyo", "9000", "km", "STOREDIST", "tokyo", "ASC", "COUNT", "5"],
      ["GEOSEARCHSTORE", "gone", "world", "FROMLONLAT", "0", "0", "BYRADIUS", "1", "m"],
      ["GEOADD", "world", "XX", "139.7", "35.7", "Tokyo", "1", "1", "NotAdded"],
    ];
    await writeEach(first.port, writes);
    const ports = cluster.nodes.map((node: FinnNode) => node.port);
    await awaitSameDigest(ports);
    for (const port of ports) {
      expect(await callPort(port, "ZRANGE", "near", "0", "-1", "WITHSCORES")).toEqual(await callPort(first.port, "ZRANGE", "near", "0", "-1", "WITHSCORES"));
    }
    expect(await callPort(first.port, "ZCARD", "tokyo")).toBe(5);
  });
});
