import { describe, expect, it } from 'vitest';
import { OciError } from '../errors/oci-errors.ts';
import { digestOf, isDigest, parseDigest } from './digest.ts';
import { parseManifest } from './manifest.ts';
import { MT } from './media-types.ts';
import { isValidName, isValidTag } from './names.ts';

const D = digestOf('x');

describe('digests', () => {
  it.each([
    [D, true],
    [`sha512:${'a'.repeat(128)}`, true],
    [`sha256:${'A'.repeat(64)}`, false],
    [`sha256:${'a'.repeat(63)}`, false],
    [`sha512:${'a'.repeat(64)}`, false],
    ['md5:abcd', false],
    ['sha256', false],
    ['', false],
    [`sha256:${'g'.repeat(64)}`, false],
  ])('%s → %s', (d, ok) => expect(isDigest(d)).toBe(ok));

  it('errors are DIGEST_INVALID 400', () => {
    try {
      parseDigest('nope');
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(OciError);
      expect((e as OciError).code).toBe('DIGEST_INVALID');
      expect((e as OciError).status).toBe(400);
    }
  });
});

describe('names and tags', () => {
  it.each(['a', 'library/ubuntu', 'team/app/api', 'a.b_c__d-e---f/g', 'x0/y1/z2'])('valid name %s', (n) => expect(isValidName(n)).toBe(true));
  it.each(['', 'A', '../etc', 'a/../b', 'a//b', '/a', 'a/', '-a', 'a-', 'a___b', 'a..b', '%2e%2e', 'a b', 'a'.repeat(256)])('invalid name %s', (n) => expect(isValidName(n)).toBe(false));
  it.each(['latest', 'v1.0.0', '_x', 'A-b_c.d', 't'.repeat(128)])('valid tag %s', (t) => expect(isValidTag(t)).toBe(true));
  it.each(['', '.x', '-x', 't'.repeat(129), 'a/b', 'a:b'])('invalid tag %s', (t) => expect(isValidTag(t)).toBe(false));
});

const desc = (mediaType: string, extra: object = {}) => ({ mediaType, digest: D, size: 1, ...extra });

describe('manifest parsing', () => {
  it('OCI image manifest: config + layers are blob references; artifactType falls back to config type', () => {
    const m = parseManifest(Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MT.OCI_MANIFEST, config: desc(MT.OCI_CONFIG), layers: [desc('application/vnd.oci.image.layer.v1.tar+gzip')] })), MT.OCI_MANIFEST);
    expect(m.kind).toBe('image');
    expect(m.blobs.length).toBe(2);
    expect(m.artifactType).toBe(MT.OCI_CONFIG);
  });

  it('artifact with subject and artifactType', () => {
    const m = parseManifest(
      Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MT.OCI_MANIFEST, artifactType: 'application/x.sig', config: desc(MT.OCI_EMPTY), layers: [], subject: desc(MT.OCI_MANIFEST) })),
      MT.OCI_MANIFEST,
    );
    expect(m.artifactType).toBe('application/x.sig');
    expect(m.subject?.digest).toBe(D);
  });

  it('index children are manifest references', () => {
    const m = parseManifest(Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MT.OCI_INDEX, manifests: [desc(MT.OCI_MANIFEST), desc(MT.OCI_MANIFEST)] })), MT.OCI_INDEX);
    expect(m.kind).toBe('index');
    expect(m.manifests.length).toBe(2);
    expect(m.blobs.length).toBe(0);
  });

  it('Docker schema 2 and manifest list', () => {
    expect(parseManifest(Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MT.DOCKER_MANIFEST, config: desc('application/vnd.docker.container.image.v1+json'), layers: [desc('application/vnd.docker.image.rootfs.diff.tar.gzip')] })), MT.DOCKER_MANIFEST).kind).toBe('image');
    expect(parseManifest(Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MT.DOCKER_LIST, manifests: [desc(MT.DOCKER_MANIFEST)] })), MT.DOCKER_LIST).kind).toBe('index');
  });

  it('foreign layers with urls are not required to be in the registry', () => {
    const m = parseManifest(
      Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MT.DOCKER_MANIFEST, config: desc('application/vnd.docker.container.image.v1+json'), layers: [desc(MT.DOCKER_FOREIGN_LAYER, { urls: ['https://example.com/l'] })] })),
      MT.DOCKER_MANIFEST,
    );
    expect(m.blobs.length).toBe(1);
  });

  it('media type from the body when Content-Type is generic or absent', () => {
    expect(parseManifest(Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MT.OCI_INDEX, manifests: [] })), undefined).mediaType).toBe(MT.OCI_INDEX);
    expect(parseManifest(Buffer.from(JSON.stringify({ schemaVersion: 2, config: desc(MT.OCI_CONFIG), layers: [] })), 'application/json').mediaType).toBe(MT.OCI_MANIFEST);
  });

  it.each([
    ['not json', '{', MT.OCI_MANIFEST],
    ['array', '[]', MT.OCI_MANIFEST],
    ['schema 1', JSON.stringify({ schemaVersion: 1 }), MT.DOCKER_SCHEMA1_SIGNED],
    ['mismatch', JSON.stringify({ schemaVersion: 2, mediaType: MT.OCI_INDEX, manifests: [] }), MT.OCI_MANIFEST],
    ['unknown type', JSON.stringify({ schemaVersion: 2, config: desc(MT.OCI_CONFIG), layers: [] }), 'application/x-whatever'],
    ['missing config', JSON.stringify({ schemaVersion: 2, mediaType: MT.OCI_MANIFEST, layers: [] }), MT.OCI_MANIFEST],
    ['bad layer digest', JSON.stringify({ schemaVersion: 2, mediaType: MT.OCI_MANIFEST, config: desc(MT.OCI_CONFIG), layers: [{ mediaType: 'x', digest: 'sha256:zz', size: 1 }] }), MT.OCI_MANIFEST],
    ['negative size', JSON.stringify({ schemaVersion: 2, mediaType: MT.OCI_MANIFEST, config: { ...desc(MT.OCI_CONFIG), size: -1 }, layers: [] }), MT.OCI_MANIFEST],
    ['annotation not string', JSON.stringify({ schemaVersion: 2, mediaType: MT.OCI_MANIFEST, config: desc(MT.OCI_CONFIG), layers: [], annotations: { a: 1 } }), MT.OCI_MANIFEST],
    ['index with layers', JSON.stringify({ schemaVersion: 2, mediaType: MT.OCI_INDEX, manifests: [], layers: [] }), MT.OCI_INDEX],
  ])('%s → MANIFEST_INVALID', (_n, body, ct) => {
    try {
      parseManifest(Buffer.from(body), ct);
      expect.unreachable();
    } catch (e) {
      expect((e as OciError).code).toBe('MANIFEST_INVALID');
    }
  });
});
