/** @jsxImportSource preact */
/**
 * The operator console: sessions, conversations and who talks to whom, live from the broker's
 * event stream, and the person in charge's actions. Every text a peer wrote is rendered as a text
 * node (preact never parses strings as HTML, and nothing here uses dangerouslySetInnerHTML).
 */
import { render } from "preact";
import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import type { BrokerFrame, ConsoleSession, Message } from "../protocol.ts";
import { api, hasKey, NO_KEY_HERE, watchEvents } from "./api.ts";
import { Edits } from "./edits-view.tsx";
import { GraphLayout } from "./graph-layout.ts";
import { NO_FILTER, applyFrame, heldPairs, modelOf, replyStanding, talkEdges, threads, withFresher, withOlder, withState, type Filter, type Model, type Send, type Thread } from "./model.ts";

const PAGE = 200;
type Tab = "sessions" | "conversations" | "graph" | "edits";

function App() {
  const [model, setModel] = useState<Model | null>(null);
  const [live, setLive] = useState(false);
  const [tab, setTab] = useState<Tab>("sessions");
  const [error, setError] = useState(hasKey ? "" : NO_KEY_HERE);
  const [filter, setFilter] = useState<Filter>(NO_FILTER);
  const [draft, setDraft] = useState<{ to: string; text: string; inReplyTo: string | null }>({ to: "", text: "", inReplyTo: null });
  const stateTimer = useRef<ReturnType<typeof setTimeout> | null>(null);

  /** Errors are shown, never thrown away; a person's next action clears the last one, a background refresh does not. */
  const attempt = async (what: () => Promise<unknown>, clearsError: boolean) => {
    try {
      if (clearsError) setError("");
      await what();
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    }
  };
  const act = (what: () => Promise<unknown>) => attempt(what, true);
  const refresh = (what: () => Promise<unknown>) => attempt(what, false);

  // The counts show on the sessions tab only: read them for it, and again when it is opened.
  const tabRef = useRef<Tab>(tab);
  tabRef.current = tab;
  const refreshState = (always = false) => {
    if (stateTimer.current || (!always && tabRef.current !== "sessions")) return;
    stateTimer.current = setTimeout(async () => {
      stateTimer.current = null;
      await refresh(async () => {
        const state = await api.state();
        setModel((m) => (m ? withState(m, state) : m));
      });
    }, 150);
  };

  // Frames that come before the first state and history are kept, then folded in after them.
  const early = useRef<BrokerFrame[] | null>([]);
  useEffect(() => {
    if (!hasKey) return; // nothing to connect with: NO_KEY_HERE says how to get in
    watchEvents({
      onFrame: (frame) => {
        if (early.current) return void early.current.push(frame);
        setModel((m) => {
          if (!m) return m;
          const { model: next, needsState } = applyFrame(m, frame);
          if (needsState) refreshState(frame.type === "event" && frame.peer !== undefined);
          return next;
        });
      },
      // Listening first, then reading: nothing that happens in between is missed.
      onOpen: () =>
        void refresh(async () => {
          const [state, history] = await Promise.all([api.state(), api.history({ limit: PAGE })]);
          setModel((m) => {
            let next = m ? withState(withFresher(m, history), state) : modelOf(state, history);
            for (const frame of early.current ?? []) next = applyFrame(next, frame).model;
            early.current = null;
            return next;
          });
          setLive(true);
        }),
      onClose: (wasOpen) => {
        setLive(false);
        // Refused before the first load: a plain call says why (an ended login) instead of "Loading" forever.
        if (!wasOpen && early.current) void refresh(() => api.state());
      },
    });
  }, []);

  useEffect(() => {
    if (!model) return;
    document.documentElement.dataset.ready = "true";
    performance.mark("console-ready"); // the first render with data (bench/console.ts reads it)
  }, [model !== null]);

  // A filter reads its own first page from the broker: older matches may not be loaded yet.
  useEffect(() => {
    if (!model || filter === NO_FILTER) return;
    const t = setTimeout(() => void act(async () => {
      const page = await api.history(historyQuery(filter));
      setModel((m) => m && withOlder(m, page));
    }), 200);
    return () => clearTimeout(t);
  }, [filter]);

  if (!model) return <p class="loading">{error || "Loading the console…"}</p>;

  const replyTo = (send: Send) => {
    const m = send.first;
    const to = m.group ? `#${m.group === "*" ? "" : m.group}` : m.from_id === "cli" ? m.to_name : m.from_name;
    setDraft({ to: to === "#" ? m.from_name : to, text: "", inReplyTo: m.id });
    setTab("conversations");
  };

  return (
    <div class="console">
      <header>
        <h1>claude-peers</h1>
        <span class="host">{model.network ? `network (this host: ${model.host})` : model.host}</span>
        <span class={live ? "live on" : "live off"} data-live={String(live)}>
          {live ? "live" : "reconnecting…"}
        </span>
        <nav>
          {(["sessions", "conversations", "graph", "edits"] as const).map((t) => (
            <button
              type="button"
              class={tab === t ? "tab active" : "tab"}
              data-tab={t}
              onClick={() => {
                setTab(t);
                if (t === "sessions") refreshState(true);
              }}
            >
              {t === "sessions" ? `Sessions (${model.sessions.size})` : t === "conversations" ? "Conversations" : t === "graph" ? "Who talks to whom" : "Who edits what"}
            </button>
          ))}
        </nav>
      </header>
      {error && (
        <p class="error" role="alert" data-testid="error">
          {error}
        </p>
      )}
      {tab === "sessions" && (
        <Sessions
          model={model}
          onPause={(name, paused) => act(() => (paused ? api.resume(name) : api.pause(name)))}
          onMessage={(name) => {
            setDraft({ to: name, text: "", inReplyTo: null });
            setTab("conversations");
          }}
        />
      )}
      {tab === "conversations" && (
        <Conversations
          model={model}
          filter={filter}
          setFilter={setFilter}
          draft={draft}
          setDraft={setDraft}
          onSend={() =>
            act(async () => {
              await api.send({ to: draft.to.trim(), text: draft.text, ...(draft.inReplyTo ? { in_reply_to: draft.inReplyTo } : {}) });
              setDraft({ to: draft.to, text: "", inReplyTo: null });
            })
          }
          onReply={replyTo}
          onRetract={(id) => act(() => api.retract(id))}
          onRelease={(a, b, discard) => act(() => api.release(a, b, discard))}
          onOlder={() =>
            act(async () => {
              const page = await api.history({ ...historyQuery(filter), before: model.before ?? undefined });
              setModel((m) => m && withOlder(m, page));
            })
          }
        />
      )}
      {tab === "graph" && <Graph model={model} />}
      {tab === "edits" && <Edits onError={setError} />}
    </div>
  );
}

