#!/usr/bin/env bun
/**
 * Summarizes a Bun/V8 .cpuprofile (from `bun --cpu-prof`, or a benchmark's --cpu-prof-dir): the
 * functions with the most self time, then the most inclusive time. Usage: bun bench/profile-summary.ts FILE [TOP]
 */
interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

export {}; // a module, for top-level await

const [file, top = "30"] = process.argv.slice(2);
if (!file) {
  console.error("usage: bun bench/profile-summary.ts FILE.cpuprofile [TOP]");
  process.exit(2);
}
const profile = (await Bun.file(file).json()) as { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[] };
const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
const parent = new Map<number, number>();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const label = (n: ProfileNode) => `${n.callFrame.functionName || "(anonymous)"} ${n.callFrame.url.replace(/.*\//, "")}:${n.callFrame.lineNumber + 1}`;

const selfTime = new Map<number, number>();
profile.samples.forEach((id, i) => selfTime.set(id, (selfTime.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
const total = [...selfTime.values()].reduce((a, b) => a + b, 0);

const self = new Map<string, number>();
const inclusive = new Map<string, number>();
for (const [id, t] of selfTime) {
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

const print = (title: string, m: Map<string, number>) => {
  console.log(`\n${title}`);
  for (const [l, t] of [...m].sort((a, b) => b[1] - a[1]).slice(0, Number(top))) console.log(`${((t / total) * 100).toFixed(1).padStart(6)} %  ${l}`);
};
console.log(`${file}: ${(total / 1000).toFixed(0)} ms sampled`);
print("self time", self);
print("inclusive time", inclusive);
