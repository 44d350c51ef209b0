/**
 * Builds one self-contained executable from a Bun entry point, `bun build --compile` style:
 *
 *     bun run src/build.ts [entry] [outfile]      (defaults: src/clone.ts, dist/finn-clone)
 *
 * A plain `bun build --compile` embeds lmdb's JavaScript but not its native addon: lmdb (and
 * msgpackr's optional accelerator, msgpackr-extract) find their `.node` file at run time with
 * node-gyp-build-optional-packages, which searches `node_modules` on disk, and there is none
 * next to a compiled binary. Bun embeds a `.node` file only when code requires it by a static
 * path, so the plugin below rewrites each of those loaders, at build time, into
 * `require("<absolute path of the addon>")`. The addon is chosen by the same loader that lmdb
 * uses when it runs under Bun, so it is the N-API build for this host's platform, CPU and libc.
 * The build is for the host only: a cross-compiled binary would need the other platform's
 * addon package, which npm does not install here.
 */
import { createRequire } from "node:module";
import { dirname, join, relative, resolve } from "node:path";
import { mkdirSync, rmSync, statSync } from "node:fs";
import type { BunPlugin, PluginBuilder } from "bun";

/** The entry compiled when no entry is given on the command line. */
export const defaultEntry = "src/clone.ts";
/** The executable written when no output path is given on the command line. */
export const defaultOutfile = "dist/finn-clone";

/** What one build produced. */
export interface BuildResult {
  /** Absolute path of the executable. */
  outfile: string;
  /** Size of the executable in bytes. */
  sizeBytes: number;
  /** The native addons embedded in the executable, as absolute source paths. */
  addons: string[];
}

/** A build that cannot produce a working binary; its message says what to do. */
export class BuildError extends Error {
  override name = "BuildError";
}

/** The part of node-gyp-build-optional-packages that picks an addon file for a package dir. */
interface AddonResolver {
  resolve(packageDirectory: string): string;
}

/**
 * One rewrite of a dependency's source. `search` must occur exactly once, so that a new
 * version of the dependency that loads its addon differently fails the build loudly instead of
 * producing a binary that fails at run time.
 */
interface Rewrite {
  /** Which file, matched against its absolute path with `/` separators. */
  file: RegExp;
  /** The exact text to replace, or a pattern for it (with the `g` flag, to count matches). */
  search: string | RegExp;
  /** The replacement; `addon()` resolves and records the package's native addon. */
  replace: (packageDirectory: string, addon: () => string) => string;
  /** The package directory, from the file's absolute path. */
  packageDirectory: (file: string) => string;
}

const projectRequire = createRequire(import.meta.url);

/** Import specifiers with this prefix name a file to embed; they evaluate to its path. */
const embeddedFilePrefix = "embedded-file:";

/** An expression that evaluates, in the binary, to the path of the embedded copy of `file`. */
function embeddedFileExpression(file: string): string {
  return `require(${JSON.stringify(embeddedFilePrefix + file)})`;
}

/**
 * An expression that loads LMDB's addon embedded in the binary. Bun writes an embedded addon to
 * `$TMPDIR` (or /tmp) before it can load it; where that fails, the binary says so and stops,
 * rather than die with a stack trace from inside lmdb's module.
 */
function lmdbAddonExpression(addon: string): string {
  const advice = "Cannot load LMDB's native addon embedded in this executable: it is written to $TMPDIR (or /tmp) first. Set TMPDIR to a writable directory.";
  return (
    `(() => { try { return require(${JSON.stringify(addon)}); } catch (error) { ` +
    `process.stderr.write(${JSON.stringify(advice)} + " (" + (error && error.message ? error.message : String(error)) + ")\\n"); process.exit(1); } })()`
  );
}

