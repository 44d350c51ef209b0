export {};
/**
 * `npm run bench`: the side-by-side comparison of the clone with real redis-server
 * (see bench/redis-compare.ts for its flags, which this passes through).
 */
await import("./redis-compare.ts");
