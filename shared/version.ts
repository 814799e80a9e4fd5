/** The package version, reported by /health and the CLI. */
import pkg from "../package.json" with { type: "json" };

export const VERSION: string = pkg.version;
