// Conformance workflow 3: Content Discovery (port of distribution-spec conformance/03_discovery_test.go):
// tag listing with `n`/`last` pagination, and the referrers API (manifests and an index with a
// subject, the artifactType filter, an unknown digest, a subject that was never pushed).
import { afterAll, beforeAll, describe, test } from 'vitest';
import {
  CONTENT_DISCOVERY,
  EMPTY_JSON_DIGEST,
  MT_INDEX,
  artifactTypeFilter,
  configs,
  deleteAccepted,
  deleteManifestBeforeBlobs,
  dummyDigest,
  emptyJSONBlob,
  emptyJSONDigest,
  expectHeaderEquals,
  expectStatus,
  expectThat,
  fail,
  getTagList,
  layerBlobContentLength,
  layerBlobData,
  layerBlobDigest,
  manifests,
  openTarget,
  parseJSON,
  pushBlobMonolithic,
  putManifest,
  refsIndexArtifact,
  refsManifestAConfigArtifact,
  refsManifestALayerArtifact,
  refsManifestBConfigArtifact,
  refsManifestBLayerArtifact,
  refsManifestCLayerArtifact,
  runContentDiscoverySetup,
  testAnnotationKey,
  testAnnotationValues,
  testRefArtifactTypeA,
  testRefBlobA,
  testRefBlobADigest,
  testRefBlobALength,
  testRefBlobB,
  testRefBlobBDigest,
  testRefBlobBLength,
  testTagName,
  warn,
  workflowEnabled,
  type Client,
  type IndexBody,
  type OciResponse,
  type Target,
} from './setup.ts';

/** Go's strings.ToLower comparison under a stable sort, and Go's sort.Strings (byte order). */
function lexical(tags: string[]): string[] {
  return tags
    .map((t, i) => [t, i] as const)
    .sort(([a, ia], [b, ib]) => {
      const la = a.toLowerCase();
      const lb = b.toLowerCase();
      return la < lb ? -1 : la > lb ? 1 : ia - ib;
    })
    .map(([t]) => t);
}
function asciibetical(tags: string[]): string[] {
  return [...tags].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
}
const sameList = (a: string[], b: string[]) => a.length === b.length && a.every((x, i) => x === b[i]);

/** Every descriptor in a referrers list carries exactly its manifest's one annotation. */
function checkAnnotations(index: IndexBody, resp: OciResponse, what: string): void {
  for (const m of index.manifests ?? []) {
    const n = Object.keys(m.annotations ?? {}).length;
    expectThat(n === 1, `${what}: annotations of ${m.digest}`, 'exactly 1 annotation (copied from the manifest)', `${n}: ${JSON.stringify(m.annotations ?? null)}`, resp);
    const want = testAnnotationValues[m.digest];
    const got = m.annotations?.[testAnnotationKey];
    expectThat(got === want, `${what}: annotation ${testAnnotationKey} of ${m.digest}`, JSON.stringify(want ?? null), JSON.stringify(got ?? null), resp);
  }
}

