/** The broker's request guards on constructed Requests: Host, Origin, token, JSON and size. */
import type { BodyInit } from "bun";
import { describe, expect, test } from "bun:test";
import { z } from "zod";
import { MAX_BODY_BYTES, assertLocalHost, assertNoOrigin, assertToken, readJson } from "../../shared/broker/guard.ts";
import { WireError } from "../../shared/errors.ts";
import { thrown } from "../helpers/wait.ts";

describe("request guards", () => {
  const request = (headers: Record<string, string>, body?: BodyInit) =>
    new Request("http://127.0.0.1:7899/send", { method: "POST", headers, ...(body === undefined ? {} : { body }) });

  async function wireError(fn: () => unknown): Promise<WireError> {
    const err = await thrown(fn);
    expect(err).toBeInstanceOf(WireError);
    return err as WireError;
  }

  describe("assertLocalHost and assertNoOrigin", () => {
    test.each(["127.0.0.1", "127.0.0.1:7899", "localhost", "localhost:7899", "LocalHost:7899", "[::1]", "[::1]:7899"])("Host %p passes", (host) => {
      expect(() => assertLocalHost(request({ host }))).not.toThrow();
    });

    test.each([
      ["evil.example", /Host "evil.example"/],
      ["evil.example:7899", /Host/],
      ["localhost.evil.example", /Host/],
      ["127.0.0.1.evil.example:7899", /Host/],
      ["127.0.0.2", /Host/],
      ["0.0.0.0:7899", /Host/],
      ["::1", /Host/],
      ["localhost:", /Host/],
      ["127.0.0.1:7899:80", /Host/],
    ])("Host %p is 403", async (host, mentions) => {
      const err = await wireError(() => assertLocalHost(request({ host })));
      expect([err.status, err.code]).toEqual([403, "forbidden"]);
      expect(err.message).toMatch(mentions);
    });

    test("no Host is 403", async () => {
      expect((await wireError(() => assertLocalHost(request({})))).status).toBe(403);
    });

    test.each(["https://evil.example", "null", "http://127.0.0.1:7899"])("an Origin (%p) is 403 even with a loopback Host", async (origin) => {
      const err = await wireError(() => assertNoOrigin(request({ host: "127.0.0.1:7899", origin })));
      expect(err.status).toBe(403);
      expect(err.message).toContain("Origin");
    });
  });

  describe("assertToken", () => {
    const TOKEN = "tok_0123456789abcdefghijklmnopqrstuvwxyz";

    test.each([`Bearer ${TOKEN}`, `bearer ${TOKEN}`, `BEARER   ${TOKEN}`])("%p passes", (authorization) => {
      expect(() => assertToken(request({ authorization }), TOKEN)).not.toThrow();
    });

    test.each([
      ["no header", undefined, /missing Authorization/],
      ["an empty header", "", /missing Authorization/],
      ["no scheme", TOKEN, /missing Authorization/],
      ["another scheme", `Basic ${TOKEN}`, /missing Authorization/],
      ["a bare Bearer", "Bearer", /missing Authorization/],
      ["two tokens", `Bearer ${TOKEN} ${TOKEN}`, /missing Authorization/],
      ["a wrong token", "Bearer tok_wrong", /wrong token/],
      ["the token with a suffix", `Bearer ${TOKEN}x`, /wrong token/],
      ["a prefix of the token", `Bearer ${TOKEN.slice(0, -1)}`, /wrong token/],
    ])("%s is 401", async (_, authorization, mentions) => {
      const err = await wireError(() => assertToken(request(authorization === undefined ? {} : { authorization }), TOKEN));
      expect([err.status, err.code]).toEqual([401, "unauthorized"]);
      expect(err.message).toMatch(mentions);
    });
  });

  describe("readJson", () => {
    const Schema = z.object({ to: z.string().min(1), count: z.number().int().default(1) });
    const json = (body: BodyInit, type = "application/json") => request({ "content-type": type }, body);

    test.each(["application/json", "application/json; charset=utf-8", "Application/JSON", "application/json ;charset=utf-8"])("Content-Type %p is read", async (type) => {
      expect(await readJson(json('{"to":"bob"}', type), Schema)).toEqual({ to: "bob", count: 1 });
    });

    test.each(["text/plain", "text/plain;charset=UTF-8", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/jsonp", "application/json-seq", ""])(
      "Content-Type %p is 415",
      async (type) => {
        const err = await wireError(() => readJson(type ? json('{"to":"bob"}', type) : request({}, new Uint8Array(Buffer.from('{"to":"bob"}'))), Schema));
        expect([err.status, err.code]).toEqual([415, "unsupported_media_type"]);
        expect(err.message).toContain("application/json");
      },
    );

    test("an empty body is an empty object, so defaults apply and required fields are named", async () => {
      const err = await wireError(() => readJson(json(""), Schema));
      expect(err.message).toMatch(/^to: /);
      expect(await readJson(json(""), z.object({ mark_read: z.boolean().default(false) }))).toEqual({ mark_read: false });
    });

    test.each<[string, BodyInit, RegExp]>([
      ["truncated JSON", '{"to":', /not valid UTF-8 JSON/],
      ["a trailing comma", '{"to":"bob",}', /not valid UTF-8 JSON/],
      ["single quotes", "{'to':'bob'}", /not valid UTF-8 JSON/],
      ["invalid UTF-8", new Uint8Array([0x7b, 0x22, 0x74, 0x6f, 0x22, 0x3a, 0x22, 0xff, 0x22, 0x7d]), /UTF-8/],
      ["a wrong type", '{"to":5}', /^to: /],
      ["a missing field", '{"count":2}', /^to: /],
      ["an empty field", '{"to":""}', /^to: /],
      ["a fraction for an int", '{"to":"bob","count":1.5}', /^count: /],
      ["an array", "[]", /^body: /],
      ["null", "null", /^body: /],
    ])("%s is 400 naming the problem", async (_, body, mentions) => {
      const err = await wireError(() => readJson(json(body), Schema));
      expect([err.status, err.code]).toEqual([400, "bad_request"]);
      expect(err.message).toMatch(mentions);
    });

    const sized = (bytes: number) => {
      const head = '{"to":"';
      return `${head}${"a".repeat(bytes - head.length - 2)}"}`;
    };

    test("a body of exactly MAX_BODY_BYTES is read; one byte more is 413", async () => {
      expect(Buffer.byteLength(sized(MAX_BODY_BYTES))).toBe(MAX_BODY_BYTES);
      expect((await readJson(json(sized(MAX_BODY_BYTES)), Schema)).to).toHaveLength(MAX_BODY_BYTES - 9);
      const err = await wireError(() => readJson(json(sized(MAX_BODY_BYTES + 1)), Schema));
      expect([err.status, err.code]).toEqual([413, "payload_too_large"]);
    });

    test("a declared Content-Length over the limit is 413 before anything is read", async () => {
      const req = request({ "content-type": "application/json", "content-length": String(MAX_BODY_BYTES + 1) }, '{"to":"bob"}');
      expect((await wireError(() => readJson(req, Schema))).status).toBe(413);
    });

    test("a streamed body is cut off at the limit with 413", async () => {
      let pulled = 0;
      const endless = new ReadableStream<Uint8Array>({
        pull(controller) {
          pulled++;
          controller.enqueue(new Uint8Array(64 * 1024).fill(0x61));
        },
      });
      const err = await wireError(() => readJson(json(endless), Schema));
      expect(err.status).toBe(413);
      expect(pulled).toBeLessThan(20); // it stopped reading, it did not buffer everything first
    });
  });
});