const rewrites: Rewrite[] = [
  // lmdb's ES module entry (Bun resolves `lmdb` through the "node" export condition).
  {
    file: /\/node_modules\/lmdb\/native\.js$/,
    search: "import loadNAPI from 'node-gyp-build-optional-packages';",
    replace: () => "",
    packageDirectory: (file) => dirname(file),
  },
  {
    file: /\/node_modules\/lmdb\/native\.js$/,
    search: "export let nativeAddon = loadNAPI(dirName);",
    replace: (_, addon) => `export let nativeAddon = ${lmdbAddonExpression(addon())};`,
    packageDirectory: (file) => dirname(file),
  },
  // lmdb reads its compression dictionary from disk, next to its own source file, when
  // compression is turned on; embed the file (5 KB) so that `compression` works in the binary.
  // (In the CommonJS build `__filename` is the build machine's path, which would work here
  // and fail on any other machine.)
  {
    file: /\/node_modules\/lmdb\/(open\.js|dist\/index\.cjs)$/,
    search: /new URL\(\s*'\.\/dict\/dict\.txt',\s*\n[^\n]*\n\s*\)/g,
    replace: (packageDirectory) => embeddedFileExpression(join(packageDirectory, "dict", "dict.txt")),
    packageDirectory: (file) => file.replace(/\/dist\/index\.cjs$|\/open\.js$/, ""),
  },
  // lmdb's CommonJS entry, used if anything in the bundle does `require("lmdb")`.
  {
    file: /\/node_modules\/lmdb\/dist\/index\.cjs$/,
    search: "let nativeAddon = loadNAPI__default[\"default\"](dirName);",
    replace: (_, addon) => `let nativeAddon = ${lmdbAddonExpression(addon())};`,
    packageDirectory: (file) => dirname(dirname(file)),
  },
  {
    file: /\/node_modules\/lmdb\/dist\/index\.cjs$/,
    search: "var loadNAPI = require('node-gyp-build-optional-packages');",
    replace: () => "var loadNAPI = undefined;",
    packageDirectory: (file) => dirname(dirname(file)),
  },
  // msgpackr's optional accelerator; msgpackr falls back to plain JavaScript without it, but
  // it is small (17 KB) and makes decoding strings faster, so embed it as well.
  {
    file: /\/node_modules\/msgpackr-extract\/index\.js$/,
    search: "module.exports = require('node-gyp-build-optional-packages')(__dirname);",
    replace: (_, addon) => `module.exports = require(${JSON.stringify(addon())});`,
    packageDirectory: (file) => dirname(file),
  },
];

/**
 * Picks the addon that node-gyp-build-optional-packages would load under Bun for the package
 * in `packageDirectory` (Bun reports no Node ABI, so that is the N-API build), or explains which
 * platform has no prebuilt addon.
 */
function resolveAddon(packageDirectory: string): string {
  // The loader honours these settings; an addon for another platform or C library would not
  // load in an executable that embeds this host's Bun.
  const hostSettings: ReadonlyArray<readonly [string, string | null]> = [
    ["npm_config_platform", process.platform],
    ["npm_config_arch", process.arch],
    ["LIBC", null],
  ];
  for (const [variable, host] of hostSettings) {
    const value = process.env[variable];
    if (value !== undefined && value !== host) {
      throw new BuildError(
        `${variable}=${value} asks for an addon for another platform; build.ts builds for the ` +
          `host (${process.platform}-${process.arch}) only: unset it`,
      );
    }
  }
  const loaderPath = projectRequire.resolve("node-gyp-build-optional-packages", {
    paths: [packageDirectory],
  });
  const loader = projectRequire(loaderPath) as AddonResolver;
  try {
    return loader.resolve(packageDirectory);
  } catch (error) {
    const reason = error instanceof Error ? error.message.trim() : String(error);
    throw new BuildError(
      `no prebuilt native addon of ${packageDirectory} for ${process.platform}-${process.arch}: ` +
        `this platform is not supported by build.ts (install the dependency's platform package or ` +
        `build it from source).\n${reason}`,
    );
  }
}

/** Where `search` occurs in `source`, if it occurs exactly once. */
function findOnce(source: string, search: string | RegExp): { index: number; length: number } | null {
  if (typeof search === "string") {
    const index = source.indexOf(search);
    if (index < 0 || source.indexOf(search, index + 1) >= 0) return null;
    return { index, length: search.length };
  }
  const matches = [...source.matchAll(search)];
  const [match] = matches;
  if (matches.length !== 1 || match === undefined) return null;
  return { index: match.index, length: match[0].length };
}

/**
 * The Bun plugin that turns the run-time addon searches of lmdb and msgpackr-extract into
 * static requires, so that `--compile` embeds the addons. `addons` collects the embedded files.
 */
