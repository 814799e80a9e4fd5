/**
 * How a store is named where people and other processes see it (logs, /health, /status, errors):
 * a SQLite file by its path, a PostgreSQL URL with its password hidden. Zod-free and SQL-free, so
 * the server and the CLI compare a broker's store with their own without loading a driver.
 */

/** The URL with its password (user info or ?password=) replaced by "***". */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = "***";
    if (parsed.searchParams.has("password")) parsed.searchParams.set("password", "***");
    return parsed.toString();
  } catch {
    return url.replace(/\/\/([^/@:]*):[^@]*@/, "//$1:***@"); // unparseable: hide what sits between "user:" and "@"
  }
}

/** The store a config names, as its broker's /health and /status name it (`Store.location`). */
export function storeLocation(config: { db: string; shared: boolean }): string {
  return config.shared ? redactUrl(config.db) : config.db;
}
