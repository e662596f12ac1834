// Builds layers in memory for the indexer tests (tar-stream pack + gzip / zstd CLI).
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import zlib from 'node:zlib';
import tar from 'tar-stream';
import type { Descriptor, ImageConfig, ImageSource } from '../../src/scanner/types.ts';

export type TarEntry = Partial<tar.Header> & { name: string; content?: string | Buffer };

export async function makeTar(entries: TarEntry[]): Promise<Buffer> {
  const p = tar.pack();
  const done = (async () => {
    const chunks: Buffer[] = [];
    for await (const c of p) chunks.push(c as Buffer);
    return Buffer.concat(chunks);
  })();
  for (const e of entries) {
    const { content, ...h } = e;
    await new Promise<void>((resolve, reject) => {
      if (content !== undefined) p.entry(h, content, (err) => (err ? reject(err) : resolve()));
      else p.entry(h, (err) => (err ? reject(err) : resolve()));
    });
  }
  p.finalize();
  return done;
}

export const gzip = (b: Buffer) => zlib.gzipSync(b);

export function hasZstd(): boolean {
  return spawnSync('zstd', ['--version']).status === 0;
}

export function zstd(b: Buffer): Buffer {
  const r = spawnSync('zstd', ['-q', '-c', '-3'], { input: b, maxBuffer: 1 << 30 });
  if (r.status !== 0) throw new Error(`zstd failed: ${r.stderr}`);
  return r.stdout;
}

export const sha = (b: Buffer) => 'sha256:' + createHash('sha256').update(b).digest('hex');

export function streamOf(buf: Buffer, chunk = 64 * 1024): Readable {
  const parts: Buffer[] = [];
  for (let i = 0; i < buf.length; i += chunk) parts.push(buf.subarray(i, i + chunk));
  return Readable.from(parts);
}

/** An ImageSource over in-memory blobs that counts openBlob calls per digest. */
export class MemSource implements ImageSource {
  name = 'mem';
  manifestDigest: string;
  layers: Descriptor[];
  config: ImageConfig;
  opened: string[] = [];
  constructor(
    private readonly blobs: Map<string, Buffer>,
    layerBlobs: Buffer[],
    config: Partial<ImageConfig> = {},
  ) {
    this.layers = layerBlobs.map((b) => {
      const digest = sha(b);
      blobs.set(digest, b);
      return { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest, size: b.length };
    });
    this.manifestDigest = sha(Buffer.from(this.layers.map((l) => l.digest).join()));
    this.config = { architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] }, ...config };
  }
  async openBlob(digest: string): Promise<Readable> {
    this.opened.push(digest);
    const b = this.blobs.get(digest);
    if (!b) throw new Error(`no blob ${digest}`);
    return streamOf(b);
  }
}