describe.skipIf(!workflowEnabled(CONTENT_DISCOVERY))('Content Discovery', () => {
  let target: Target;
  let c: Client;
  let numTags = 4;
  let tagList: string[] = [];

  beforeAll(async () => {
    target = await openTarget(CONTENT_DISCOVERY);
    c = target.client;
  });
  afterAll(async () => {
    await target?.close();
  });

  /** PUT a referrer and require OCI-Subject to name its subject. */
  async function putReferrer(digest: string, content: Buffer, subject: string, what: string, contentType?: string): Promise<void> {
    const resp = await putManifest(c, digest, content, `PUT ${what} by digest`, contentType);
    expectHeaderEquals(resp, 'OCI-Subject', subject, `PUT ${what}: OCI-Subject header`);
  }

  describe('Setup', () => {
    test('Populate registry with test blob', async (ctx) => {
      if (!runContentDiscoverySetup) return ctx.skip('discovery setup disabled (OCI_TAG_LIST set)');
      await pushBlobMonolithic(c, { digest: configs[2].digest, content: configs[2].content, length: configs[2].contentLength }, 'PUT config[2] blob');
    });

    test('Populate registry with test layer', async (ctx) => {
      if (!runContentDiscoverySetup) return ctx.skip('discovery setup disabled');
      await pushBlobMonolithic(c, { digest: layerBlobDigest, content: layerBlobData, length: layerBlobContentLength }, 'PUT layer blob');
    });

    test('Populate registry with test tags', async (ctx) => {
      if (!runContentDiscoverySetup) return ctx.skip('discovery setup disabled');
      for (let i = 0; i < numTags; i++) {
        // upper and lower case: the listing order is checked below
        for (const tag of [`test${i}`, `TEST${i}`]) {
          tagList.push(tag);
          await putManifest(c, tag, manifests[2].content, `PUT manifest[2] as tag ${tag}`);
        }
      }
      const resp = await c.do('GET', '/v2/<name>/tags/list');
      tagList = getTagList(resp);
    });

    test('Populate registry with test tags (no push)', (ctx) => {
      if (runContentDiscoverySetup) return ctx.skip('discovery setup runs');
      tagList = (process.env.OCI_TAG_LIST ?? '').split(',');
    });

    test('References setup', async (ctx) => {
      if (!runContentDiscoverySetup) return ctx.skip('discovery setup disabled');
      expectThat(emptyJSONDigest === EMPTY_JSON_DIGEST, 'empty JSON blob digest', EMPTY_JSON_DIGEST, emptyJSONDigest);
      await pushBlobMonolithic(c, { digest: emptyJSONDigest, content: emptyJSONBlob, length: String(emptyJSONBlob.length) }, 'PUT empty JSON blob');

      // referrers pushed before their subject exists
      await pushBlobMonolithic(c, { digest: testRefBlobADigest, content: testRefBlobA, length: testRefBlobALength }, 'PUT referrer blob A');
      await putReferrer(refsManifestAConfigArtifact.digest, refsManifestAConfigArtifact.content, manifests[4].digest, 'artifact A (config.mediaType = artifact type)');
      await putReferrer(refsManifestALayerArtifact.digest, refsManifestALayerArtifact.content, manifests[4].digest, 'artifact A (artifactType, empty JSON config)');
      await putReferrer(refsIndexArtifact.digest, refsIndexArtifact.content, manifests[4].digest, 'index artifact', MT_INDEX);

      // the subject
      await pushBlobMonolithic(c, { digest: configs[4].digest, content: configs[4].content, length: configs[4].contentLength }, 'PUT config[4] blob');
      await pushBlobMonolithic(c, { digest: layerBlobDigest, content: layerBlobData, length: layerBlobContentLength }, 'PUT layer blob');
      await putManifest(c, testTagName, manifests[4].content, `PUT manifest[4] (the subject) as tag ${testTagName}`);

      // referrers pushed after their subject
      await pushBlobMonolithic(c, { digest: testRefBlobBDigest, content: testRefBlobB, length: testRefBlobBLength }, 'PUT referrer blob B');
      await putReferrer(refsManifestBConfigArtifact.digest, refsManifestBConfigArtifact.content, manifests[4].digest, 'artifact B (config.mediaType = artifact type)');
      await putReferrer(refsManifestBLayerArtifact.digest, refsManifestBLayerArtifact.content, manifests[4].digest, 'artifact B (artifactType, empty JSON config)');

      // a referrer whose subject (manifests[3]) is never pushed
      await putReferrer(refsManifestCLayerArtifact.digest, refsManifestCLayerArtifact.content, manifests[3].digest, 'artifact C (subject never pushed)');
    });
  });

  describe('Test content discovery endpoints (listing tags)', () => {
    test('GET request to list tags should yield 200 response and be in sorted order', async () => {
      const resp = await c.do('GET', '/v2/<name>/tags/list');
      expectStatus(resp, 'GET tags/list', 200);
      tagList = getTagList(resp);
      numTags = tagList.length;
      // lexical (case-insensitive) order; historically registries sort by bytes, which is allowed too
      const ok = sameList(tagList, lexical(tagList)) || sameList(tagList, asciibetical(tagList));
      expectThat(ok, 'GET tags/list: order', `${JSON.stringify(lexical(tagList))} or ${JSON.stringify(asciibetical(tagList))}`, JSON.stringify(tagList), resp);
    });

    test('GET number of tags should be limitable by `n` query parameter', async () => {
      const numResults = Math.trunc(numTags / 2);
      const resp = await c.do('GET', '/v2/<name>/tags/list', { query: { n: String(numResults) } });
      expectStatus(resp, `GET tags/list?n=${numResults}`, 200);
      tagList = getTagList(resp);
      expectThat(tagList.length === numResults, `GET tags/list?n=${numResults}: count`, `${numResults} tags`, `${tagList.length}: ${JSON.stringify(tagList)}`, resp);
    });

    test('GET start of tag is set by `last` query parameter', async () => {
      const numResults = Math.trunc(numTags / 2);
      const first = await c.do('GET', '/v2/<name>/tags/list', { query: { n: String(numResults) } });
      expectStatus(first, `GET tags/list?n=${numResults}`, 200);
      tagList = getTagList(first);
      const last = tagList[numResults - 1];
      if (last === undefined) fail(`GET tags/list?n=${numResults}`, `at least ${numResults} tags`, first, JSON.stringify(tagList));
      const resp = await c.do('GET', '/v2/<name>/tags/list', { query: { n: String(numResults), last } });
      expectStatus(resp, `GET tags/list?n=${numResults}&last=${last}`, 200);
      tagList = getTagList(resp);
      expectThat(tagList.length <= numResults, `GET tags/list?n=${numResults}&last=${last}: count`, `at most ${numResults} tags`, JSON.stringify(tagList), resp);
      expectThat(!tagList.includes(last), `GET tags/list?n=${numResults}&last=${last}: start`, `tags after ${last} only`, JSON.stringify(tagList), resp);
    });
  });

  describe('Test content discovery endpoints (listing references)', () => {
    test('GET request to nonexistent blob should result in empty 200 response', async () => {
      const resp = await c.do('GET', '/v2/<name>/referrers/<digest>', { digest: dummyDigest });
      expectStatus(resp, 'GET referrers of an unknown digest', 200);
      expectHeaderEquals(resp, 'Content-Type', MT_INDEX, 'GET referrers of an unknown digest: Content-Type');
      const index = parseJSON<IndexBody>(resp, 'GET referrers of an unknown digest');
      const n = index.manifests?.length ?? 0;
      expectThat(n === 0, 'GET referrers of an unknown digest: manifests', 'an empty list', `${n} entries`, resp);
    });

    test('GET request to existing blob should yield 200', async () => {
      const resp = await c.do('GET', '/v2/<name>/referrers/<digest>', { digest: manifests[4].digest });
      expectStatus(resp, 'GET referrers of manifest[4]', 200);
      expectHeaderEquals(resp, 'Content-Type', MT_INDEX, 'GET referrers of manifest[4]: Content-Type');
      const index = parseJSON<IndexBody>(resp, 'GET referrers of manifest[4]');
      const list = index.manifests ?? [];
      expectThat(list.length === 5, 'GET referrers of manifest[4]: count', '5 (artifacts A and B, both kinds each, and the index)', `${list.length}: ${list.map((m) => m.digest).join(', ')}`, resp);
      expectThat(list[0].digest !== list[1].digest, 'GET referrers of manifest[4]: entries', 'distinct digests', `${list[0].digest} twice`, resp);
      checkAnnotations(index, resp, 'GET referrers of manifest[4]');
    });

    test('GET request to existing blob with filter should yield 200', async (ctx) => {
      const resp = await c.do('GET', '/v2/<name>/referrers/<digest>', { digest: manifests[4].digest, query: { artifactType: testRefArtifactTypeA } });
      const what = `GET referrers of manifest[4] ?artifactType=${testRefArtifactTypeA}`;
      expectStatus(resp, what, 200);
      expectHeaderEquals(resp, 'Content-Type', MT_INDEX, `${what}: Content-Type`);
      const index = parseJSON<IndexBody>(resp, what);
      const list = index.manifests ?? [];
      // "OCI-Filters-Applied: artifactType" says the filter was applied
      if (resp.header('OCI-Filters-Applied') !== '') {
        expectThat(list.length === 2, `${what}: count`, '2 (the two type-A artifacts)', `${list.length}: ${list.map((m) => `${m.digest} ${m.artifactType ?? ''}`).join(', ')}`, resp);
        expectHeaderEquals(resp, 'OCI-Filters-Applied', artifactTypeFilter, `${what}: OCI-Filters-Applied`);
        checkAnnotations(index, resp, what);
      } else {
        expectThat(list.length === 5, `${what}: count (no OCI-Filters-Applied, so unfiltered)`, '5', String(list.length), resp);
        checkAnnotations(index, resp, what);
        await warn(ctx, 'filtering by artifact-type is not implemented');
      }
    });

    test('GET request to missing manifest should yield 200', async () => {
      const resp = await c.do('GET', '/v2/<name>/referrers/<digest>', { digest: manifests[3].digest });
      const what = 'GET referrers of manifest[3] (never pushed; artifact C refers to it)';
      expectStatus(resp, what, 200);
      expectHeaderEquals(resp, 'Content-Type', MT_INDEX, `${what}: Content-Type`);
      const index = parseJSON<IndexBody>(resp, what);
      const list = index.manifests ?? [];
      expectThat(list.length === 1, `${what}: count`, '1', `${list.length}`, resp);
      expectThat(list[0].digest === refsManifestCLayerArtifact.digest, `${what}: entry`, refsManifestCLayerArtifact.digest, list[0].digest, resp);
    });
  });

  describe('Teardown', () => {
    const deleteManifestsSpec = () =>
      test('Delete created manifest & associated tags', async (ctx) => {
        if (!runContentDiscoverySetup) return ctx.skip('discovery setup disabled');
        const references = [
          refsIndexArtifact.digest,
          manifests[2].digest,
          manifests[4].digest,
          refsManifestAConfigArtifact.digest,
          refsManifestALayerArtifact.digest,
          testTagName,
          refsManifestBConfigArtifact.digest,
          refsManifestBLayerArtifact.digest,
          refsManifestCLayerArtifact.digest,
        ];
        for (const ref of references) {
          const resp = await c.do('DELETE', '/v2/<name>/manifests/<digest>', { digest: ref });
          deleteAccepted(resp, `DELETE manifest ${ref}`, 405, 404);
        }
      });

    if (deleteManifestBeforeBlobs) deleteManifestsSpec();

    test('Delete config blob created in tests', async (ctx) => {
      if (!runContentDiscoverySetup) return ctx.skip('discovery setup disabled');
      const resp = await c.do('DELETE', '/v2/<name>/blobs/<digest>', { digest: configs[2].digest });
      deleteAccepted(resp, 'DELETE config[2] blob', 405);
    });

    test('Delete layer blob created in setup', async (ctx) => {
      if (!runContentDiscoverySetup) return ctx.skip('discovery setup disabled');
      const resp = await c.do('DELETE', '/v2/<name>/blobs/<digest>', { digest: layerBlobDigest });
      deleteAccepted(resp, 'DELETE layer blob', 405);
    });

    if (!deleteManifestBeforeBlobs) deleteManifestsSpec();

    test('References teardown', async (ctx) => {
      if (!runContentDiscoverySetup) return ctx.skip('discovery setup disabled');
      const del = async (kind: 'manifests' | 'blobs', ref: string, what: string) => {
        const resp = await c.do('DELETE', `/v2/<name>/${kind}/<digest>`, { digest: ref });
        deleteAccepted(resp, what, 405, 404);
      };
      const deleteReferrerManifests = async () => {
        await del('manifests', refsIndexArtifact.digest, 'DELETE index artifact');
        await del('manifests', refsManifestAConfigArtifact.digest, 'DELETE artifact A (config type)');
        await del('manifests', refsManifestALayerArtifact.digest, 'DELETE artifact A (artifactType)');
        await del('manifests', manifests[4].digest, 'DELETE manifest[4]');
        await del('manifests', refsManifestBConfigArtifact.digest, 'DELETE artifact B (config type)');
        await del('manifests', refsManifestBLayerArtifact.digest, 'DELETE artifact B (artifactType)');
      };
      if (deleteManifestBeforeBlobs) await deleteReferrerManifests();
      await del('blobs', configs[4].digest, 'DELETE config[4] blob');
      await del('blobs', testRefBlobADigest, 'DELETE referrer blob A');
      await del('blobs', testRefBlobBDigest, 'DELETE referrer blob B');
      await del('blobs', emptyJSONDigest, 'DELETE empty JSON blob');
      if (!deleteManifestBeforeBlobs) await deleteReferrerManifests();
    });
  });
});
