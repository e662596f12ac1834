// Conformance workflow 4: Content Management (port of distribution-spec conformance/04_management_test.go):
// deleting a tag, a manifest by digest, blobs, and the 404s / tag list that follow.
import { afterAll, beforeAll, describe, test } from 'vitest';
import {
  CONTENT_MANAGEMENT,
  configs,
  expectStatus,
  expectThat,
  layerBlobContentLength,
  layerBlobData,
  layerBlobDigest,
  manifests,
  openTarget,
  parseJSON,
  pushBlobMonolithic,
  putManifest,
  runContentManagementSetup,
  workflowEnabled,
  type Client,
  type Target,
} from './setup.ts';

describe.skipIf(!workflowEnabled(CONTENT_MANAGEMENT))('Content Management', () => {
  const defaultTagName = 'tagtest0';
  let target: Target;
  let c: Client;
  let tagToDelete = '';
  let numTags = 0;
  let blobDeleteAllowed = true;

  beforeAll(async () => {
    target = await openTarget(CONTENT_MANAGEMENT);
    c = target.client;
  });
  afterAll(async () => {
    await target?.close();
  });

  describe('Setup', () => {
    test('Populate registry with test config blob', async (ctx) => {
      if (!runContentManagementSetup) return ctx.skip('management setup disabled');
      await pushBlobMonolithic(c, { digest: configs[3].digest, content: configs[3].content, length: configs[3].contentLength }, 'PUT config[3] blob');
    });

    test('Populate registry with test layer', async (ctx) => {
      if (!runContentManagementSetup) return ctx.skip('management setup disabled');
      await pushBlobMonolithic(c, { digest: layerBlobDigest, content: layerBlobData, length: layerBlobContentLength }, 'PUT layer blob');
    });

    test('Populate registry with test tag', async (ctx) => {
      if (!runContentManagementSetup) return ctx.skip('management setup disabled');
      tagToDelete = defaultTagName;
      await putManifest(c, tagToDelete, manifests[3].content, `PUT manifest[3] as tag ${tagToDelete}`);
    });

    test('Check how many tags there are before anything gets deleted', async (ctx) => {
      if (!runContentManagementSetup) return ctx.skip('management setup disabled');
      const resp = await c.do('GET', '/v2/<name>/tags/list');
      expectStatus(resp, 'GET tags/list before deleting', 200);
      const body = parseJSON<{ tags?: string[] | null }>(resp, 'GET tags/list before deleting');
      numTags = (body.tags ?? []).length;
    });
  });

  describe('Manifest delete', () => {
    test('DELETE request to manifest tag should return 202, unless tag deletion is disallowed (400/405)', async () => {
      const resp = await c.do('DELETE', '/v2/<name>/manifests/<reference>', { reference: tagToDelete });
      expectStatus(resp, `DELETE tag ${tagToDelete}`, 400, 202, 405);
      if (resp.status === 400) {
        let errs: { code: string }[] = [];
        try {
          errs = resp.errors();
        } catch (e) {
          expectThat(false, `DELETE tag ${tagToDelete}: 400 body`, 'an OCI error body', (e as Error).message, resp);
        }
        expectThat(errs.length > 0, `DELETE tag ${tagToDelete}: 400 body`, 'a non-empty errors array', 'empty', resp);
        expectThat(errs[0].code === 'UNSUPPORTED', `DELETE tag ${tagToDelete}: 400 error code`, 'UNSUPPORTED', errs[0].code, resp);
      }
    });

    test('DELETE request to manifest (digest) should yield 202 response unless already deleted', async () => {
      const resp = await c.do('DELETE', '/v2/<name>/manifests/<digest>', { digest: manifests[3].digest });
      // after an accepted tag delete, this may or may not find the manifest (both are fine)
      expectStatus(resp, 'DELETE manifest[3] by digest', 202, 404);
    });

    test('GET request to deleted manifest URL should yield 404 response, unless delete is disallowed', async () => {
      const resp = await c.do('GET', '/v2/<name>/manifests/<digest>', { digest: manifests[3].digest });
      expectStatus(resp, 'GET manifest[3] by digest after deleting it', 404, 200);
    });

    test('GET request to tags list should reflect manifest deletion', async () => {
      const resp = await c.do('GET', '/v2/<name>/tags/list');
      expectStatus(resp, 'GET tags/list after deleting', 200);
      const body = parseJSON<{ tags?: string[] | null }>(resp, 'GET tags/list after deleting');
      const n = (body.tags ?? []).length;
      expectThat(n < numTags, 'GET tags/list after deleting: count', `fewer than ${numTags} tags`, `${n}: ${JSON.stringify(body.tags ?? null)}`, resp);
    });
  });

  describe('Blob delete', () => {
    test('DELETE request to blob URL should yield 202 response', async (ctx) => {
      if (!runContentManagementSetup) return ctx.skip('management setup disabled');
      const config = await c.do('DELETE', '/v2/<name>/blobs/<digest>', { digest: configs[3].digest });
      expectStatus(config, 'DELETE config[3] blob', 202, 404, 405);
      const layer = await c.do('DELETE', '/v2/<name>/blobs/<digest>', { digest: layerBlobDigest });
      expectStatus(layer, 'DELETE layer blob', 202, 404, 405);
      if (layer.status === 405) blobDeleteAllowed = false;
    });

    test('GET request to deleted blob URL should yield 404 response', async (ctx) => {
      if (!runContentManagementSetup) return ctx.skip('management setup disabled');
      if (!blobDeleteAllowed) return ctx.skip('blob deletion answered 405');
      const resp = await c.do('GET', '/v2/<name>/blobs/<digest>', { digest: configs[3].digest });
      expectStatus(resp, 'GET config[3] blob after deleting it', 404);
    });
  });

  // Teardown: none required for content management
});
