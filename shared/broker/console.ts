/**
 * The operator console over HTTP: the page at /, its login at /login, its assets, its API (the
 * broker's own routes, called as the person in charge) and its live events (the watchers' stream).
 *
 * The page shows text written by other AI sessions and can write into sessions that may run with
 * --dangerously-skip-permissions, so it has its own door, narrower than the token's: a one-time
 * login code traded for a session cookie (HttpOnly, SameSite=Strict) and a key the page holds
 * (console-auth.ts says why both); for the API and the events, the cookie, the key, an Origin equal
 * to the broker's own and (for the API) a JSON body; a strict Content-Security-Policy on every
 * answer; and no CORS. The Host rule (DNS rebinding) is checked before any of this, as for every route.
 */
import { WireError, errorMessage, printable } from "../errors.ts";
import { StoreUnavailableError } from "../store/store.ts";
import type { RoutePath } from "../protocol.ts";
import { ASSET_PREFIX, consoleAssets } from "../web/build.ts";
import { CONSOLE_KEY_HEADER } from "../web/wire.ts";
import { CONSOLE_SESSION_TTL_MS, type ConsoleAuth } from "./console-auth.ts";

/** The broker routes the console may call, by the name after /console/api/. */
export const CONSOLE_API: Readonly<Record<string, RoutePath>> = {
  state: "/console/state",
  history: "/history",
  send: "/send",
  retract: "/retract",
  release: "/release",
  pause: "/pause",
  resume: "/resume",
  groups: "/groups",
  edits: "/edits",
};

/** No inline script or style, no eval, nothing from elsewhere, never framed. */
export const CONTENT_SECURITY_POLICY =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; font-src 'self'; " +
  "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const SECURITY_HEADERS: Record<string, string> = {
  "content-security-policy": CONTENT_SECURITY_POLICY,
  "x-frame-options": "DENY",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "cross-origin-opener-policy": "same-origin",
  // Another origin's <script src> or <img src> of these answers gets nothing.
  "cross-origin-resource-policy": "same-origin",
  "cache-control": "no-store",
};

export interface ConsoleDeps {
  auth: ConsoleAuth;
  /** The broker's port: the cookie is named after it, since cookies are not kept apart by port. */
  port: () => number;
  /** Runs a broker route as the person in charge (no peer), its body read and checked as usual. */
  call: (path: RoutePath, req: Request) => Promise<unknown>;
  /**
   * Hands the request to the watchers' event stream (a WebSocket), which ends once `sessionValid`
   * says no; false if it was not an upgrade.
   */
  watch: (req: Request, sessionValid: () => boolean) => boolean;
  log: (line: string) => void;
}

export function isConsolePath(path: string): boolean {
  return path === "/" || path === "/login" || path === "/favicon.ico" || path === "/console/ws" || path.startsWith(ASSET_PREFIX) || path.startsWith("/console/api/");
}

