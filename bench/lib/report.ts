// Result model, the stdout tables and the JSON file.
import type { TargetName } from './targets.ts';
import { TARGET_LABEL } from './targets.ts';

export interface Sample {
  /** the line's value for this repetition (MiB/s, req/s, s, ...) */
  value: number;
  wallS: number;
  /** CPU seconds of the server process tree during the operation */
  serverCpuS: number;
  /** CPU seconds of the client during the operation (this process; plus wrk for manifest lines) */
  clientCpuS?: number;
  /** CPU seconds of kernel threads meanwhile (writeback, network, memory workers) */
  kernelCpuS?: number;
  /** CPU seconds of other user processes meanwhile (noise: other people's jobs) */
  otherCpuS?: number;
  /** units of work done (GiB moved, requests served, images pushed) for the CPU-cost table */
  work?: number;
  extra?: Record<string, unknown>;
}

export interface Cell {
  /** median of samples (or the single measured value) */
  value?: number;
  min?: number;
  max?: number;
  samples: Sample[];
  error?: string;
  /** server CPU per unit of work over all samples, in Line.cost.unit */
  serverCpuCost?: number;
}

export interface Line {
  id: string;
  group: string;
  label: string;
  unit: string;
  better: 'higher' | 'lower';
  cells: Partial<Record<TargetName, Cell>>;
  /** wharf / reference, when both measured */
  ratio?: number;
  /** how to express server CPU per unit of work, e.g. { unit: 'CPU ms/req', scale: 1e3 } */
  cost?: { unit: string; scale: number };
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  if (n === 0) return NaN;
  return n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

export class Results {
  lines: Line[] = [];
  private byId = new Map<string, Line>();

  line(id: string, group: string, label: string, unit: string, better: 'higher' | 'lower'): Line {
    let l = this.byId.get(id);
    if (!l) {
      l = { id, group, label, unit, better, cells: {} };
      this.byId.set(id, l);
      this.lines.push(l);
    }
    return l;
  }

  cell(l: Line, t: TargetName): Cell {
    return (l.cells[t] ??= { samples: [] });
  }

  addSample(l: Line, t: TargetName, s: Sample): void {
    const c = this.cell(l, t);
    c.samples.push(s);
    const vs = c.samples.map((x) => x.value);
    c.value = median(vs);
    c.min = Math.min(...vs);
    c.max = Math.max(...vs);
    if (l.cost) {
      const work = c.samples.reduce((a, x) => a + (x.work ?? 0), 0);
      if (work > 0) c.serverCpuCost = (l.cost.scale * c.samples.reduce((a, x) => a + x.serverCpuS, 0)) / work;
    }
    this.ratio(l);
  }

  setValue(l: Line, t: TargetName, value: number, extra?: Record<string, unknown>): void {
    const c = this.cell(l, t);
    c.value = value;
    c.min = value;
    c.max = value;
    if (extra) c.samples.push({ value, wallS: 0, serverCpuS: 0, extra });
    this.ratio(l);
  }

  setError(l: Line, t: TargetName, err: unknown): void {
    const c = this.cell(l, t);
    c.error = err instanceof Error ? err.message : String(err);
  }

  private ratio(l: Line): void {
    const w = l.cells.wharf?.value;
    const r = l.cells.reference?.value;
    l.ratio = w !== undefined && r !== undefined && r > 0 ? w / r : undefined;
  }