function historyQuery(f: Filter) {
  return { limit: PAGE, ...(f.peer ? { peer: f.peer } : {}), ...(f.group ? { group: f.group } : {}), ...(f.text ? { text: f.text } : {}) };
}

// ---- sessions ---------------------------------------------------------------------------------

function Sessions(props: { model: Model; onPause: (name: string, paused: boolean) => void; onMessage: (name: string) => void }) {
  const now = useNow(5000);
  const sessions = [...props.model.sessions.values()].sort((a, b) => a.name.localeCompare(b.name) || a.host.localeCompare(b.host));
  if (sessions.length === 0) return <p class="empty">No live sessions. Start Claude Code with claude-peers, and it shows up here.</p>;
  return (
    <table class="sessions">
      <thead>
        <tr>
          <th>Name</th>
          {props.model.network && <th>Host</th>}
          <th>Agent</th>
          <th>Summary</th>
          <th>Folder</th>
          <th>Repo / branch</th>
          <th>Groups</th>
          <th>Delivery</th>
          <th>Last seen</th>
          <th>Unread</th>
          <th />
        </tr>
      </thead>
      <tbody>
        {sessions.map((s) => (
          <SessionRow key={s.id} s={s} network={props.model.network} now={now} onPause={props.onPause} onMessage={props.onMessage} />
        ))}
      </tbody>
    </table>
  );
}