export function nativeAddonPlugin(addons: Set<string>): BunPlugin {
  return {
    name: "embed-native-addons",
    setup(build: PluginBuilder) {
      build.onLoad({ filter: /[\\/]node_modules[\\/](lmdb|msgpackr-extract)[\\/].*\.c?js$/ }, async (args) => {
        const file = args.path.replaceAll("\\", "/");
        const applicable = rewrites.filter((rewrite) => rewrite.file.test(file));
        if (applicable.length === 0) return undefined;
        let source = await Bun.file(args.path).text();
        for (const rewrite of applicable) {
          const found = findOnce(source, rewrite.search);
          if (found === null) {
            throw new BuildError(
              `${args.path} no longer contains exactly one ${String(rewrite.search)}: the ` +
                `dependency changed how it loads its native files; update the rewrites in build.ts.`,
            );
          }
          const packageDirectory = rewrite.packageDirectory(file);
          const addon = (): string => {
            const path = resolveAddon(packageDirectory);
            addons.add(path);
            return path;
          };
          source = source.slice(0, found.index) + rewrite.replace(packageDirectory, addon) +
            source.slice(found.index + found.length);
        }
        return { contents: source, loader: "js" };
      });
      // `require("embedded-file:/abs/path")` evaluates to the path of the file's copy embedded
      // in the binary (Bun's "file" loader, as with `import path from "…" with { type: "file" }`).
      build.onResolve({ filter: /^embedded-file:/ }, (args) => ({
        path: args.path.slice(embeddedFilePrefix.length),
        namespace: "embedded-file",
      }));
      build.onLoad({ filter: /.*/, namespace: "embedded-file" }, async (args) => ({
        contents: await Bun.file(args.path).bytes(),
        loader: "file",
      }));
      // Anything else that searches the disk for its addon would fail only at run time.
      build.onResolve({ filter: /^node-gyp-build(-optional-packages)?$/ }, (args) => {
        throw new BuildError(
          `${args.importer} loads a native addon through ${args.path}, which searches ` +
            `node_modules at run time and fails inside a compiled binary; add a rewrite for it ` +
            `to build.ts.`,
        );
      });
    },
  };
}

/** Compiles `entry` into the executable `outfile`, for the host platform. */
export async function build(entry: string, outfile: string): Promise<BuildResult> {
  const entryPath = resolve(entry);
  const outfilePath = resolve(outfile);
  try {
    statSync(entryPath);
  } catch {
    throw new BuildError(`entry ${entryPath} does not exist`);
  }
  mkdirSync(dirname(outfilePath), { recursive: true });
  const addons = new Set<string>();
  const result = await Bun.build({
    entrypoints: [entryPath],
    target: "bun",
    // Minifying is safe for lmdb and msgpackr (neither depends on the names of its own
    // functions); names are kept anyway so that errors and logs name their classes.
    minify: { whitespace: true, syntax: true, identifiers: true, keepNames: true },
    // The source map is embedded in the executable, so stack traces name the TypeScript source;
    // the separate `.map` file Bun also writes is removed below to leave one file.
    sourcemap: "linked",
    plugins: [nativeAddonPlugin(addons)],
    compile: {
      outfile: outfilePath,
      // A server binary behaves the same wherever it is started: it does not pick up a
      // `.env` or `bunfig.toml` from the directory it runs in.
      autoloadDotenv: false,
      autoloadBunfig: false,
    },
    throw: false,
  });
  if (!result.success) {
    const messages = result.logs.map((log) => String(log)).join("\n");
    throw new BuildError(`bun build --compile of ${entryPath} failed:\n${messages}`);
  }
  for (const output of result.outputs) {
    if (output.kind === "sourcemap") rmSync(output.path, { force: true });
  }
  const sizeBytes = statSync(outfilePath).size;
  return { outfile: outfilePath, sizeBytes, addons: [...addons].sort() };
}

function formatMegabytes(bytes: number): string {
  return `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
}

async function main(): Promise<number> {
  const [entry = defaultEntry, outfile = defaultOutfile, ...extra] = process.argv.slice(2);
  if (extra.length > 0) {
    console.error("usage: bun run src/build.ts [entry] [outfile]");
    return 2;
  }
  try {
    const result = await build(entry, outfile);
    const shown = relative(process.cwd(), result.outfile) || result.outfile;
    console.log(
      `${shown} ${formatMegabytes(result.sizeBytes)} (${result.sizeBytes} bytes, ` +
        `bun-${process.platform}-${process.arch})`,
    );
    for (const addon of result.addons) console.log(`  embedded ${relative(process.cwd(), addon)}`);
    return 0;
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    console.error(`build failed: ${message}`);
    return 1;
  }
}

if (import.meta.main) process.exit(await main());
