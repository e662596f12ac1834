// CVSS v3.0/v3.1 base score from a vector string, by the CVSS v3.1 specification's formulas
// (section 7.1 and Appendix A's Roundup); v3.0 vectors use the same formulas (3.1 only made the
// rounding exact). Severity bands per the specification's qualitative rating scale.
import type { Severity } from '../types.ts';

const AV: Record<string, number> = { N: 0.85, A: 0.62, L: 0.55, P: 0.2 };
const AC: Record<string, number> = { L: 0.77, H: 0.44 };
const UI: Record<string, number> = { N: 0.85, R: 0.62 };
const CIA: Record<string, number> = { H: 0.56, L: 0.22, N: 0 };

/** Roundup of CVSS 3.1 Appendix A: the smallest number with one decimal ≥ x, free of float noise. */
export function roundup(x: number): number {
  const i = Math.round(x * 100000);
  return i % 10000 === 0 ? i / 100000 : (Math.floor(i / 10000) + 1) / 10;
}

export interface Cvss3 {
  version: '3.0' | '3.1';
  baseScore: number;
}

/** Parse a CVSS:3.x vector and compute its base score; null for anything else or a malformed vector. */
export function cvss3(vector: string): Cvss3 | null {
  const parts = vector.trim().split('/');
  const head = /^CVSS:(3\.[01])$/.exec(parts[0] ?? '');
  if (!head) return null;
  const m: Record<string, string> = {};
  for (const p of parts.slice(1)) {
    const [k, v, extra] = p.split(':');
    if (!k || v === undefined || extra !== undefined || k in m) return null;
    m[k] = v;
  }
  const av = AV[m.AV!];
  const ac = AC[m.AC!];
  const ui = UI[m.UI!];
  const s = m.S;
  const c = CIA[m.C!];
  const i = CIA[m.I!];
  const a = CIA[m.A!];
  if (av === undefined || ac === undefined || ui === undefined || c === undefined || i === undefined || a === undefined || (s !== 'U' && s !== 'C')) return null;
  const changed = s === 'C';
  const pr = m.PR === 'N' ? 0.85 : m.PR === 'L' ? (changed ? 0.68 : 0.62) : m.PR === 'H' ? (changed ? 0.5 : 0.27) : undefined;
  if (pr === undefined) return null;
  const iss = 1 - (1 - c) * (1 - i) * (1 - a);
  const impact = changed ? 7.52 * (iss - 0.029) - 3.25 * Math.pow(iss - 0.02, 15) : 6.42 * iss;
  const exploitability = 8.22 * av * ac * pr * ui;
  let base: number;
  if (impact <= 0) base = 0;
  else if (changed) base = roundup(Math.min(1.08 * (impact + exploitability), 10));
  else base = roundup(Math.min(impact + exploitability, 10));
  return { version: head[1] as '3.0' | '3.1', baseScore: base };
}

/**
 * Harbor's scale from a CVSS score: ≥ 9 Critical, ≥ 7 High, ≥ 4 Medium, > 0 Low. A score of 0.0
 * (CVSS "None": no impact) maps to Negligible, the scale's step below Low.
 */
export function severityOfScore(score: number): Severity {
  if (score >= 9) return 'Critical';
  if (score >= 7) return 'High';
  if (score >= 4) return 'Medium';
  if (score > 0) return 'Low';
  return 'Negligible';
}

/** A textual severity (GHSA's LOW/MODERATE/HIGH/CRITICAL, Debian urgencies, …) on Harbor's scale. */
export function severityOfText(text: string | undefined | null): Severity {
  const t = (text ?? '').replace(/\*+/g, '').trim().toLowerCase();
  switch (t) {
    case 'critical':
      return 'Critical';
    case 'high':
    case 'important':
      return 'High';
    case 'medium':
    case 'moderate':
      return 'Medium';
    case 'low':
      return 'Low';
    case 'unimportant':
    case 'negligible':
      return 'Negligible';
    default:
      return 'Unknown';
  }
}
