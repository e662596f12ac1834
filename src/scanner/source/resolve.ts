// `wharf scan <spec>`: which source a spec names, in this order:
//   1. `wharf://project/repo[:tag|@digest]` → Wharf's own storage (needs opts.local)
//   2. `oci:DIR[:ref]` or an existing directory (`DIR`, or `DIR:ref` when DIR exists) with
//      `oci-layout` + `index.json` → OCI image layout; the ref (or opts.ref) selects an image by
//      its `org.opencontainers.image.ref.name` annotation
//   3. an existing file → a tar archive: `docker save` output or an OCI layout in a tar
//      (oci-archive), also gzip-compressed; `FILE:ref` selects in an oci-archive
//   4. a path-looking spec (starts with /, ./, ../, ~) that does not exist → NOT_FOUND
//   5. with opts.local, a reference whose first component is not a host (`project/repo:tag`)
//      → Wharf's own storage
//   6. anything else → a registry reference `[host[:port]/]repo[:tag|@digest]` over HTTP(S)
//      (see registry.ts for schemes, auth, redirects, timeouts)
import { stat } from 'node:fs/promises';
import { ImageSourceError, type ResolvedImageSource } from './common.ts';
import { openImageArchive } from './archive.ts';
import { openLocalImage, type LocalStorage } from './local.ts';
import { isOciLayout, openOciLayout } from './oci-layout.ts';
import { looksLikeHost, parseRegistryReference } from './reference.ts';
import { openRegistryImage, type RegistryClientOptions } from './registry.ts';

export interface OpenImageOptions extends RegistryClientOptions {
  /** os/arch[/variant] to pick from an index; default linux/amd64, else the only image */
  platform?: string;
  /** ref name inside an OCI layout or oci-archive (overrides a `:ref` suffix) */
  ref?: string;
  /** Wharf's storage: enables `wharf://` and makes plain `project/repo:tag` specs local */
  local?: LocalStorage;
  /** what openBlob verifies while streaming (default: digest, except size for Wharf's own storage) */
  verify?: 'digest' | 'size';
}

export type SourceKind = ResolvedImageSource['kind'];

async function statOrNull(p: string) {
  return stat(p).catch(() => null);
}

/** Decide what a spec names without opening it (exported for the CLI's messages and tests). */
export async function classifySpec(spec: string, opts: Pick<OpenImageOptions, 'local'> = {}): Promise<{ kind: SourceKind; path?: string; ref?: string }> {
  if (spec.startsWith('wharf://')) return { kind: 'wharf' };
  if (spec.startsWith('oci:')) {
    const rest = spec.slice(4);
    if (await statOrNull(rest)) return { kind: 'oci-layout', path: rest };
    const i = rest.lastIndexOf(':');
    return i > 0 ? { kind: 'oci-layout', path: rest.slice(0, i), ref: rest.slice(i + 1) } : { kind: 'oci-layout', path: rest };
  }
  if (spec.startsWith('oci-archive:') || spec.startsWith('docker-archive:')) {
    const rest = spec.slice(spec.indexOf(':') + 1);
    if (await statOrNull(rest)) return { kind: 'archive', path: rest };
    const i = rest.lastIndexOf(':');
    return i > 0 ? { kind: 'archive', path: rest.slice(0, i), ref: rest.slice(i + 1) } : { kind: 'archive', path: rest };
  }
  const st = await statOrNull(spec);
  if (st?.isDirectory()) return { kind: 'oci-layout', path: spec };
  if (st?.isFile()) return { kind: 'archive', path: spec };
  const i = spec.lastIndexOf(':');
  if (i > 0) {
    const before = await statOrNull(spec.slice(0, i));
    if (before?.isDirectory()) return { kind: 'oci-layout', path: spec.slice(0, i), ref: spec.slice(i + 1) };
    if (before?.isFile()) return { kind: 'archive', path: spec.slice(0, i), ref: spec.slice(i + 1) };
  }
  if (/^(\/|\.\.?\/|~)/.test(spec)) throw new ImageSourceError('NOT_FOUND', `${spec}: no such file or directory`);
  const first = spec.split('/')[0];
  if (opts.local && spec.includes('/') && !looksLikeHost(first) && !/^[a-z]+:\/\//.test(spec)) return { kind: 'wharf' };
  return { kind: 'registry' };
}

/** Open the image a `wharf scan` spec names. Call `close()` on the result when done. */
export async function openImageSource(spec: string, opts: OpenImageOptions = {}): Promise<ResolvedImageSource> {
  const c = await classifySpec(spec, opts);
  switch (c.kind) {
    case 'wharf':
      if (!opts.local) throw new ImageSourceError('INVALID_REFERENCE', `${spec}: scanning Wharf's own storage needs its configuration (run where the data dir is)`);
      return openLocalImage(spec, opts.local, { platform: opts.platform, verify: opts.verify, name: spec });
    case 'oci-layout':
      if (!(await isOciLayout(c.path!))) throw new ImageSourceError('NOT_FOUND', `${c.path} is not an OCI image layout (no oci-layout and index.json)`);
      return openOciLayout(c.path!, { ref: opts.ref ?? c.ref, platform: opts.platform, verify: opts.verify, name: spec });
    case 'archive':
      return openImageArchive(c.path!, { ref: opts.ref ?? c.ref, platform: opts.platform, verify: opts.verify, name: spec });
    case 'registry':
      return openRegistryImage(parseRegistryReference(spec), { ...opts, name: spec });
  }
}
