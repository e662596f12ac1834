// Merges per-layer indexes into the image's view, in layer order, applying OCI whiteouts
// (`.wh.<name>` deletes a path and everything below it in lower layers; `.wh..wh..opq` hides
// everything below a directory in lower layers). A path's latest analyzed version wins.
import type { AnalyzedFile, Finding, ImageIndex, LayerRef, OsInfo, Package, ScanIssue } from '../types.ts';
import { eolOf } from '../analyzers/eol.ts';
import { debPurl } from '../analyzers/dpkg.ts';
import { apkPurl } from '../analyzers/apk.ts';
import { rpmPurl } from '../analyzers/rpm.ts';
import type { IndexedLayer, LinkEntry } from './layer-reader.ts';
import { dirnameOf, isStrictlyUnder, resolveSymlinkTarget } from './paths.ts';

export interface MergeOptions {
  /** the scan date, for OsInfo.eol (default: now) */
  now?: Date;
}

interface FindingRec {
  finding: Finding;
  layer: number;
  deletedIn?: number;
}

type Present =
  | { kind: 'files'; layer: number; files: AnalyzedFile[]; findings: FindingRec[]; keys?: string[] }
  | { kind: 'link'; layer: number; link: LinkEntry };

/** OS files by preference; a symlink at one of them is resolved inside the image. */
export const OS_FILE_PREFERENCE = [
  'etc/os-release',
  'usr/lib/os-release',
  'etc/alpine-release',
  'etc/redhat-release',
  'etc/centos-release',
  'etc/fedora-release',
  'etc/system-release',
  'etc/debian_version',
];

export function packageKey(p: Package): string {
  return [p.type, p.name, p.version, p.arch ?? '', p.path].join('\0');
}

/** hardlinks to files analyzed in a lower layer copy the target's output: bounded per image */
export const MAX_CLONED_ITEMS = 500_000;

