// Memory and CPU of a server process (and any children it forks) from /proc.
// Peak RSS per phase: VmHWM is reset at phase start by writing 5 to /proc/<pid>/clear_refs
// (Linux >= 4.0, own/child process), and VmRSS is also sampled every 50 ms; the phase peak is
// the larger of the two (summed over the process tree when the server has children).
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';

let clkTck = 100;
try {
  clkTck = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
} catch {
  /* default */
}

export function treePids(root: number): number[] {
  const out: number[] = [];
  const walk = (pid: number) => {
    out.push(pid);
    let tasks: string[] = [];
    try {
      tasks = readdirSync(`/proc/${pid}/task`);
    } catch {
      return;
    }
    for (const t of tasks) {
      let kids = '';
      try {
        kids = readFileSync(`/proc/${pid}/task/${t}/children`, 'utf8');
      } catch {
        continue;
      }
      for (const k of kids.split(/\s+/).filter(Boolean)) walk(Number(k));
    }
  };
  walk(root);
  return out;
}

function statusKb(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  try {
    const s = readFileSync(`/proc/${pid}/status`, 'utf8');
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(s);
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/**
 * CPU seconds of the process tree. Uses per-thread /proc/<pid>/task/<tid>/schedstat (nanosecond
 * run time) so that short operations are measured precisely; falls back to utime+stime (ticks).
 * Threads that exited meanwhile are lost from the schedstat sum; registries keep their threads.
 */
export function cpuSeconds(root: number): number {
  let total = 0;
  for (const pid of treePids(root)) {
    let ns = 0;
    let ok = true;
    try {
      for (const t of readdirSync(`/proc/${pid}/task`)) ns += Number(readFileSync(`/proc/${pid}/task/${t}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      ok = false;
    }
    if (ok) {
      total += ns / 1e9;
      continue;
    }
    try {
      const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
      total += (Number(f[11]) + Number(f[12])) / clkTck; // fields 14, 15 (1-based) after pid and comm
    } catch {
      /* gone */
    }
  }
  return total;
}

export class MemWatch {
  private timer?: NodeJS.Timeout;
  private phaseMaxKb = 0;
  private pids: number[];

  constructor(readonly root: number) {
    this.pids = treePids(root);
  }

  rssKb(): number {
    return this.pids.reduce((a, p) => a + statusKb(p, 'VmRSS'), 0);
  }

  private sample = () => {
    this.pids = treePids(this.root);
    const rss = this.rssKb();
    if (rss > this.phaseMaxKb) this.phaseMaxKb = rss;
  };

  start(intervalMs = 50): void {
    this.timer = setInterval(this.sample, intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /** Start a new phase: reset the kernel's high-water mark and the sampled maximum. */
  resetPeak(): void {
    this.pids = treePids(this.root);
    for (const p of this.pids) {
      try {
        writeFileSync(`/proc/${p}/clear_refs`, '5');
      } catch {
        /* not permitted: sampled maximum only */
      }
    }
    this.phaseMaxKb = this.rssKb();
  }

  /** Peak RSS (kB) since the last resetPeak(). */
  peakKb(): number {
    this.sample();
    const hwm = this.pids.reduce((a, p) => a + statusKb(p, 'VmHWM'), 0);
    return Math.max(this.phaseMaxKb, hwm);
  }
}

/**
 * CPU seconds, since boot, of every process on the machine, split into: kernel threads (work
 * the kernel does in its own threads, e.g. writeback, network or memory workers — much of it
 * on behalf of the benchmark) and foreign user processes (anything that is not this process or
 * one of its descendants: registries, wrk, null server are all descendants). The difference of
 * two censuses is the CPU the machine spent elsewhere while an operation ran: the noise.
 */
export interface Census {
  kernel: number;
  foreign: Map<number, number>;
}

export function census(): Census {
  const procs = new Map<number, { ppid: number; cpu: number }>();
  for (const d of readdirSync('/proc')) {
    if (d.charCodeAt(0) > 57) continue; // not a pid
    try {
      const s = readFileSync(`/proc/${d}/stat`, 'utf8');
      const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
      procs.set(Number(d), { ppid: Number(f[1]), cpu: (Number(f[11]) + Number(f[12])) / clkTck });
    } catch {
      /* exited */
    }
  }
  const self = process.pid;
  const mine = new Map<number, boolean>();
  const isMine = (pid: number): boolean => {
    const known = mine.get(pid);
    if (known !== undefined) return known;
    const p = procs.get(pid);
    const r = pid === self ? true : !p || p.ppid <= 1 ? false : isMine(p.ppid);
    mine.set(pid, r);
    return r;
  };
  let kernel = 0;
  const foreign = new Map<number, number>();
  for (const [pid, p] of procs) {
    if (pid === 2 || p.ppid === 2) kernel += p.cpu;
    else if (!isMine(pid)) foreign.set(pid, p.cpu);
  }
  return { kernel, foreign };
}

/** CPU seconds between two censuses: { kernel threads, foreign processes }. */
export function censusDelta(a: Census, b: Census): { kernelS: number; otherS: number } {
  let other = 0;
  for (const [pid, cpu] of b.foreign) other += cpu - (a.foreign.get(pid) ?? 0);
  return { kernelS: Math.max(0, b.kernel - a.kernel), otherS: Math.max(0, other) };
}

/** Busy CPU seconds of the whole machine (all cores): user + nice + system + steal. */
export function machineBusyS(): number {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    return (f[0] + f[1] + f[2] + (f[7] ?? 0)) / clkTck; // guest time is already inside user
  } catch {
    return 0;
  }
}

/** CPU seconds of this process plus its reaped children (wrk, once it has exited). */
export function selfCpuS(): number {
  try {
    const s = readFileSync('/proc/self/stat', 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) / clkTck;
  } catch {
    return process.cpuUsage().user / 1e6 + process.cpuUsage().system / 1e6;
  }
}

/** CPU used by foreign processes (not this one or its descendants) over `ms`, in % of one core. */
export async function busyPercent(ms = 1000): Promise<number> {
  const a = census();
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, ms));
  return (100 * censusDelta(a, census()).otherS) / ((performance.now() - t0) / 1000);
}