function SessionRow({ s, network, now, onPause, onMessage }: { s: ConsoleSession; network: boolean; now: number; onPause: (name: string, paused: boolean) => void; onMessage: (name: string) => void }) {
  const paused = s.paused_since !== null;
  return (
    <tr data-session={s.name} class={paused ? "paused" : ""}>
      <td class="name">
        {s.name}
        <span class="id">{s.id}</span>
      </td>
      {network && <td>{s.host}</td>}
      <td data-agent>{s.agent}</td>
      <td class="summary">{s.summary}</td>
      <td class="path">{s.cwd}</td>
      <td>{s.git_root ? `${basename(s.git_root)}${s.git_branch ? ` @ ${s.git_branch}` : ""}` : "—"}</td>
      <td>{s.groups.map((g) => `#${g}`).join(" ")}</td>
      <td data-delivery>
        {[s.push ? "push" : "poll", ...(s.hooks ? ["hooks"] : [])].map((d) => (
          <span class={`badge ${d}`}>{d}</span>
        ))}
        {paused && <span class="badge held">paused</span>}
      </td>
      <td>{ago(s.last_seen, now)}</td>
      <td class="unread" data-unread={String(s.unread)}>
        {s.unread}
      </td>
      <td>
        <span class="actions">
          <button type="button" data-action="message" onClick={() => onMessage(s.name)}>
            Message
          </button>
          <button type="button" data-action={paused ? "resume" : "pause"} onClick={() => onPause(s.name, paused)}>
            {paused ? "Resume" : "Pause"}
          </button>
        </span>
      </td>
    </tr>
  );
}

// ---- conversations ----------------------------------------------------------------------------

interface ConversationProps {
  model: Model;
  filter: Filter;
  setFilter: (f: Filter) => void;
  draft: { to: string; text: string; inReplyTo: string | null };
  setDraft: (d: { to: string; text: string; inReplyTo: string | null }) => void;
  onSend: () => void;
  onReply: (send: Send) => void;
  onRetract: (id: string) => void;
  onRelease: (a: string, b: string, discard: boolean) => void;
  onOlder: () => void;
}

/** Threads drawn at first, and how many more each "show more" draws: the DOM stays small however much is loaded. */
const THREADS_SHOWN = 100;

