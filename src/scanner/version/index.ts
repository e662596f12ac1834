// One entry point for the matcher and `wharf vercmp`: compare two versions under a scheme.
import type { VersionScheme } from '../types.ts';
import type { Verdict } from './util.ts';
import * as dpkg from './dpkg.ts';
import * as rpm from './rpm.ts';
import * as semver from './semver.ts';
import * as pep440 from './pep440.ts';
import * as apk from './apk.ts';
import * as go from './go.ts';
import * as maven from './maven.ts';

const COMPARATORS: Record<VersionScheme, (a: string, b: string) => Verdict> = {
  dpkg: dpkg.compare,
  rpm: rpm.compare,
  semver: semver.compare,
  pep440: pep440.compare,
  apk: apk.compare,
  go: go.compare,
  maven: maven.compare,
};

/** Every registered scheme, in a stable order (for help texts). */
export const SCHEMES = Object.keys(COMPARATORS) as VersionScheme[];

export function hasScheme(s: string): s is VersionScheme {
  return Object.prototype.hasOwnProperty.call(COMPARATORS, s);
}

/** -1, 0 or 1; throws Error with a clear message for a version the scheme cannot parse. */
export function compareVersions(scheme: VersionScheme, a: string, b: string): Verdict {
  const f = COMPARATORS[scheme];
  if (!f) throw new Error(`unknown version scheme "${scheme}"`);
  return f(a, b);
}
