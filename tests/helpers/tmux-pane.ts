/**
 * An interactive agent CLI in a tmux pane, as a person runs it: started with exactly the given
 * environment (`env -i`), read from the screen, typed into, and closed like a terminal.
 */
import { expect } from "bun:test";

export const TMUX = Bun.which("tmux");

export interface TmuxPane {
  /** What the pane shows now. */
  screen(): string;
  /** Types `text` and Enter. */
  type(text: string): void;
  /** The pid of the pane's own process (what `argv` started). */
  pid(): number;
  /** Closes the terminal: the program in it ends. Safe to call twice. */
  close(): void;
}

/** Starts `argv` in a new detached 160×40 pane in `cwd`, with only `env` in its environment. */
export function openPane(session: string, cwd: string, env: Record<string, string>, argv: string[]): TmuxPane {
  const command = `env -i ${Object.entries(env).map(([k, v]) => `${k}='${v}'`).join(" ")} ${argv.join(" ")}`;
  expect(Bun.spawnSync([TMUX!, "new-session", "-d", "-s", session, "-x", "160", "-y", "40", "-c", cwd, command]).exitCode).toBe(0);
  return {
    screen: () => Bun.spawnSync([TMUX!, "capture-pane", "-p", "-t", session]).stdout.toString(),
    type: (text) => void Bun.spawnSync([TMUX!, "send-keys", "-t", session, text, "Enter"]),
    pid: () => Number(Bun.spawnSync([TMUX!, "display-message", "-p", "-t", session, "#{pane_pid}"]).stdout.toString().trim()),
    close: () => void Bun.spawnSync([TMUX!, "kill-session", "-t", session]),
  };
}
