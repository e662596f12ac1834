// Conformance workflow 2: Push (port of distribution-spec conformance/02_push_test.go):
// streamed, monolithic and chunked blob uploads, cross-repository mounts, manifest uploads.
// Sequential: specs hand responses (upload locations) to the ones after them.
import { afterAll, beforeAll, describe, test } from 'vitest';
import {
  PUSH,
  automaticCrossmountEnabled,
  chunked,
  configs,
  crossmountNamespace,
  deleteAccepted,
  deleteManifestBeforeBlobs,
  dummyDigest,
  emptyLayerManifestContent,
  emptyLayerManifestDigest,
  emptyLayerTestTag,
  expectHeaderEquals,
  expectHeaderPresent,
  expectStatus,
  expectThat,
  fail,
  layerBlobContentLength,
  layerBlobData,
  layerBlobDigest,
  manifests,
  MT_MANIFEST,
  nonexistentManifest,
  openTarget,
  runAutomaticCrossmountTest,
  runPushSetup,
  setupChunkedBlob,
  testBlobA,
  testBlobADigest,
  testBlobALength,
  warn,
  workflowEnabled,
  type Client,
  type OciResponse,
  type Target,
} from './setup.ts';

const octet = { 'Content-Type': 'application/octet-stream' };

describe.skipIf(!workflowEnabled(PUSH))('Push', () => {
  let target: Target;
  let c: Client;
  let lastResponse: OciResponse | undefined;
  let prevResponse: OciResponse | undefined;
  let emptyLayerManifestRef = '';

  beforeAll(async () => {
    target = await openTarget(PUSH);
    c = target.client;
  });
  afterAll(async () => {
    await target?.close();
  });

  /** The session URL a spec continues from; fails clearly when the earlier spec left none. */
  const locationOf = (r: OciResponse | undefined, what: string): string => {
    if (!r) fail(what, 'a response from the previous spec', undefined, 'none (the previous spec failed before its request)');
    const loc = r.relativeLocation();
    if (!loc) fail(what, 'a Location header on the previous response', r, 'no Location');
    return loc;
  };

  // Setup: no setup required at this time for push tests

  describe('Blob Upload Streamed', () => {
    test('PATCH request with blob in body should yield 202 response', async () => {
      const post = await c.do('POST', '/v2/<name>/blobs/uploads/');
      expectHeaderPresent(post, 'Location', 'POST /blobs/uploads/ (streamed upload)');
      const resp = await c.do('PATCH', post.relativeLocation(), { headers: octet, body: testBlobA });
      expectStatus(resp, 'PATCH whole blob (streamed, no Content-Range)', 202);
      lastResponse = resp;
    });

    test('PUT request to session URL with digest should yield 201 response', async () => {
      const loc = locationOf(lastResponse, 'PUT to close streamed upload');
      // no body: Go sends Content-Length: 0 whatever Content-Length header the suite sets
      const resp = await c.do('PUT', loc, {
        query: { digest: testBlobADigest },
        headers: { ...octet, 'Content-Length': testBlobALength },
      });
      expectStatus(resp, 'PUT ?digest= closing a streamed upload', 201);
      expectHeaderPresent(resp, 'Location', 'PUT ?digest= closing a streamed upload');
    });
  });

  describe('Blob Upload Monolithic', () => {
    test('GET nonexistent blob should result in 404 response', async () => {
      const resp = await c.do('GET', '/v2/<name>/blobs/<digest>', { digest: dummyDigest });
      expectStatus(resp, 'GET nonexistent blob', 404);
    });

    test('POST request with digest and blob should yield a 201 or 202', async () => {
      const resp = await c.do('POST', '/v2/<name>/blobs/uploads/', {
        query: { digest: configs[1].digest },
        headers: { 'Content-Length': configs[1].contentLength, ...octet },
        body: configs[1].content,
      });
      expectHeaderPresent(resp, 'Location', 'POST /blobs/uploads/?digest= with the blob (single POST)');
      expectStatus(resp, 'POST /blobs/uploads/?digest= with the blob (single POST)', 201, 202);
      lastResponse = resp;
    });

    test('GET request to blob URL from prior request should yield 200 or 404 based on response code', async () => {
      if (!lastResponse) fail('GET blob after single POST', 'the previous spec to have run', undefined, 'no previous response');
      const resp = await c.do('GET', '/v2/<name>/blobs/<digest>', { digest: configs[1].digest });
      if (lastResponse.status === 202) expectStatus(resp, 'GET blob after a single POST answered 202 (session, nothing stored)', 404);
      else expectStatus(resp, `GET blob after a single POST answered ${lastResponse.status}`, 200);
    });

    test('POST request should yield a session ID', async () => {
      const resp = await c.do('POST', '/v2/<name>/blobs/uploads/');
      expectStatus(resp, 'POST /blobs/uploads/', 202);
      lastResponse = resp;
    });

    test('PUT upload of a blob should yield a 201 Response', async () => {
      const loc = locationOf(lastResponse, 'monolithic PUT');
      const resp = await c.do('PUT', loc, {
        query: { digest: configs[1].digest },
        headers: { 'Content-Length': configs[1].contentLength, ...octet },
        body: configs[1].content,
      });
      expectHeaderPresent(resp, 'Location', 'monolithic PUT ?digest= with the blob');
      expectStatus(resp, 'monolithic PUT ?digest= with the blob', 201);
    });

    test('GET request to existing blob should yield 200 response', async () => {
      const resp = await c.do('GET', '/v2/<name>/blobs/<digest>', { digest: configs[1].digest });
      expectStatus(resp, 'GET blob after monolithic PUT', 200);
    });

    test('PUT upload of a layer blob should yield a 201 Response', async () => {
      const post = await c.do('POST', '/v2/<name>/blobs/uploads/');
      const resp = await c.do('PUT', post.relativeLocation() || '/', {
        query: { digest: layerBlobDigest },
        headers: { 'Content-Length': layerBlobContentLength, ...octet },
        body: layerBlobData,
      });
      expectHeaderPresent(resp, 'Location', 'monolithic PUT of the layer blob');
      expectStatus(resp, 'monolithic PUT of the layer blob', 201);
    });

    test('GET request to existing layer should yield 200 response', async () => {
      const resp = await c.do('GET', '/v2/<name>/blobs/<digest>', { digest: layerBlobDigest });
      expectStatus(resp, 'GET layer blob', 200);
    });
  });

  describe('Blob Upload Chunked', () => {
    test('Out-of-order blob upload should return 416', async () => {
      const post = await c.do('POST', '/v2/<name>/blobs/uploads/', { headers: { 'Content-Length': '0' } });
      expectHeaderPresent(post, 'Location', 'POST /blobs/uploads/ (chunked upload)');
      // rebuild the chunked blob if the registry wants bigger chunks than ours
      const minSizeStr = post.header('OCI-Chunk-Min-Length');
      if (minSizeStr !== '') {
        const minSize = Number.parseInt(minSizeStr, 10);
        expectThat(Number.isInteger(minSize) && String(minSize) === minSizeStr.trim(), 'OCI-Chunk-Min-Length', 'an integer', minSizeStr, post);
        if (minSize > chunked.chunk1.length) setupChunkedBlob(minSize * 2 - 2);
      }
      const resp = await c.do('PATCH', post.relativeLocation(), {
        headers: { ...octet, 'Content-Length': chunked.chunk2Length, 'Content-Range': chunked.chunk2Range },
        body: chunked.chunk2,
      });
      expectStatus(resp, `PATCH second chunk first (Content-Range ${chunked.chunk2Range} on an empty upload)`, 416);
    });

    test('PATCH request with first chunk should return 202', async () => {
      const post = await c.do('POST', '/v2/<name>/blobs/uploads/', { headers: { 'Content-Length': '0' } });
      expectHeaderPresent(post, 'Location', 'POST /blobs/uploads/ (chunked upload)');
      prevResponse = post;
      const resp = await c.do('PATCH', post.relativeLocation(), {
        headers: { ...octet, 'Content-Length': chunked.chunk1Length, 'Content-Range': chunked.chunk1Range },
        body: chunked.chunk1,
      });
      expectStatus(resp, `PATCH first chunk (Content-Range ${chunked.chunk1Range})`, 202);
      expectHeaderEquals(resp, 'Range', chunked.chunk1Range, 'PATCH first chunk: Range header');
      lastResponse = resp;
    });

    test('Retry previous blob chunk should return 416', async () => {
      // the POST's location: for registries that encode state in the URL, a stale one
      const loc = locationOf(prevResponse, 'retry first chunk');
      const resp = await c.do('PATCH', loc, {
        headers: { ...octet, 'Content-Length': chunked.chunk1Length, 'Content-Range': chunked.chunk1Range },
        body: chunked.chunk1,
      });
      expectStatus(resp, `PATCH first chunk again (Content-Range ${chunked.chunk1Range} after ${chunked.chunk1.length} bytes were received)`, 416);
    });

    test('Get on stale blob upload should return 204 with a range and location', async () => {
      const loc = locationOf(prevResponse, 'GET upload status');
      const resp = await c.do('GET', loc);
      expectStatus(resp, 'GET upload status (via the POST location)', 204);
      expectHeaderPresent(resp, 'Location', 'GET upload status');
      expectHeaderEquals(resp, 'Range', chunked.chunk1Range, 'GET upload status: Range header');
      lastResponse = resp;
    });

    test('PATCH request with second chunk should return 202', async () => {
      const loc = locationOf(lastResponse, 'PATCH second chunk');
      const resp = await c.do('PATCH', loc, {
        headers: { 'Content-Length': chunked.chunk2Length, 'Content-Range': chunked.chunk2Range, ...octet },
        body: chunked.chunk2,
      });
      expectStatus(resp, `PATCH second chunk (Content-Range ${chunked.chunk2Range})`, 202);
      expectHeaderPresent(resp, 'Location', 'PATCH second chunk');
      lastResponse = resp;
    });

    test('PUT request with digest should return 201', async () => {
      const loc = locationOf(lastResponse, 'PUT closing chunked upload');
      const resp = await c.do('PUT', loc, {
        query: { digest: chunked.digest },
        headers: { 'Content-Length': '0', ...octet },
      });
      expectStatus(resp, 'PUT ?digest= with no body, closing a chunked upload', 201);
      expectHeaderPresent(resp, 'Location', 'PUT closing a chunked upload');
    });
  });

  describe('Cross-Repository Blob Mount', () => {
    test('Cross-mounting of a blob without the from argument should yield session id', async () => {
      const resp = await c.do('POST', '/v2/<name>/blobs/uploads/', { name: crossmountNamespace, query: { mount: dummyDigest } });
      expectStatus(resp, `POST ?mount=<unknown digest> (no from) into ${crossmountNamespace}`, 202);
      expectHeaderPresent(resp, 'Location', 'POST ?mount= (no from): session Location');
    });

    test("POST request to mount another repository's blob should return 201 or 202", async () => {
      const resp = await c.do('POST', '/v2/<name>/blobs/uploads/', {
        name: crossmountNamespace,
        query: { mount: testBlobADigest, from: c.defaultName },
      });
      expectStatus(resp, `POST ?mount=<testBlobA>&from=${c.defaultName} into ${crossmountNamespace}`, 201, 202);
      lastResponse = resp;
    });

    test('GET request to test digest within cross-mount namespace should return 200', async (ctx) => {
      if (lastResponse?.status !== 201) return ctx.skip('the mount was not answered 201');
      const want = `/v2/${crossmountNamespace}/blobs/${testBlobADigest}`;
      const got = lastResponse.relativeLocation();
      expectThat(got === want, 'mount 201: Location', `Location path ${want}`, got || '(none)', lastResponse);
      const resp = await c.do('GET', got);
      expectStatus(resp, 'GET mounted blob in the cross-mount namespace', 200);
    });

    test('Cross-mounting of nonexistent blob should yield session id', async (ctx) => {
      if (lastResponse?.status !== 202) return ctx.skip('the mount was not answered 202');
      const prefix = `/v2/${crossmountNamespace}/blobs/uploads/`;
      const got = lastResponse.relativeLocation();
      expectThat(got.startsWith(prefix), 'mount 202: Location', `Location path starting ${prefix}`, got || '(none)', lastResponse);
    });

    test('Cross-mounting without from, and automatic content discovery enabled should return a 201', async (ctx) => {
      if (!runAutomaticCrossmountTest) return ctx.skip('OCI_AUTOMATIC_CROSSMOUNT unset');
      if (lastResponse?.status !== 201) return ctx.skip('the mount with from was not answered 201');
      if (!automaticCrossmountEnabled) return ctx.skip('OCI_AUTOMATIC_CROSSMOUNT is false');
      const resp = await c.do('POST', '/v2/<name>/blobs/uploads/', { name: crossmountNamespace, query: { mount: testBlobADigest } });
      expectStatus(resp, 'POST ?mount=<testBlobA> without from (automatic content discovery enabled)', 201);
    });

    test('Cross-mounting without from, and automatic content discovery disabled should return a 202', async (ctx) => {
      if (!runAutomaticCrossmountTest) return ctx.skip('OCI_AUTOMATIC_CROSSMOUNT unset');
      if (lastResponse?.status !== 201) return ctx.skip('the mount with from was not answered 201');
      if (automaticCrossmountEnabled) return ctx.skip('OCI_AUTOMATIC_CROSSMOUNT is true');
      const resp = await c.do('POST', '/v2/<name>/blobs/uploads/', { name: crossmountNamespace, query: { mount: testBlobADigest } });
      expectStatus(resp, 'POST ?mount=<testBlobA> without from (automatic content discovery disabled)', 202);
    });
  });

  describe('Manifest Upload', () => {
    test('GET nonexistent manifest should return 404', async () => {
      const resp = await c.do('GET', '/v2/<name>/manifests/<reference>', { reference: nonexistentManifest });
      expectStatus(resp, 'GET nonexistent manifest', 404);
    });

    test('PUT should accept a manifest upload', async () => {
      for (let i = 0; i < 4; i++) {
        const tag = `test${i}`;
        const resp = await c.do('PUT', '/v2/<name>/manifests/<reference>', {
          reference: tag,
          headers: { 'Content-Type': MT_MANIFEST },
          body: manifests[1].content,
        });
        expectHeaderPresent(resp, 'Location', `PUT manifest[1] as tag ${tag}`);
        expectStatus(resp, `PUT manifest[1] as tag ${tag}`, 201);
      }
    });

    test('Registry should accept a manifest upload with no layers', async (ctx) => {
      const resp = await c.do('PUT', '/v2/<name>/manifests/<reference>', {
        reference: emptyLayerTestTag,
        headers: { 'Content-Type': MT_MANIFEST },
        body: emptyLayerManifestContent,
      });
      if (resp.status === 201) {
        emptyLayerManifestRef = expectHeaderPresent(resp, 'Location', 'PUT manifest with no layers');
      } else {
        await warn(ctx, `image manifest with no layers is not supported (PUT answered ${resp.status}: ${resp.text().slice(0, 200)})`);
      }
    });

    test('GET request to manifest URL (digest) should yield 200 response', async () => {
      const resp = await c.do('GET', '/v2/<name>/manifests/<digest>', { digest: manifests[1].digest, headers: { Accept: MT_MANIFEST } });
      expectStatus(resp, 'GET manifest[1] by digest', 200);
    });
  });

  describe('Teardown', () => {
    const deleteManifestSpec = () =>
      test('Delete manifest created in tests', async (ctx) => {
        if (!runPushSetup) return ctx.skip('push setup disabled');
        const resp = await c.do('DELETE', '/v2/<name>/manifests/<digest>', { digest: manifests[1].digest });
        deleteAccepted(resp, 'DELETE manifest[1] (tags test0..test3)', 405);
        if (emptyLayerManifestRef !== '') {
          const r2 = await c.do('DELETE', '/v2/<name>/manifests/<reference>', { reference: emptyLayerManifestDigest });
          deleteAccepted(r2, 'DELETE the no-layers manifest', 405);
        }
      });

    if (deleteManifestBeforeBlobs) deleteManifestSpec();

    test('Delete config blob created in tests', async (ctx) => {
      if (!runPushSetup) return ctx.skip('push setup disabled');
      const resp = await c.do('DELETE', '/v2/<name>/blobs/<digest>', { digest: configs[1].digest });
      deleteAccepted(resp, 'DELETE config[1] blob', 404, 405);
    });

    test('Delete layer blob created in setup', async (ctx) => {
      if (!runPushSetup) return ctx.skip('push setup disabled');
      const resp = await c.do('DELETE', '/v2/<name>/blobs/<digest>', { digest: layerBlobDigest });
      deleteAccepted(resp, 'DELETE layer blob', 404, 405);
    });

    if (!deleteManifestBeforeBlobs) deleteManifestSpec();
  });
});