function Conversations(p: ConversationProps) {
  const list = useMemo(() => threads(p.model.messages.values(), p.filter), [p.model.messages, p.filter]);
  const [shown, setShown] = useState(THREADS_SHOWN);
  const names = [...new Set([...p.model.sessions.values()].map((s) => s.name))].sort();
  const groups = p.model.groups.map((g) => g.name);
  const held = heldPairs(p.model);
  const { draft, setDraft } = p;
  return (
    <div class="conversations">
      <form
        class="composer"
        data-testid="composer"
        onSubmit={(e) => {
          e.preventDefault();
          p.onSend();
        }}
      >
        <label>
          To
          <input name="to" list="recipients" value={draft.to} placeholder="a session, #group or *" onInput={(e) => setDraft({ ...draft, to: e.currentTarget.value })} />
        </label>
        <datalist id="recipients">
          {names.map((n) => (
            <option value={n} />
          ))}
          {groups.map((g) => (
            <option value={`#${g}`} />
          ))}
        </datalist>
        {draft.inReplyTo && (
          <span class="replying" data-testid="replying">
            in reply to {draft.inReplyTo}
            <button type="button" onClick={() => setDraft({ ...draft, inReplyTo: null })}>
              ×
            </button>
          </span>
        )}
        <textarea name="text" rows={2} value={draft.text} placeholder="Message, sent as you (cli)" onInput={(e) => setDraft({ ...draft, text: e.currentTarget.value })} />
        <button type="submit" disabled={!draft.to.trim() || !draft.text}>
          {draft.inReplyTo ? "Reply" : "Send"}
        </button>
      </form>

      {held.length > 0 && (
        <section class="held">
          <h2>Held pairs</h2>
          {held.map((h) => (
            <div class="pair" data-pair={`${h.a}|${h.b}`}>
              <span>
                {h.a} ⇄ {h.b}: {h.count} held
              </span>
              <button type="button" data-action="release" onClick={() => p.onRelease(h.a, h.b, false)}>
                Release
              </button>
              <button type="button" data-action="discard" onClick={() => p.onRelease(h.a, h.b, true)}>
                Discard
              </button>
            </div>
          ))}
        </section>
      )}

      <form class="filters" onSubmit={(e) => e.preventDefault()}>
        <select name="peer" value={p.filter.peer} onChange={(e) => p.setFilter({ ...p.filter, peer: e.currentTarget.value })}>
          <option value="">every session</option>
          {names.map((n) => (
            <option value={n}>{n}</option>
          ))}
        </select>
        <select name="group" value={p.filter.group} onChange={(e) => p.setFilter({ ...p.filter, group: e.currentTarget.value })}>
          <option value="">every group</option>
          {groups.map((g) => (
            <option value={g}>#{g}</option>
          ))}
          <option value="*">* (broadcasts)</option>
        </select>
        <input name="text" type="search" placeholder="text" value={p.filter.text} onInput={(e) => p.setFilter({ ...p.filter, text: e.currentTarget.value })} />
      </form>

      {list.length === 0 ? (
        <p class="empty">No messages{p.filter === NO_FILTER ? " yet" : " match"}.</p>
      ) : (
        <ol class="threads">
          {list.slice(0, shown).map((t) => (
            <li class="thread" key={t.send.id} data-thread={t.send.id}>
              <SendView t={t} depth={0} {...p} />
            </li>
          ))}
        </ol>
      )}
      {list.length > shown ? (
        <button type="button" class="older" data-action="more" onClick={() => setShown(shown + THREADS_SHOWN)}>
          Show {Math.min(THREADS_SHOWN, list.length - shown)} more threads
        </button>
      ) : (
        p.model.before !== null && (
          <button
            type="button"
            class="older"
            data-action="older"
            onClick={() => {
              setShown(shown + THREADS_SHOWN);
              p.onOlder();
            }}
          >
            Older messages
          </button>
        )
      )}
    </div>
  );
}

function SendView(props: { t: Thread; depth: number } & ConversationProps) {
  const { send, replies } = props.t;
  const m = send.first;
  const retractable = send.copies.some((c) => c.state === "queued" || c.state === "delivered" || c.state === "held");
  return (
    <div class="send" data-id={send.id}>
      <div class="meta">
        <time dateTime={m.sent_at}>{clock(m.sent_at)}</time>
        <span class="from">{m.from_name}</span>→<span class="to">{m.group ? (m.group === "*" ? "*" : `#${m.group}`) : m.to_name}</span>
        {send.copies.map((c) => (
          <span class={`state ${c.state}`} data-state={c.state} data-copy={c.id} title={c.id}>
            {send.copies.length > 1 ? `${c.to_name}: ` : ""}
            {c.state === "held" && c.held_by === "pause" ? "held (paused)" : c.state}
          </span>
        ))}
        {m.reply_status && <ReplyDue m={m} />}
        <span class="actions">
          <button type="button" data-action="reply" onClick={() => props.onReply(send)}>
            Reply
          </button>
          {retractable && (
            <button type="button" data-action="retract" onClick={() => props.onRetract(send.id)}>
              Retract
            </button>
          )}
        </span>
      </div>
      <pre class="text">{m.text}</pre>
      {replies.length > 0 && (
        <ol class="replies">
          {replies.map((r) => (
            <li key={r.send.id}>
              <SendView {...props} t={r} depth={props.depth + 1} />
            </li>
          ))}
        </ol>
      )}
    </div>
  );
}

/** An awaited reply's standing; only these tick each second, not the whole list. */
function ReplyDue({ m }: { m: Message }) {
  const now = useNow(m.reply_status === "awaiting" ? 1000 : 0);
  const standing = replyStanding(m, now);
  if (!standing) return null;
  return (
    <span class={`reply ${standing}`} data-reply={standing}>
      {standing === "awaiting" ? `reply due ${countdown(m.reply_by!, now)}` : standing === "overdue" ? "reply overdue" : "answered"}
    </span>
  );
}

