// The analyzer set a default scan runs: OS and OS packages, language packages, secrets, caches.
import type { FileAnalyzer } from '../types.ts';
import { osReleaseAnalyzer } from './os-release.ts';
import { dpkgAnalyzer } from './dpkg.ts';
import { apkAnalyzer } from './apk.ts';
import { rpmAnalyzer, rpmLegacyDbAnalyzer } from './rpm.ts';
import { npmAnalyzer } from './npm.ts';
import { pythonAnalyzer } from './python.ts';
import { goBinaryAnalyzer } from './gobinary.ts';
import { javaAnalyzer } from './java.ts';
import { secretsAnalyzer } from './secrets.ts';
import { cachesAnalyzer } from './caches.ts';

export const ANALYZER_GROUPS = {
  os: [osReleaseAnalyzer, dpkgAnalyzer, apkAnalyzer, rpmAnalyzer, rpmLegacyDbAnalyzer],
  lang: [npmAnalyzer, pythonAnalyzer, goBinaryAnalyzer, javaAnalyzer],
  secrets: [secretsAnalyzer],
  caches: [cachesAnalyzer],
} satisfies Record<string, FileAnalyzer[]>;

export type AnalyzerGroup = keyof typeof ANALYZER_GROUPS;

/** Every analyzer, or only those of the named groups. */
export function defaultAnalyzers(groups?: AnalyzerGroup[]): FileAnalyzer[] {
  const g = groups ?? (Object.keys(ANALYZER_GROUPS) as AnalyzerGroup[]);
  return g.flatMap((k) => ANALYZER_GROUPS[k]);
}
