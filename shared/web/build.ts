/**
 * The console page, bundled by Bun from index.html on its first request (never at broker start,
 * which must stay fast) and then kept in memory. The page and its libraries are local files: it
 * works with no network.
 */
import { join } from "node:path";

export interface Asset {
  body: Uint8Array;
  type: string;
}

/** Where the bundle's scripts and styles are served; the page itself is served at /. */
export const ASSET_PREFIX = "/console/assets/";

let built: Promise<Map<string, Asset>> | undefined;

/** Path → file of the built page: "/" for the HTML, ASSET_PREFIX + name for the rest. */
export function consoleAssets(): Promise<Map<string, Asset>> {
  built ??= build();
  built.catch(() => (built = undefined)); // a failed build is tried again on the next request
  return built;
}

async function build(): Promise<Map<string, Asset>> {
  const result = await Bun.build({ entrypoints: [join(import.meta.dir, "index.html")], target: "browser", minify: true, publicPath: ASSET_PREFIX });
  if (!result.success) throw new Error(`the console page did not build: ${result.logs.map(String).join("; ")}`);
  const assets = new Map<string, Asset>();
  for (const out of result.outputs) {
    const name = out.path.replace(/^\.\//, "");
    const path = name.endsWith(".html") ? "/" : ASSET_PREFIX + name;
    assets.set(path, { body: new Uint8Array(await out.arrayBuffer()), type: out.type });
  }
  return assets;
}