// ---- who talks to whom ------------------------------------------------------------------------

const WINDOWS = [
  { label: "5 minutes", ms: 5 * 60_000 },
  { label: "1 hour", ms: 3_600_000 },
  { label: "24 hours", ms: 86_400_000 },
  { label: "all loaded", ms: Number.POSITIVE_INFINITY },
];
const W = 960;
const H = 540;

function Graph({ model }: { model: Model }) {
  const [windowMs, setWindowMs] = useState(3_600_000);
  const layout = useRef(new GraphLayout(W, H));
  const edges = useMemo(() => talkEdges(model.messages.values(), Date.now() - windowMs), [model.messages, windowMs]);
  const names = useMemo(() => [...new Set([...[...model.sessions.values()].map((s) => s.name), ...edges.flatMap((e) => [e.from, e.to])])].sort(), [model.sessions, edges]);
  const at = useMemo(() => layout.current.place(names, edges), [names, edges]);
  const live = new Set([...model.sessions.values()].map((s) => s.name));
  const max = Math.max(1, ...edges.map((e) => e.count));
  return (
    <div class="graph">
      <label>
        Over the last{" "}
        <select data-testid="graph-window" value={String(windowMs)} onChange={(e) => setWindowMs(Number(e.currentTarget.value))}>
          {WINDOWS.map((w) => (
            <option value={String(w.ms)}>{w.label}</option>
          ))}
        </select>
      </label>
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-label="sessions and the messages between them">
        <defs>
          <marker id="arrow" viewBox="0 0 10 10" refX="33" refY="5" markerWidth="10" markerHeight="10" markerUnits="userSpaceOnUse" orient="auto-start-reverse">
            <path d="M 0 0 L 10 5 L 0 10 z" />
          </marker>
        </defs>
        {edges.map((e) => {
          const a = at.get(e.from);
          const b = at.get(e.to);
          if (!a || !b) return null;
          // Two directions of one pair are drawn a little apart, so both counts show.
          const dx = b.x - a.x;
          const dy = b.y - a.y;
          const len = Math.hypot(dx, dy) || 1;
          const ox = (-dy / len) * 6;
          const oy = (dx / len) * 6;
          return (
            <g class="edge" data-edge={`${e.from}→${e.to}`} data-count={String(e.count)}>
              <line x1={a.x + ox} y1={a.y + oy} x2={b.x + ox} y2={b.y + oy} stroke-width={1 + (5 * e.count) / max} marker-end="url(#arrow)" />
              <text x={(a.x + b.x) / 2 + ox * 2} y={(a.y + b.y) / 2 + oy * 2}>
                {e.count}
              </text>
            </g>
          );
        })}
        {names.map((n) => {
          const p = at.get(n)!;
          return (
            <g class={live.has(n) ? "node live" : "node gone"} data-node={n} transform={`translate(${p.x},${p.y})`}>
              <circle r="22" />
              <text y="38">{n}</text>
            </g>
          );
        })}
      </svg>
      {edges.length === 0 && <p class="empty">No messages in this window.</p>}
    </div>
  );
}

// ---- small helpers ----------------------------------------------------------------------------

/** The time, updated every `everyMs` (0: never). */
function useNow(everyMs: number): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    if (everyMs <= 0) return;
    const t = setInterval(() => setNow(Date.now()), everyMs);
    return () => clearInterval(t);
  }, [everyMs]);
  return now;
}

function clock(iso: string): string {
  return new Date(iso).toLocaleTimeString([], { hour12: false });
}

function ago(iso: string, now: number): string {
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  return s < 5 ? "now" : s < 120 ? `${s} s ago` : s < 7200 ? `${Math.round(s / 60)} min ago` : `${Math.round(s / 3600)} h ago`;
}

function countdown(iso: string, now: number): string {
  const s = Math.max(0, Math.round((Date.parse(iso) - now) / 1000));
  return s < 120 ? `in ${s} s` : `in ${Math.round(s / 60)} min`;
}

function basename(path: string): string {
  return path.split("/").filter(Boolean).at(-1) ?? path;
}

render(<App />, document.getElementById("app")!);
