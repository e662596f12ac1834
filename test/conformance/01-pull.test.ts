// Conformance workflow 1: Pull (port of distribution-spec conformance/01_pull_test.go).
// Sequential: each spec may depend on the ones before it, as in the ordered Go suite.
import { afterAll, beforeAll, describe, test } from 'vitest';
import {
  PULL,
  configs,
  deleteAccepted,
  deleteManifestBeforeBlobs,
  dummyDigest,
  errorCodes,
  expectStatus,
  expectThat,
  invalidManifestContent,
  layerBlobContentLength,
  layerBlobData,
  layerBlobDigest,
  manifests,
  MT_MANIFEST,
  nonexistentManifest,
  openTarget,
  pushBlobMonolithic,
  putManifest,
  runPullSetup,
  testTagName,
  workflowEnabled,
  type Client,
  type OciResponse,
  type Target,
} from './setup.ts';

/** "if h := Docker-Content-Digest; h != "" { Expect(h).To(Equal(want)) }" */
function digestHeaderIfPresent(resp: OciResponse, want: string, what: string): void {
  const h = resp.header('Docker-Content-Digest');
  if (h !== '') expectThat(h === want, what, `Docker-Content-Digest absent or ${want}`, `Docker-Content-Digest: ${h}`, resp);
}

