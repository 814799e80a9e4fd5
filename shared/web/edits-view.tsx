/** @jsxImportSource preact */
/**
 * The console's edit collisions tab: who is editing what (the broker's /edits), read again every
 * couple of seconds while the tab is open; rows another live session edited or claims too are marked.
 * Paths and names are rendered as text nodes, like every peer-written string.
 */
import { useEffect, useState } from "preact/hooks";
import type { EditsResult } from "../protocol.ts";
import { api } from "./api.ts";

const REFRESH_MS = 2000;

export function Edits(props: { onError: (message: string) => void }) {
  const [edits, setEdits] = useState<EditsResult | null>(null);
  useEffect(() => {
    let stopped = false;
    const load = async () => {
      try {
        const next = await api.edits();
        if (!stopped) setEdits(next);
      } catch (err) {
        if (!stopped) props.onError(err instanceof Error ? err.message : String(err));
      }
    };
    void load();
    const timer = setInterval(load, REFRESH_MS);
    return () => {
      stopped = true;
      clearInterval(timer);
    };
  }, []);
  if (!edits) return <p class="loading">Loading…</p>;
  if (edits.files.length === 0) return <p class="empty">No session edited a file in the last {Math.round(edits.window_s / 60)} min, and none claims any.</p>;
  const rows = [...edits.files].sort((a, b) => Number(b.colliding) - Number(a.colliding) || a.repo.localeCompare(b.repo) || a.path.localeCompare(b.path) || a.name.localeCompare(b.name));
  const now = Date.now();
  return (
    <table class="sessions edits">
      <thead>
        <tr>
          <th>File</th>
          <th>Lines</th>
          <th>Session</th>
          <th>Agent</th>
          <th>Branch</th>
          <th>When</th>
          <th>Repository</th>
        </tr>
      </thead>
      <tbody>
        {rows.map((f) => (
          <tr data-edit={f.path} data-session={f.name} data-colliding={String(f.colliding)} class={f.colliding ? "colliding" : ""}>
            <td class="path">
              {f.colliding && <span class="badge held">collision</span>} {f.path}
            </td>
            <td>{f.kind === "claim" ? `claimed until ${new Date(f.expires_at!).toLocaleTimeString([], { hour12: false })}` : (f.lines ?? "—")}</td>
            <td class="name">{f.host ? `${f.name}@${f.host}` : f.name}</td>
            <td>{f.agent}</td>
            <td>{f.branch ?? "—"}</td>
            <td>{minutesAgo(now - Date.parse(f.at))}</td>
            <td class="path">{f.repo}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function minutesAgo(ms: number): string {
  const min = Math.floor(ms / 60_000);
  return min < 1 ? "just now" : `${min} min ago`;
}
