#!/usr/bin/env bun
/**
 * Summarizes Bun/V8 .cpuprofile files (from `bun --cpu-prof`, or a benchmark's --cpu-prof-dir): the
 * functions with the most self time, then the most inclusive time. Several files (say, the 20
 * server.ts of a throughput run) are added together.
 * Usage: bun bench/profile-summary.ts [--top N] FILE...
 */
import { parseArgs } from "node:util";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

const { values, positionals: files } = parseArgs({ options: { top: { type: "string", default: "30" } }, allowPositionals: true });
if (files.length === 0) {
  console.error("usage: bun bench/profile-summary.ts [--top N] FILE.cpuprofile...");
  process.exit(2);
}
const label = (n: ProfileNode) => `${n.callFrame.functionName || "(anonymous)"} ${n.callFrame.url.replace(/.*\//, "")}:${n.callFrame.lineNumber + 1}`;
const self = new Map<string, number>();
const inclusive = new Map<string, number>();
let total = 0;

for (const file of files) {
  const profile = (await Bun.file(file).json()) as { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[] };
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const selfTime = new Map<number, number>();
  profile.samples.forEach((id, i) => selfTime.set(id, (selfTime.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
  for (const [id, t] of selfTime) {
    total += t;
    const own = label(nodes.get(id)!);
    self.set(own, (self.get(own) ?? 0) + t);
    // Each sample counts once per function on its stack, however deep the recursion.
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const l = label(nodes.get(cur)!);
      if (seen.has(l)) continue;
      seen.add(l);
      inclusive.set(l, (inclusive.get(l) ?? 0) + t);
    }
  }
}

const print = (title: string, m: Map<string, number>) => {
  console.log(`\n${title}`);
  for (const [l, t] of [...m].sort((a, b) => b[1] - a[1]).slice(0, Number(values.top))) console.log(`${((t / total) * 100).toFixed(1).padStart(6)} %  ${l}`);
};
console.log(`${files.length} profile${files.length === 1 ? "" : "s"}: ${(total / 1000).toFixed(0)} ms sampled`);
print("self time", self);
print("inclusive time", inclusive);