export function consoleHandler(deps: ConsoleDeps): (req: Request, path: string) => Promise<Response | undefined> {
  const cookieName = () => `claude_peers_console_${deps.port()}`;

  async function handle(req: Request, path: string): Promise<Response | undefined> {
    // Host was checked already (loopback names only); its port must be this broker's, so the
    // origin built from it is the page's own.
    const host = req.headers.get("host")!;
    if (!host.endsWith(`:${deps.port()}`)) throw new WireError("forbidden", `Host "${printable(host)}" names another port; open the console at http://127.0.0.1:${deps.port()}/`);
    const ownOrigin = `http://${host}`;
    const origin = req.headers.get("origin");
    if (origin !== null && origin !== ownOrigin) throw new WireError("forbidden", `a page of another origin (${printable(origin)}) may not use the console`);
    if (path === "/login") return login(req);
    if (path === "/favicon.ico") return new Response(null, { status: 204 }); // the browser asks; there is none
    const cookie = new Bun.CookieMap(req.headers.get("cookie") ?? "").get(cookieName()) ?? undefined;
    if (path === "/") {
      if (req.method !== "GET") throw new WireError("method_not_allowed", "use GET / to open the console page");
      if (!deps.auth.browserKnown(cookie)) return page(401, "Log in to the claude-peers console", "Run <code>bun cli.ts dashboard</code> in a terminal and open the link it prints. A link works once, within a minute.");
      return asset("/");
    }
    if (path.startsWith(ASSET_PREFIX)) {
      if (!deps.auth.browserKnown(cookie)) throw new WireError("unauthorized", "not logged in to the console: run bun cli.ts dashboard and open the link it prints");
      if (req.method !== "GET") throw new WireError("method_not_allowed", `use GET ${path}`);
      return asset(path);
    }
    // The API and the events: only from the broker's own page (browsers always send Origin here),
    // with the key only that page holds.
    const key = path === "/console/ws" ? new URL(req.url).searchParams.get("key") : req.headers.get(CONSOLE_KEY_HEADER);
    if (!deps.auth.valid(cookie, key)) {
      throw new WireError("unauthorized", "not logged in to the console in this tab: run bun cli.ts dashboard and open the link it prints");
    }
    if (origin === null) throw new WireError("forbidden", "the console's API and events need the Origin header of the broker's own page");
    if (path === "/console/ws") {
      if (req.method !== "GET") throw new WireError("method_not_allowed", "use GET /console/ws with a WebSocket upgrade");
      if (deps.watch(req, () => deps.auth.valid(cookie, key))) return undefined;
      throw new WireError("bad_request", "expected a WebSocket upgrade");
    }
    const name = path.slice("/console/api/".length);
    if (!Object.hasOwn(CONSOLE_API, name)) throw new WireError("not_found", `no console API ${printable(path)}`);
    if (req.method !== "POST") throw new WireError("method_not_allowed", `use POST ${path} with a JSON body`);
    return Response.json(await deps.call(CONSOLE_API[name]!, req));
  }

  /**
   * Trades the code for the cookie and the key. The answer is a page that moves on to / by itself:
   * a navigation this origin starts, so the SameSite=Strict cookie goes with it even when the link
   * was opened from elsewhere (a file, another site); the key rides in the fragment, which no
   * browser sends to any server.
   */
  function login(req: Request): Response {
    if (req.method !== "GET") throw new WireError("method_not_allowed", "use GET /login?code=…");
    const code = new URL(req.url).searchParams.get("code") ?? "";
    const session = code ? deps.auth.redeem(code) : null;
    if (!session) {
      return page(401, "This login link does not work", "It was used already, it is over a minute old, or it was never one. Run <code>bun cli.ts dashboard</code> again for a new one.");
    }
    // Never logged: the code, the cookie and the key are secrets.
    const cookie = `${cookieName()}=${session.cookie}; HttpOnly; SameSite=Strict; Path=/; Max-Age=${CONSOLE_SESSION_TTL_MS / 1000}`;
    const next = `/#key=${session.key}`; // base64url: nothing to escape
    const res = page(200, "Opening the claude-peers console", `<a href="${next}">Open the console</a>`, `<meta http-equiv="refresh" content="0;url=${next}">`);
    res.headers.set("set-cookie", cookie);
    return res;
  }

  return async (req, path) => {
    let res: Response | undefined;
    try {
      res = await handle(req, path);
    } catch (err) {
      if (err instanceof WireError) res = err.toResponse();
      else if (err instanceof StoreUnavailableError) res = new WireError("unavailable", err.message).toResponse();
      else {
        deps.log(`console: internal error on ${printable(req.method)} ${path}: ${errorMessage(err)}`);
        res = new WireError("internal", "the broker failed on this request; see its log file").toResponse();
      }
    }
    if (!res) return undefined; // upgraded to a WebSocket
    for (const [k, v] of Object.entries(SECURITY_HEADERS)) res.headers.set(k, v);
    return res;
  };
}

async function asset(path: string): Promise<Response> {
  const file = (await consoleAssets()).get(path);
  if (!file) throw new WireError("not_found", `no console file ${printable(path)}`);
  return new Response(file.body, { headers: { "content-type": file.type } });
}

/** A page of fixed text (never any text from a request or a peer), styled by nothing. */
function page(status: number, title: string, html: string, head = ""): Response {
  const body = `<!doctype html><html lang="en"><head><meta charset="utf-8">${head}<title>${title}</title></head><body><h1>${title}</h1><p>${html}</p></body></html>`;
  return new Response(body, { status, headers: { "content-type": "text/html;charset=utf-8" } });
}
