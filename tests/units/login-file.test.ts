/** The dashboard's one-time login page: private while it exists, gone once read or after its bound. */
import { expect, test } from "bun:test";
import { existsSync, readFileSync, statSync } from "node:fs";
import { dirname } from "node:path";
import { writeLoginFile } from "../../shared/cli/login-file.ts";

const URL = "http://127.0.0.1:7899/login?code=abc_DEF-123";

test("the page is 0600 in a 0700 folder of its own, and leads to the URL", () => {
  const login = writeLoginFile(URL);
  try {
    expect(statSync(login.path).mode & 0o777).toBe(0o600);
    expect(statSync(dirname(login.path)).mode & 0o777).toBe(0o700);
    expect(readFileSync(login.path, "utf8")).toContain(`url=${URL}"`);
  } finally {
    login.remove();
  }
});

test("once a browser has read it, spend removes the page and its folder", async () => {
  const login = writeLoginFile(URL);
  Bun.spawnSync(["cat", login.path]); // another process reads it, as a browser does
  expect(await login.spend(60_000)).toBe(true);
  expect(existsSync(dirname(login.path))).toBe(false);
});

test("never read (no browser came): spend removes it all the same once its bound passes", async () => {
  const login = writeLoginFile(URL);
  expect(await login.spend(0)).toBe(false);
  expect(existsSync(dirname(login.path))).toBe(false);
});
