// One behaviour suite for every metadata backend (SQLite, PostgreSQL).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { digestOf } from '../oci/digest.ts';
import { MissingReferencesError, type MetadataStore } from './store.ts';

const d = (s: string) => digestOf(s);

export function describeMetadata(name: string, make: () => Promise<{ store: MetadataStore; cleanup(): Promise<void> }>) {
  describe(`MetadataStore: ${name}`, () => {
    let s: MetadataStore;
    let cleanup: () => Promise<void>;
    beforeAll(async () => {
      ({ store: s, cleanup } = await make());
    });
    afterAll(async () => {
      await cleanup();
    });

    it('migrations are idempotent', async () => {
      await s.migrate();
      await s.migrate();
    });

    it('repositories are created once, concurrently', async () => {
      const rs = await Promise.all(Array.from({ length: 10 }, () => s.ensureRepository('team/app')));
      expect(new Set(rs.map((r) => r.id)).size).toBe(1);
      expect((await s.getRepository('team/app'))?.id).toBe(rs[0].id);
      expect(await s.getRepository('nope')).toBeNull();
    });

    it('a repository sees a blob only through its link', async () => {
      const a = await s.ensureRepository('links/a');
      const b = await s.ensureRepository('links/b');
      await s.commitBlob(a.id, d('blob1'), 5);
      await s.commitBlob(a.id, d('blob1'), 5); // idempotent
      expect(await s.getLinkedBlob('links/a', d('blob1'))).toEqual({ size: 5 });
      expect(await s.getLinkedBlob('links/b', d('blob1'))).toBeNull();
      expect(await s.getBlob(d('blob1'))).toEqual({ size: 5 });
      expect(await s.linkBlob(b.id, d('blob1'))).toBe(true);
      expect(await s.linkBlob(b.id, d('unknown'))).toBe(false);
      expect(await s.getLinkedBlob('links/b', d('blob1'))).toEqual({ size: 5 });
      expect(await s.unlinkBlob(b.id, d('blob1'))).toBe(true);
      expect(await s.unlinkBlob(b.id, d('blob1'))).toBe(false);
      expect(await s.getLinkedBlob('links/b', d('blob1'))).toBeNull();
      expect(await s.getLinkedBlob('links/a', d('blob1'))).toEqual({ size: 5 });
    });

    it('concurrent blob commits are all recorded (group commit), duplicates included', async () => {
      const a = await s.ensureRepository('group/a');
      const b = await s.ensureRepository('group/b');
      await Promise.all(
        Array.from({ length: 120 }, (_, i) => s.commitBlob(i % 2 ? a.id : b.id, d(`g${i % 60}`), i % 60)),
      );
      for (let i = 0; i < 60; i++) {
        expect(await s.getBlob(d(`g${i}`))).toEqual({ size: i });
        expect(await s.getLinkedBlob(i % 2 ? 'group/a' : 'group/b', d(`g${i}`))).toEqual({ size: i });
      }
    });

    it('sizes beyond 32 bits survive', async () => {
      const r = await s.ensureRepository('big/size');
      await s.commitBlob(r.id, d('huge'), 5 * 1024 ** 3 + 7);
      expect(await s.getLinkedBlob('big/size', d('huge'))).toEqual({ size: 5 * 1024 ** 3 + 7 });
    });

    it('putManifest refuses missing references and changes nothing', async () => {
      const r = await s.ensureRepository('m/missing');
      await s.commitBlob(r.id, d('cfg'), 2);
      const content = Buffer.from('{"m":1}');
      await expect(
        s.putManifest({
          repository: r.name,
          digest: digestOf(content),
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          artifactType: null,
          subjectDigest: null,
          annotations: null,
          content,
          refs: [
            { digest: d('cfg'), kind: 'config', size: 2 },
            { digest: d('nolayer'), kind: 'layer', size: 3 },
          ],
          tag: 'v1',
        }),
      ).rejects.toBeInstanceOf(MissingReferencesError);
      expect(await s.getManifestByTag('m/missing', 'v1')).toBeNull();
      expect(await s.getManifestByDigest('m/missing', digestOf(content))).toBeNull();
      expect(await s.manifestReferences(r.id, digestOf(content))).toEqual([]);
    });

    it('manifests, references, tags, index children, deletes', async () => {
      const r = await s.ensureRepository('m/full');
      await s.commitBlob(r.id, d('c'), 1);
      await s.commitBlob(r.id, d('l1'), 10);
      const img = Buffer.from('{"image":1}');
      const imgD = digestOf(img);
      await s.putManifest({
        repository: r.name,
        digest: imgD,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        artifactType: 'application/vnd.oci.image.config.v1+json',
        subjectDigest: null,
        annotations: null,
        content: img,
        refs: [
          { digest: d('c'), kind: 'config', size: 1 },
          { digest: d('l1'), kind: 'layer', size: 10 },
          { digest: d('l1'), kind: 'layer', size: 10 },
        ],
        tag: 'latest',
      });
      const got = await s.getManifestByTag('m/full', 'latest');
      expect(got?.digest).toBe(imgD);
      expect(got?.content.equals(img)).toBe(true);
      expect((await s.manifestReferences(r.id, imgD)).map((x) => x.kind)).toEqual(['config', 'layer']);
      const idx = Buffer.from('{"index":1}');
      const idxD = digestOf(idx);
      await expect(
        s.putManifest({ repository: r.name, digest: idxD, mediaType: 'application/vnd.oci.image.index.v1+json', artifactType: null, subjectDigest: null, annotations: null, content: idx, refs: [{ digest: d('nochild'), kind: 'manifest', size: 1 }] }),
      ).rejects.toBeInstanceOf(MissingReferencesError);
      await s.putManifest({ repository: r.name, digest: idxD, mediaType: 'application/vnd.oci.image.index.v1+json', artifactType: null, subjectDigest: null, annotations: null, content: idx, refs: [{ digest: imgD, kind: 'manifest', size: img.length }], tag: 'multi' });
      // retag moves the tag
      await s.putManifest({ repository: r.name, digest: idxD, mediaType: 'application/vnd.oci.image.index.v1+json', artifactType: null, subjectDigest: null, annotations: null, content: idx, refs: [{ digest: imgD, kind: 'manifest', size: img.length }], tag: 'latest' });
      expect((await s.getManifestByTag('m/full', 'latest'))?.digest).toBe(idxD);
      expect(await s.listTags(r.id, 100)).toEqual(['latest', 'multi']);
      expect(await s.deleteTag(r.id, 'multi')).toBe(true);
      expect(await s.deleteTag(r.id, 'multi')).toBe(false);
      expect(await s.deleteManifest(r.id, idxD)).toBe(true);
      expect(await s.getManifestByTag('m/full', 'latest')).toBeNull();
      expect(await s.listTags(r.id, 100)).toEqual([]);
      expect(await s.deleteManifest(r.id, idxD)).toBe(false);
      expect(await s.manifestReferences(r.id, idxD)).toEqual([]);
    });

    it('tags paginate in order', async () => {
      const r = await s.ensureRepository('m/tags');
      await s.commitBlob(r.id, d('tc'), 1);
      const c = Buffer.from('{"t":1}');
      for (const tag of ['b', 'a', 'd', 'c', 'E']) {
        await s.putManifest({ repository: r.name, digest: digestOf(c), mediaType: 'application/vnd.oci.image.manifest.v1+json', artifactType: null, subjectDigest: null, annotations: null, content: c, refs: [{ digest: d('tc'), kind: 'config', size: 1 }], tag });
      }
      expect(await s.listTags(r.id, 2)).toEqual(['E', 'a']);
      expect(await s.listTags(r.id, 2, 'a')).toEqual(['b', 'c']);
      expect(await s.listTags(r.id, 10, 'c')).toEqual(['d']);
    });

    it('referrers by subject, filtered by artifactType', async () => {
      const r = await s.ensureRepository('m/refs');
      await s.commitBlob(r.id, d('e'), 2);
      const subject = d('subject-manifest');
      for (const [i, at] of ['application/x.sig', 'application/x.sbom', 'application/x.sig'].entries()) {
        const c = Buffer.from(`{"ref":${i}}`);
        await s.putManifest({ repository: r.name, digest: digestOf(c), mediaType: 'application/vnd.oci.image.manifest.v1+json', artifactType: at, subjectDigest: subject, annotations: { n: String(i) }, content: c, refs: [{ digest: d('e'), kind: 'config', size: 2 }, { digest: subject, kind: 'subject', size: 0 }] });
      }
      expect((await s.listReferrers(r.id, subject)).length).toBe(3);
      const sigs = await s.listReferrers(r.id, subject, 'application/x.sig');
      expect(sigs.length).toBe(2);
      expect(sigs[0].annotations).toBeDefined();
      expect(await s.listReferrers(r.id, d('other'))).toEqual([]);
    });

    it('upload sessions', async () => {
      const r = await s.ensureRepository('u/p');
      await s.createUpload('abc', r.id);
      expect((await s.getUpload('abc'))?.repository).toBe('u/p');
      expect(await s.deleteUpload('abc')).toBe(true);
      expect(await s.getUpload('abc')).toBeNull();
    });

    it('catalog lists only repositories with content, paginated', async () => {
      await s.ensureRepository('zz/empty');
      const all = await s.listRepositories(1000);
      expect(all).not.toContain('zz/empty');
      expect(all).toEqual([...all].sort());
      expect(all).toContain('links/a');
      const first = await s.listRepositories(2);
      const next = await s.listRepositories(2, first[1]);
      expect(next[0] > first[1]).toBe(true);
    });
  });
}
