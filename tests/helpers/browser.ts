/**
 * A real Chromium (Debian's, /usr/bin/chromium, or CHROMIUM_PATH) driven by playwright-core. Each
 * browser gets a fresh empty profile from playwright and is killed by pid when closed. The flags keep it off the
 * network it would otherwise try at every start (this machine has none).
 */
import { existsSync } from "node:fs";
import { chromium, type Browser } from "playwright-core";
import { killAndConfirm } from "./wait.ts";

/** playwright-core lives in the test tools (tests/node_modules): bench/ and docs/ take its types from here. */
export type { BrowserContext, Page } from "playwright-core";

export const CHROMIUM = process.env.CHROMIUM_PATH ?? ["/usr/bin/chromium", "/usr/bin/chromium-browser"].find((p) => existsSync(p)) ?? null;

export interface TestBrowser {
  browser: Browser;
  pid: number;
  close(): Promise<void>;
}

export async function launchBrowser(): Promise<TestBrowser> {
  if (!CHROMIUM) throw new Error("no Chromium: install Debian's chromium (apt-get install chromium) or set CHROMIUM_PATH");
  const server = await chromium.launchServer({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--disable-dev-shm-usage",
    ],
  });
  const pid = server.process().pid!;
  const browser = await chromium.connect(server.wsEndpoint());
  return {
    browser,
    pid,
    async close() {
      await browser.close().catch(() => {});
      await server.close().catch(() => {});
      await killAndConfirm(pid, "SIGKILL");
    },
  };
}