export function mergeLayers(refs: readonly LayerRef[], layers: readonly IndexedLayer[], opts: MergeOptions = {}): ImageIndex {
  let cloneBudget = MAX_CLONED_ITEMS;
  let cloneBudgetHit = false;
  const present = new Map<string, Present>();
  const allFindings: FindingRec[] = [];
  const issues: ScanIssue[] = [];
  /** package key → index of the layer since which it has been continuously present */
  const firstSeen = new Map<string, number>();
  // how many present entries hold each package key, maintained as entries come and go (so a
  // layer costs what it changes, not what the image holds); keys whose count fell to 0 during a
  // layer lose their firstSeen at the end of it, unless the layer brought them back
  const counts = new Map<string, number>();
  const zeroed = new Set<string>();
  const added = new Set<Present>();
  const keysOf = (e: Present): string[] => {
    if (e.kind !== 'files') return [];
    if (!e.keys) {
      e.keys = [];
      for (const af of e.files) for (const p of af.output.packages ?? []) e.keys.push(packageKey({ ...p, path: p.path ?? af.path }));
    }
    return e.keys;
  };
  const addKeys = (e: Present, layer: number) => {
    for (const k of keysOf(e)) {
      counts.set(k, (counts.get(k) ?? 0) + 1);
      if (!firstSeen.has(k)) firstSeen.set(k, layer);
    }
  };
  const removeKeys = (e: Present) => {
    for (const k of keysOf(e)) {
      const n = (counts.get(k) ?? 1) - 1;
      if (n <= 0) {
        counts.delete(k);
        zeroed.add(k);
      } else counts.set(k, n);
    }
  };

  const markDeleted = (entry: Present, layer: number, keepChecks?: Set<string>) => {
    if (entry.kind !== 'files') return;
    for (const r of entry.findings) {
      if (r.deletedIn !== undefined) continue;
      if (keepChecks && keepChecks.has(r.finding.check)) continue;
      r.deletedIn = layer;
    }
  };

  // a replaced version's findings are "deleted" unless the new version reports the same check;
  // settled at the end of each layer, once the new version's findings are known
  const pendingReplaced: Array<{ old: Present; next: Present; layer: number }> = [];
  const replace = (path: string, entry: Present, layer: number) => {
    const old = present.get(path);
    if (old) {
      pendingReplaced.push({ old, next: entry, layer });
      // an entry of this same layer is not counted yet (keys are added at the end of the layer)
      if (old !== entry && !added.delete(old)) removeKeys(old);
    }
    present.delete(path);
    present.set(path, entry);
    added.add(entry);
  };
  const settleReplaced = () => {
    for (const { old, next, layer } of pendingReplaced) {
      const checks = new Set(next.kind === 'files' ? next.findings.map((r) => r.finding.check) : []);
      markDeleted(old, layer, checks);
    }
    pendingReplaced.length = 0;
  };

  layers.forEach((layer, i) => {
    const ref = refs[i]!;
    for (const iss of layer.issues ?? []) issues.push({ ...iss, layer: iss.layer ?? ref });

    // 1. whiteouts and opaque directories hide lower layers
    const wh = new Set(layer.whiteouts ?? []);
    const opq = new Set(layer.opaqueDirs ?? []);
    if (wh.size || opq.size) {
      for (const [path, entry] of present) {
        if (hiddenBy(path, wh, opq)) {
          markDeleted(entry, i);
          removeKeys(entry);
          present.delete(path);
        }
      }
    }

    // 2. this layer's analyzed files (consecutive outputs for one path are one tar entry)
    let cur: Extract<Present, { kind: 'files' }> | undefined;
    let curPath: string | undefined;
    for (const f of layer.files ?? []) {
      if (!cur || f.path !== curPath) {
        curPath = f.path;
        cur = { kind: 'files', layer: i, files: [], findings: [] };
        replace(f.path, cur, i);
      }
      cur.files.push(f);
      for (const iss of f.output.issues ?? []) issues.push({ ...iss, path: iss.path ?? f.path, layer: iss.layer ?? ref });
      for (const fd of f.output.findings ?? []) {
        const rec: FindingRec = { finding: { ...fd, path: fd.path ?? f.path }, layer: i };
        cur.findings.push(rec);
        allFindings.push(rec);
      }
    }

    // 3. links: they replace what was at their path; a hardlink the reader could not analyze
    //    takes the analyzed outputs of its target (earlier in this layer or in a lower one)
    for (const link of (layer as IndexedLayer).links ?? []) {
      if (link.type === 'link' && link.analyzed) continue;
      if (link.type === 'link') {
        const target = present.get(link.target);
        const cost = target && target.kind === 'files' ? target.files.reduce((n, af) => n + 1 + (af.output.packages?.length ?? 0) + (af.output.findings?.length ?? 0), 0) : 0;
        if (target && target.kind === 'files' && link.target !== link.path && cost > cloneBudget) {
          if (!cloneBudgetHit) issues.push({ path: link.path, layer: ref, message: `hardlinks re-use more analyzer output than allowed (${MAX_CLONED_ITEMS} items); further hardlinks to analyzed files are not analyzed` });
          cloneBudgetHit = true;
        } else if (target && target.kind === 'files' && link.target !== link.path) {
          cloneBudget -= cost;
          const files = target.files.map((af) => cloneForPath(af, link.path));
          const entry: Present = { kind: 'files', layer: i, files, findings: [] };
          for (const af of files) {
            for (const fd of af.output.findings ?? []) {
              const rec: FindingRec = { finding: { ...fd, path: link.path }, layer: i };
              entry.findings.push(rec);
              allFindings.push(rec);
            }
          }
          replace(link.path, entry, i);
          continue;
        }
      }
      replace(link.path, { kind: 'link', layer: i, link }, i);
    }

    // 4. package attribution: continuous presence since the layer that introduced it
    for (const entry of added) addKeys(entry, i);
    added.clear();
    for (const k of zeroed) if (!counts.has(k)) firstSeen.delete(k);
    zeroed.clear();
    settleReplaced();
  });


  // packages that survive, attributed to their layer
  const packages: Package[] = [];
  const seen = new Set<string>();
  const osCandidates = new Map<string, OsInfo>();
  for (const [path, entry] of present) {
    if (entry.kind !== 'files') continue;
    for (const af of entry.files) {
      if (af.output.os && !osCandidates.has(path)) osCandidates.set(path, { ...af.output.os, path: af.output.os.path ?? path });
      for (const p of af.output.packages ?? []) {
        const pkg: Package = { ...p, path: p.path ?? af.path };
        const k = packageKey(pkg);
        if (seen.has(k)) continue;
        seen.add(k);
        const li = firstSeen.get(k);
        if (li !== undefined) pkg.layer = refs[li];
        packages.push(pkg);
      }
    }
  }
  packages.sort(
    (a, b) =>
      (a.layer?.index ?? 0) - (b.layer?.index ?? 0) || cmp(a.type, b.type) || cmp(a.name, b.name) || cmp(a.path, b.path),
  );

  const os = pickOs(present, osCandidates);
  if (os) {
    if (!os.eol) {
      const eol = eolOf(os, opts.now ?? new Date());
      if (eol) os.eol = eol;
    }
    for (const p of packages) {
      if (p.type === 'deb') p.purl = debPurl(p, os);
      else if (p.type === 'apk') p.purl = apkPurl(p, os);
      else if (p.type === 'rpm') p.purl = rpmPurl(p, os);
    }
  }

  const findings: Finding[] = [];
  const fseen = new Set<string>();
  for (const r of allFindings) {
    const layer = r.finding.layer ?? refs[r.layer];
    const k = `${r.finding.check}\0${r.finding.path ?? ''}\0${layer?.index ?? r.layer}`;
    if (fseen.has(k)) continue;
    fseen.add(k);
    const f: Finding = { ...r.finding, layer };
    if (r.deletedIn !== undefined && !f.deletedIn) f.deletedIn = refs[r.deletedIn];
    findings.push(f);
  }

  return { os, packages, findings, issues, layers: [...refs] };
}

