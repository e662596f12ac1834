// Namespaces of the vulnerability database: which advisories apply to which packages.
// Language ecosystems keep OSV's spelling ("npm", "PyPI", "Go", "Maven", "crates.io");
// distributions are lower-case "<distro>:<release>", Debian by codename ("debian:bookworm", also
// for OSV's "Debian:12"), Alpine by branch ("alpine:v3.18").

/** OSV's language ecosystems, by lower-case spelling. */
const LANGUAGE: Record<string, string> = Object.fromEntries(
  ['npm', 'PyPI', 'Go', 'Maven', 'crates.io', 'RubyGems', 'NuGet', 'Packagist', 'Hex', 'Pub', 'SwiftURL', 'Hackage', 'CRAN', 'GHC'].map((e) => [e.toLowerCase(), e]),
);

/** Debian major release → codename. */
export const DEBIAN_CODENAMES: Record<string, string> = {
  '7': 'wheezy',
  '8': 'jessie',
  '9': 'stretch',
  '10': 'buster',
  '11': 'bullseye',
  '12': 'bookworm',
  '13': 'trixie',
  '14': 'forky',
};

/** The namespace for an OSV `affected[].package.ecosystem`. */
export function osvNamespace(ecosystem: string): string {
  const e = ecosystem.trim();
  const lang = LANGUAGE[e.toLowerCase()];
  if (lang) return lang;
  const [distro, ...rest] = e.split(':');
  const d = distro!.trim().toLowerCase();
  if (d === 'debian' && rest.length >= 1) {
    const rel = rest[0]!.trim().toLowerCase();
    return `debian:${DEBIAN_CODENAMES[rel.split('.')[0]!] ?? rel}`;
  }
  if (d === 'alpine' && rest.length >= 1) return alpineNamespace(rest[0]!);
  return e.toLowerCase();
}

export function alpineNamespace(branch: string): string {
  const b = branch.trim().toLowerCase();
  return `alpine:${b.startsWith('v') || b === 'edge' ? b : `v${b}`}`;
}

/** PEP 503 normalised project name. */
export function pep503(name: string): string {
  return name.trim().toLowerCase().replace(/[-_.]+/g, '-');
}

/** The package key of a namespace: PyPI names PEP 503-normalised, the rest as given. */
export function packageKey(namespace: string, name: string): string {
  if (namespace === 'PyPI') return pep503(name);
  return name.trim();
}
