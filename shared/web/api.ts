/** The console's calls to its broker: the broker's own routes, as the person in charge, and its events. */
import type { BrokerFrame, ConsoleState, EditsResult, Message, PauseResult, SendResult } from "../protocol.ts";
import { CONSOLE_KEY_HEADER } from "./wire.ts";

export interface HistoryPage {
  messages: Message[];
  before: number | null;
}

export interface HistoryQuery {
  limit: number;
  peer?: string;
  group?: string;
  text?: string;
  before?: number;
}

/**
 * The session's key, the cookie's other half: the login page hands it over in the URL's fragment
 * (never sent to a server); it is kept in this tab's sessionStorage, which only this origin reads,
 * and taken out of the address bar.
 */
const KEY_ITEM = "claude-peers-console-key";
const key = (() => {
  const fromLogin = /^#key=([A-Za-z0-9_-]+)$/.exec(location.hash)?.[1];
  if (fromLogin) {
    sessionStorage.setItem(KEY_ITEM, fromLogin);
    history.replaceState(null, "", location.pathname);
  }
  return sessionStorage.getItem(KEY_ITEM) ?? "";
})();

/** What a tab with no key shows: the key lives in the tab its login link opened, never in a cookie or bookmark. */
export const NO_KEY_HERE =
  "This tab is not logged in: the console works in the tab its login link opened (a second tab or a bookmark has no key). Run bun cli.ts dashboard for a new link.";
export const hasKey = key !== "";

async function post<T>(name: string, body: object): Promise<T> {
  const res = await fetch(`/console/api/${name}`, {
    method: "POST",
    headers: { "content-type": "application/json", [CONSOLE_KEY_HEADER]: key },
    body: JSON.stringify(body),
    credentials: "same-origin",
  });
  const data = (await res.json().catch(() => null)) as { error?: { message?: string } } | null;
  if (!res.ok) {
    if (res.status === 401) throw new Error("not logged in here (the login has ended, or this tab has no key): run bun cli.ts dashboard and open the link it prints (the console works in the tab it was opened in)");
    throw new Error(data?.error?.message ?? `the broker answered ${res.status}`);
  }
  return data as T;
}

export const api = {
  state: () => post<ConsoleState>("state", {}),
  history: (q: HistoryQuery) => post<HistoryPage>("history", q),
  send: (body: { to: string; text: string; in_reply_to?: string }) => post<SendResult>("send", { ...body, idempotency_key: crypto.randomUUID() }),
  retract: (message_id: string) => post<SendResult>("retract", { message_id }),
  release: (a: string, b: string, discard: boolean) => post<{ messages: Message[] }>("release", { a, b, discard }),
  pause: (peer: string) => post<PauseResult>("pause", { peer }),
  resume: (peer: string) => post<PauseResult>("resume", { peer }),
  edits: () => post<EditsResult>("edits", {}),
};

/** The broker's watch events, reconnecting after a drop; `onOpen` runs on every (re)connection, `onClose` says whether this try had opened. */
export function watchEvents(handlers: { onFrame: (f: BrokerFrame) => void; onOpen: () => void; onClose: (wasOpen: boolean) => void }): void {
  let delay = 250;
  const connect = () => {
    const ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/console/ws?key=${encodeURIComponent(key)}`);
    let opened = false;
    ws.onopen = () => {
      opened = true;
      delay = 250;
      handlers.onOpen();
    };
    ws.onmessage = (e) => {
      try {
        handlers.onFrame(JSON.parse(String(e.data)) as BrokerFrame);
      } catch {
        // the broker only sends JSON frames; anything else has nothing to show
      }
    };
    ws.onclose = () => {
      handlers.onClose(opened);
      setTimeout(connect, delay);
      delay = Math.min(delay * 2, 5000);
    };
  };
  connect();
}