  errors(): number {
    return this.lines.reduce((n, l) => n + Object.values(l.cells).filter((c) => c?.error).length, 0);
  }
}

export function fmtNum(v: number | undefined): string {
  if (v === undefined || Number.isNaN(v)) return '-';
  const a = Math.abs(v);
  if (a >= 1000) return Math.round(v).toLocaleString('en-US');
  if (a >= 100) return v.toFixed(0);
  if (a >= 10) return v.toFixed(1);
  if (a >= 1) return v.toFixed(2);
  return v.toPrecision(2);
}

function pad(s: string, w: number, right = false): string {
  return right ? s.padStart(w) : s.padEnd(w);
}

function table(head: string[], rows: string[][], rightFrom = 1): string {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const fmt = (r: string[]) => r.map((c, i) => pad(c, w[i], i >= rightFrom)).join('  ');
  return [fmt(head), w.map((n) => '-'.repeat(n)).join('  '), ...rows.map(fmt)].join('\n');
}

function cellText(c: Cell | undefined): string {
  if (!c) return '-';
  if (c.error) return 'ERR';
  return fmtNum(c.value);
}

function verdict(l: Line): string {
  if (l.ratio === undefined) return '';
  const r = l.ratio;
  const wharfBetter = l.better === 'higher' ? r > 1 : r < 1;
  const factor = r >= 1 ? r : 1 / r;
  if (Math.abs(factor - 1) < 0.03) return 'about equal';
  return `${wharfBetter ? 'wharf' : 'go-ref'} ${factor.toFixed(2)}x better`;
}

export function mainTable(res: Results, targets: TargetName[]): string {
  const cols = (['reference', 'wharf', 'null'] as TargetName[]).filter((t) => targets.includes(t));
  const head = ['benchmark', 'unit', ...cols.map((t) => (t === 'null' ? 'null-srv*' : TARGET_LABEL[t])), 'wharf/go', 'better', 'verdict'];
  const rows = res.lines.map((l) => [
    l.label,
    l.unit,
    ...cols.map((t) => cellText(l.cells[t])),
    l.ratio === undefined ? '-' : l.ratio.toFixed(2),
    l.better === 'higher' ? 'higher' : 'lower',
    verdict(l),
  ]);
  return table(head, rows, 2);
}

/** Summed CPU over all timed repetitions of a line, as % of one core of the summed wall time. */
export function cpuShare(ss: Sample[]): { wall: number; srv: number; cli: number; kern: number; other: number } | undefined {
  const xs = ss.filter((s) => s.wallS > 0);
  if (!xs.length) return undefined;
  const sum = (f: (s: Sample) => number) => xs.reduce((a, s) => a + f(s), 0);
  const w = sum((s) => s.wallS);
  return {
    wall: median(xs.map((s) => s.wallS)),
    srv: (100 * sum((s) => s.serverCpuS)) / w,
    cli: (100 * sum((s) => s.clientCpuS ?? 0)) / w,
    kern: (100 * sum((s) => s.kernelCpuS ?? 0)) / w,
    other: (100 * sum((s) => s.otherCpuS ?? 0)) / w,
  };
}

/** CPU use during the timed operations, as % of one core (200% = both cores of this machine). */
export function cpuTable(res: Results, targets: TargetName[]): string {
  const cols = (['reference', 'wharf', 'null'] as TargetName[]).filter((t) => targets.includes(t));
  const head = ['benchmark', ...cols.flatMap((t) => [`${TARGET_LABEL[t]} wall s`, 'srv', 'cli', 'kern', 'other'])];
  const rows: string[][] = [];
  for (const l of res.lines) {
    if (l.id === 'images.rate') continue;
    const shares = cols.map((t) => cpuShare(l.cells[t]?.samples ?? []));
    if (!shares.some(Boolean)) continue;
    rows.push([
      l.label,
      ...shares.flatMap((c) =>
        c ? [fmtNum(c.wall), c.srv.toFixed(0), c.cli.toFixed(0), c.kern.toFixed(0), c.other.toFixed(0)] : ['-', '-', '-', '-', '-'],
      ),
    ]);
  }
  return table(head, rows, 1);
}

/** Server CPU per unit of work: less disturbed by other load on the machine than wall time. */
export function costTable(res: Results, targets: TargetName[]): string {
  const cols = (['reference', 'wharf'] as TargetName[]).filter((t) => targets.includes(t));
  const head = ['benchmark', 'unit', ...cols.map((t) => TARGET_LABEL[t]), ...(cols.length === 2 ? ['wharf/go'] : [])];
  const rows: string[][] = [];
  for (const l of res.lines) {
    if (!l.cost) continue;
    const v = cols.map((t) => (l.cells[t]?.error ? undefined : l.cells[t]?.serverCpuCost));
    if (v.every((x) => x === undefined)) continue;
    const ratio = cols.length === 2 && v[0] && v[1] !== undefined ? (v[1] / v[0]).toFixed(2) : '-';
    rows.push([l.label, l.cost.unit, ...v.map((x) => fmtNum(x)), ...(cols.length === 2 ? [ratio] : [])]);
  }
  return table(head, rows, 2);
}

/** Lines measured while something else kept the machine busy (median other% above limit). */
export function noisyLines(res: Results, limit = 25): string[] {
  const out: string[] = [];
  for (const l of res.lines)
    for (const [t, c] of Object.entries(l.cells)) {
      const sh = cpuShare(c?.samples ?? []);
      if (sh && sh.other > limit) out.push(`${l.label} [${TARGET_LABEL[t as TargetName]}]: other ${sh.other.toFixed(0)}%`);
    }
  return out;
}

export function errorList(res: Results): string {
  const out: string[] = [];
  for (const l of res.lines)
    for (const [t, c] of Object.entries(l.cells))
      if (c?.error) out.push(`  ${l.label} [${TARGET_LABEL[t as TargetName]}]: ${c.error.split('\n')[0].slice(0, 300)}`);
  return out.join('\n');
}