describe.skipIf(!workflowEnabled(PULL))('Pull', () => {
  let target: Target;
  let c: Client;
  let tag = '';

  beforeAll(async () => {
    target = await openTarget(PULL);
    c = target.client;
  });
  afterAll(async () => {
    await target?.close();
  });

  describe('Setup', () => {
    test('Populate registry with test blob (config[0])', async (ctx) => {
      if (!runPullSetup) return ctx.skip('pull setup disabled (OCI_TAG_NAME, OCI_MANIFEST_DIGEST, OCI_BLOB_DIGEST set)');
      await pushBlobMonolithic(c, { digest: configs[0].digest, content: configs[0].content, length: configs[0].contentLength }, 'PUT config[0] blob');
    });

    test('Populate registry with test blob (config[1])', async (ctx) => {
      if (!runPullSetup) return ctx.skip('pull setup disabled');
      await pushBlobMonolithic(c, { digest: configs[1].digest, content: configs[1].content, length: configs[1].contentLength }, 'PUT config[1] blob');
    });

    test('Populate registry with test layer', async (ctx) => {
      if (!runPullSetup) return ctx.skip('pull setup disabled');
      await pushBlobMonolithic(c, { digest: layerBlobDigest, content: layerBlobData, length: layerBlobContentLength }, 'PUT layer blob');
    });

    test('Populate registry with test manifest (manifest[0] by tag)', async (ctx) => {
      if (!runPullSetup) return ctx.skip('pull setup disabled');
      tag = testTagName;
      await putManifest(c, tag, manifests[0].content, `PUT manifest[0] as tag ${tag}`);
    });

    test('Populate registry with test manifest (manifest[1] by digest)', async (ctx) => {
      if (!runPullSetup) return ctx.skip('pull setup disabled');
      await putManifest(c, manifests[1].digest, manifests[1].content, 'PUT manifest[1] by digest');
    });

    test('Get tag name from environment', (ctx) => {
      if (runPullSetup) return ctx.skip('pull setup runs; the tag is the one it pushed');
      if (process.env.OCI_TAG_NAME) tag = process.env.OCI_TAG_NAME;
    });
  });

  describe('Pull blobs', () => {
    test('HEAD request to nonexistent blob should result in 404 response', async () => {
      const resp = await c.do('HEAD', '/v2/<name>/blobs/<digest>', { digest: dummyDigest });
      expectStatus(resp, 'HEAD nonexistent blob', 404);
    });

    test('HEAD request to existing blob should yield 200', async () => {
      const resp = await c.do('HEAD', '/v2/<name>/blobs/<digest>', { digest: configs[0].digest });
      expectStatus(resp, 'HEAD existing blob', 200);
      digestHeaderIfPresent(resp, configs[0].digest, 'HEAD existing blob: Docker-Content-Digest');
    });

    test('GET nonexistent blob should result in 404 response', async () => {
      const resp = await c.do('GET', '/v2/<name>/blobs/<digest>', { digest: dummyDigest });
      expectStatus(resp, 'GET nonexistent blob', 404);
    });

    test('GET request to existing blob URL should yield 200', async () => {
      const resp = await c.do('GET', '/v2/<name>/blobs/<digest>', { digest: configs[0].digest });
      expectStatus(resp, 'GET existing blob', 200);
    });
  });

  describe('Pull manifests', () => {
    const accept = { Accept: MT_MANIFEST };

    test('HEAD request to nonexistent manifest should return 404', async () => {
      const resp = await c.do('HEAD', '/v2/<name>/manifests/<reference>', { reference: nonexistentManifest });
      expectStatus(resp, 'HEAD nonexistent manifest', 404);
    });

    test('HEAD request to manifest[0] path (digest) should yield 200 response', async () => {
      const resp = await c.do('HEAD', '/v2/<name>/manifests/<digest>', { digest: manifests[0].digest, headers: accept });
      expectStatus(resp, 'HEAD manifest[0] by digest', 200);
      digestHeaderIfPresent(resp, manifests[0].digest, 'HEAD manifest[0] by digest: Docker-Content-Digest');
    });

    test('HEAD request to manifest[1] path (digest) should yield 200 response', async () => {
      const resp = await c.do('HEAD', '/v2/<name>/manifests/<digest>', { digest: manifests[1].digest, headers: accept });
      expectStatus(resp, 'HEAD manifest[1] by digest', 200);
      digestHeaderIfPresent(resp, manifests[1].digest, 'HEAD manifest[1] by digest: Docker-Content-Digest');
    });

    test('HEAD request to manifest path (tag) should yield 200 response', async () => {
      expectThat(tag !== '', 'tag from setup', 'a non-empty tag', 'empty tag');
      const resp = await c.do('HEAD', '/v2/<name>/manifests/<reference>', { reference: tag, headers: accept });
      expectStatus(resp, `HEAD manifest by tag ${tag}`, 200);
      digestHeaderIfPresent(resp, manifests[0].digest, `HEAD manifest by tag ${tag}: Docker-Content-Digest`);
    });

    test('GET nonexistent manifest should return 404', async () => {
      const resp = await c.do('GET', '/v2/<name>/manifests/<reference>', { reference: nonexistentManifest });
      expectStatus(resp, 'GET nonexistent manifest', 404);
    });

    test('GET request to manifest[0] path (digest) should yield 200 response', async () => {
      const resp = await c.do('GET', '/v2/<name>/manifests/<digest>', { digest: manifests[0].digest, headers: accept });
      expectStatus(resp, 'GET manifest[0] by digest', 200);
    });

    test('GET request to manifest[1] path (digest) should yield 200 response', async () => {
      const resp = await c.do('GET', '/v2/<name>/manifests/<digest>', { digest: manifests[1].digest, headers: accept });
      expectStatus(resp, 'GET manifest[1] by digest', 200);
    });

    test('GET request to manifest path (tag) should yield 200 response', async () => {
      expectThat(tag !== '', 'tag from setup', 'a non-empty tag', 'empty tag');
      const resp = await c.do('GET', '/v2/<name>/manifests/<reference>', { reference: tag, headers: accept });
      expectStatus(resp, `GET manifest by tag ${tag}`, 200);
    });
  });

  describe('Error codes', () => {
    test('400 response body should contain OCI-conforming JSON message', async () => {
      // a reference that is neither a tag nor a valid digest (the suite also sets a body, which
      // resty drops from a GET; the Content-Type header still goes out)
      const resp = await c.do('GET', '/v2/<name>/manifests/<reference>', {
        reference: 'sha256:totallywrong',
        headers: { 'Content-Type': MT_MANIFEST },
        body: invalidManifestContent,
      });
      expectStatus(resp, 'GET manifest sha256:totallywrong', 400, 404);
      if (resp.status === 400) {
        let errs: { code: string }[] = [];
        try {
          errs = resp.errors();
        } catch (e) {
          expectThat(false, '400 error body', 'an OCI error body {"errors":[{"code":...}]}', (e as Error).message, resp);
        }
        expectThat(errs.length > 0, '400 error body', 'a non-empty errors array', 'empty errors array', resp);
        expectThat(errorCodes.includes(errs[0].code), '400 error code', `one of ${errorCodes.join(', ')}`, errs[0].code, resp);
      }
    });
  });

  describe('Teardown', () => {
    const deleteManifestSpecs = () => {
      test('Delete manifest[0] created in setup', async (ctx) => {
        if (!runPullSetup) return ctx.skip('pull setup disabled');
        const resp = await c.do('DELETE', '/v2/<name>/manifests/<digest>', { digest: manifests[0].digest });
        deleteAccepted(resp, 'DELETE manifest[0]', 405);
      });
      test('Delete manifest[1] created in setup', async (ctx) => {
        if (!runPullSetup) return ctx.skip('pull setup disabled');
        const resp = await c.do('DELETE', '/v2/<name>/manifests/<digest>', { digest: manifests[1].digest });
        deleteAccepted(resp, 'DELETE manifest[1]', 405);
      });
    };

    if (deleteManifestBeforeBlobs) deleteManifestSpecs();

    test('Delete config[0] blob created in setup', async (ctx) => {
      if (!runPullSetup) return ctx.skip('pull setup disabled');
      const resp = await c.do('DELETE', '/v2/<name>/blobs/<digest>', { digest: configs[0].digest });
      deleteAccepted(resp, 'DELETE config[0] blob', 404, 405);
    });

    test('Delete config[1] blob created in setup', async (ctx) => {
      if (!runPullSetup) return ctx.skip('pull setup disabled');
      const resp = await c.do('DELETE', '/v2/<name>/blobs/<digest>', { digest: configs[1].digest });
      deleteAccepted(resp, 'DELETE config[1] blob', 404, 405);
    });

    test('Delete layer blob created in setup', async (ctx) => {
      if (!runPullSetup) return ctx.skip('pull setup disabled');
      const resp = await c.do('DELETE', '/v2/<name>/blobs/<digest>', { digest: layerBlobDigest });
      deleteAccepted(resp, 'DELETE layer blob', 404, 405);
    });

    if (!deleteManifestBeforeBlobs) deleteManifestSpecs();
  });
});
