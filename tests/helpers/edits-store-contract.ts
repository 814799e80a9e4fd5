/**
 * The EditsStore contract, run against every backend: `runEditsStoreContract("sqlite", () => …)`.
 * Each case gets a fresh store (the factory opens the broker's Store; the edits store sits beside it).
 */
import { afterEach, describe, expect, test } from "bun:test";
import type { ClaimRow, EditsStore, TouchRow } from "../../shared/store/edits.ts";
import { editsStoreFor } from "../../shared/store/open-edits.ts";
import type { Store } from "../../shared/store/store.ts";

const REPO = "github.com/acme/app";
const touch = (over: Partial<TouchRow> = {}): TouchRow => ({ repo_key: REPO, path: "src/auth.ts", peer_id: "p-aaaaaaaaaa", lines: "10-42", at: 1000, ...over });
const claim = (over: Partial<ClaimRow> = {}): ClaimRow => ({
  repo_key: REPO,
  pattern: "src/auth/**",
  peer_id: "p-aaaaaaaaaa",
  ttl_ms: 600_000,
  created_at: 1000,
  expires_at: 601_000,
  ...over,
});

export function runEditsStoreContract(name: string, open: () => Store | Promise<Store>): void {
  describe(`EditsStore contract: ${name}`, () => {
    let store: Store | undefined;
    afterEach(async () => {
      await store?.close();
      store = undefined;
    });
    const edits = async (): Promise<EditsStore> => editsStoreFor((store = await open()));

    test("one touch per session and file: the latest edit's lines and time", async () => {
      const e = await edits();
      await e.touch(touch());
      await e.touch(touch({ lines: "50-51", at: 2000 }));
      await e.touch(touch({ peer_id: "p-bbbbbbbbbb", lines: null, at: 1500 }));
      await e.touch(touch({ path: "src/other.ts", at: 3000 }));
      await e.touch(touch({ repo_key: "root:abc", at: 3000 }));
      expect(await e.touchesOf(REPO, "src/auth.ts", 0)).toEqual([touch({ lines: "50-51", at: 2000 }), touch({ peer_id: "p-bbbbbbbbbb", lines: null, at: 1500 })]);
      expect(await e.touchesOf(REPO, "src/auth.ts", 1600)).toEqual([touch({ lines: "50-51", at: 2000 })]);
    });

    test("claims hold until they expire, are renewed by a new claim or the session's edits, and end on release", async () => {
      const e = await edits();
      await e.claim([claim(), claim({ pattern: "docs/*.md" }), claim({ peer_id: "p-bbbbbbbbbb", pattern: "web/**", expires_at: 5000 })]);
      expect((await e.claimsIn(REPO, 4000)).map((c) => c.pattern)).toEqual(["docs/*.md", "src/auth/**", "web/**"]);
      expect((await e.claimsIn(REPO, 5000)).map((c) => c.pattern)).toEqual(["docs/*.md", "src/auth/**"]);
      expect(await e.claimsIn("root:abc", 0)).toEqual([]);
      await e.renew("p-aaaaaaaaaa", REPO, 100_000);
      expect((await e.claimsIn(REPO, 100_000)).map((c) => c.expires_at)).toEqual([700_000, 700_000]);
      await e.claim([claim({ ttl_ms: 60_000, expires_at: 200_000 })]); // claimed again: the new lifetime
      expect((await e.claimsIn(REPO, 100_000)).find((c) => c.pattern === "src/auth/**")?.expires_at).toBe(200_000);
      expect(await e.release("p-aaaaaaaaaa", ["docs/*.md", "nope"])).toBe(1);
      expect(await e.release("p-aaaaaaaaaa")).toBe(1);
      expect(await e.claimsIn(REPO, 0)).toEqual([claim({ peer_id: "p-bbbbbbbbbb", pattern: "web/**", expires_at: 5000 })]);
    });

    test("recent: touches since and claims holding, of the sessions asked for; prune drops the rest", async () => {
      const e = await edits();
      await e.touch(touch());
      await e.touch(touch({ peer_id: "p-bbbbbbbbbb", path: "x.ts", at: 5000 }));
      await e.claim([claim({ peer_id: "p-bbbbbbbbbb", expires_at: 9000 })]);
      expect(await e.recent(2000, 0)).toEqual({ touches: [touch({ peer_id: "p-bbbbbbbbbb", path: "x.ts", at: 5000 })], claims: [claim({ peer_id: "p-bbbbbbbbbb", expires_at: 9000 })] });
      expect(await e.recent(0, 0, ["p-aaaaaaaaaa"])).toEqual({ touches: [touch()], claims: [] });
      expect(await e.prune(7000, 9000)).toBe(2);
      expect(await e.recent(0, 0)).toEqual({ touches: [touch({ peer_id: "p-bbbbbbbbbb", path: "x.ts", at: 5000 })], claims: [] });
    });
  });
}
