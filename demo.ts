#!/usr/bin/env bun
/**
 * The demo: three live sessions (real server.ts processes, driven over MCP stdio the way Claude
 * Code drives them) find each other, talk, use an offline mailbox, and the CLI shows the result.
 * Everything runs on a private port and a temp SQLite DB, and is cleaned up at the end.
 */
import { styleText } from "node:util";
import { join } from "node:path";
import { mkdirSync } from "node:fs";
import { runningBroker } from "./tests/helpers/broker.ts";
import { ROOT, makeTestEnv } from "./tests/helpers/env.ts";
import { startServer, whoami, type ChannelMessage, type TestServer } from "./tests/helpers/server.ts";

const t = makeTestEnv();
const say = (text: string) => console.log(`\n${styleText(["bold", "cyan"], "▸")} ${styleText("bold", text)}`);
const show = (who: string, text: string) => console.log(text.replace(/^/gm, `  ${styleText("dim", `${who.padStart(8)} │`)} `));
const channelTag = (m: ChannelMessage) =>
  `<channel source="claude-peers" ${Object.entries(m.meta).map(([k, v]) => `${k}="${v}"`).join(" ")}>\n${m.content}\n</channel>`;

async function session(name: string): Promise<TestServer> {
  const cwd = join(t.dir, name);
  mkdirSync(cwd, { recursive: true });
  return startServer(t, { name, cwd });
}

async function cli(...args: string[]): Promise<string> {
  const proc = Bun.spawn([process.execPath, join(ROOT, "cli.ts"), ...args], { env: t.env, stdout: "pipe", stderr: "pipe" });
  const [out, err] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return (out + err).trimEnd();
}

const sessions: TestServer[] = [];
try {
  say(`Three Claude Code sessions start (broker port ${t.port}, database ${t.dbPath})`);
  const [api, web, reviewer] = await Promise.all(["api", "web", "reviewer"].map(session));
  sessions.push(api!, web!, reviewer!);
  for (const s of sessions) show((await whoami(s)).name, (await s.call("whoami")).text);

  say("Each session says what it is working on (set_summary)");
  show("api", (await api!.call("set_summary", { summary: "REST API: adding pagination to GET /users" })).text);
  show("web", (await web!.call("set_summary", { summary: "React app: users table" })).text);
  show("reviewer", (await reviewer!.call("set_summary", { summary: "reviewing open pull requests" })).text);

  say("web looks for its peers (list_peers)");
  show("web", (await web!.call("list_peers")).text);

  say("web asks api a question (send_message)");
  show("web", (await web!.call("send_message", { to: "api", message: "What does GET /users return now: an array, or {items, next}?" })).text);
  const question = await api!.waitForChannel(() => true, "api to receive web's question");
  say("…and it is pushed straight into api's context as a channel notification");
  show("api", channelTag(question));

  say("api replies, quoting the message id (in_reply_to)");
  show("api", (await api!.call("send_message", { to: question.meta.from_id, message: "{items, next}: pass ?cursor=<next> for the following page.", in_reply_to: question.meta.message_id })).text);
  const answer = await web!.waitForChannel((m) => m.meta.in_reply_to === question.meta.message_id, "web to receive the reply");
  show("web", channelTag(answer));

  say("reviewer closes; web leaves it a note anyway (the offline mailbox)");
  await reviewer!.stop();
  sessions.pop();
  show("web", (await web!.call("send_message", { to: "reviewer", message: "PR 42 is ready for review." })).text);

  say("a new reviewer session starts in the same place and gets the note");
  const reviewer2 = await session("reviewer");
  sessions.push(reviewer2);
  show("reviewer", channelTag(await reviewer2.waitForChannel(() => true, "the new reviewer to receive its mail")));
  show("reviewer", (await reviewer2.call("check_messages")).text);

  say("From a terminal: bun cli.ts status");
  show("cli", await cli("status"));
  say("bun cli.ts history");
  show("cli", await cli("history"));
  say("Done: every message was stored, pushed at once and acknowledged; the ones answered or checked are read.");
} finally {
  await Promise.all(sessions.map((s) => s.stop()));
  await (await runningBroker(t)).stop().catch(() => {});
  t.cleanup();
}