function hiddenBy(path: string, whiteouts: Set<string>, opaque: Set<string>): boolean {
  if (whiteouts.has(path)) return true;
  let dir = path;
  while (dir !== '') {
    dir = dirnameOf(dir);
    if (whiteouts.has(dir) && dir !== '') return true;
    if (opaque.has(dir) && isStrictlyUnder(path, dir)) return true;
  }
  return false;
}

function cloneForPath(af: AnalyzedFile, path: string): AnalyzedFile {
  const o = af.output;
  return {
    analyzer: af.analyzer,
    path,
    output: {
      ...(o.packages ? { packages: o.packages.map((p) => ({ ...p, path: p.path === af.path ? path : p.path })) } : {}),
      ...(o.os ? { os: { ...o.os, path } } : {}),
      ...(o.findings ? { findings: o.findings.map((f) => ({ ...f, path })) } : {}),
    },
  };
}

function pickOs(present: Map<string, Present>, candidates: Map<string, OsInfo>): OsInfo | undefined {
  const lookup = (path: string): OsInfo | undefined => {
    let p = path;
    for (let hops = 0; hops < 16; hops++) {
      const e = present.get(p);
      if (!e) return undefined;
      if (e.kind === 'files') return candidates.get(p);
      if (e.link.type === 'link') p = e.link.target;
      else p = resolveSymlinkTarget(p, e.link.target);
    }
    return undefined;
  };
  for (const path of OS_FILE_PREFERENCE) {
    const os = lookup(path);
    if (os) return { ...os };
  }
  // anything else an analyzer recognised (latest layer first)
  let best: { os: OsInfo; layer: number } | undefined;
  for (const [path, os] of candidates) {
    const e = present.get(path)!;
    if (!best || e.layer >= best.layer) best = { os, layer: e.layer };
  }
  return best ? { ...best.os } : undefined;
}

const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
