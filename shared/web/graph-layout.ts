/**
 * Where the graph's sessions sit: a force layout (d3-force) run to rest in one go, started from
 * where each node was last time, so the picture moves little as messages come in.
 */
import { forceCenter, forceCollide, forceLink, forceManyBody, forceSimulation, forceX, forceY, type SimulationNodeDatum } from "d3-force";
import type { Edge } from "./model.ts";

interface Node extends SimulationNodeDatum {
  id: string;
}

export interface Point {
  x: number;
  y: number;
}

export class GraphLayout {
  private readonly last = new Map<string, Point>();

  constructor(
    private readonly width: number,
    private readonly height: number,
  ) {}

  place(names: readonly string[], edges: readonly Edge[]): Map<string, Point> {
    const nodes: Node[] = names.map((id) => ({ id, ...this.last.get(id) }));
    const present = new Set(names);
    const links = edges.filter((e) => present.has(e.from) && present.has(e.to)).map((e) => ({ source: e.from, target: e.to }));
    const settled = nodes.every((n) => this.last.has(n.id));
    forceSimulation(nodes)
      .force("link", forceLink<Node, { source: string; target: string }>(links).id((n) => n.id).distance(180))
      .force("charge", forceManyBody().strength(-1200))
      .force("center", forceCenter(this.width / 2, this.height / 2))
      .force("collide", forceCollide(64))
      // A gentle pull to the middle: groups that never talk to each other stay in the picture.
      .force("x", forceX(this.width / 2).strength(0.03))
      .force("y", forceY(this.height / 2).strength(0.05))
      .stop()
      .tick(settled ? 30 : 300);
    const margin = 60;
    const out = new Map<string, Point>();
    for (const n of nodes) {
      const p = { x: clamp(n.x ?? 0, margin, this.width - margin), y: clamp(n.y ?? 0, margin, this.height - margin) };
      out.set(n.id, p);
      this.last.set(n.id, p);
    }
    return out;
  }
}

function clamp(v: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, v));
}
