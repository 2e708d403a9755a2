// Real images without Docker: layers (gzipped tar), config and manifests built in memory and
// pushed with plain HTTP calls, independent of Hoist's own registry client so tests of that
// client are not checked against themselves.
import { createHash, randomBytes } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import type { TestRegistry } from './registry.ts';

export const MediaType = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar+gzip',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayer: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
} as const;

export interface Blob { digest: string; size: number; mediaType: string; data: Buffer }
export interface BuiltImage { digest: string; mediaType: string; bytes: Buffer; blobs: Blob[]; children: BuiltImage[] }

export const sha256 = (data: Buffer | string): string => `sha256:${createHash('sha256').update(data).digest('hex')}`;

function tarOf(name: string, content: Buffer): Buffer {
  const header = Buffer.alloc(512);
  header.write(name, 0, 100, 'utf8');
  header.write('0000644\0', 100);
  header.write('0000000\0', 108);
  header.write('0000000\0', 116);
  header.write(`${content.length.toString(8).padStart(11, '0')}\0`, 124);
  header.write(`${Math.floor(Date.UTC(2024, 0, 1) / 1000).toString(8).padStart(11, '0')}\0`, 136);
  header.write('        ', 148);
  header.write('0', 156);
  header.write('ustar\0' + '00', 257);
  let sum = 0;
  for (const byte of header) sum += byte;
  header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
  const padding = Buffer.alloc((512 - (content.length % 512)) % 512);
  return Buffer.concat([header, content, padding, Buffer.alloc(1024)]);
}

export interface ImageOptions {
  /** Layer sizes in bytes of random (incompressible) content. */
  layers?: number[];
  format?: 'oci' | 'docker';
  platform?: { os: string; architecture: string; variant?: string };
  /** Shared layers reused as they are (same digests), e.g. a common base. */
  baseLayers?: Blob[];
}

export function buildImage(options: ImageOptions = {}): BuiltImage {
  const format = options.format ?? 'oci';
  const platform = options.platform ?? { os: 'linux', architecture: 'amd64' };
  const layerType = format === 'oci' ? MediaType.ociLayer : MediaType.dockerLayer;
  const diffIds: string[] = [];
  const layers: Blob[] = [...(options.baseLayers ?? [])];
  for (const blob of layers) diffIds.push(blob.digest); // base layers: diff id only needs to be stable
  (options.layers ?? [1024]).forEach((size, i) => {
    const tar = tarOf(`layer-${i}.bin`, randomBytes(size));
    diffIds.push(sha256(tar));
    const data = gzipSync(tar, { level: 1 });
    layers.push({ digest: sha256(data), size: data.length, mediaType: layerType, data });
  });
  const configData = Buffer.from(JSON.stringify({
    architecture: platform.architecture, os: platform.os, ...(platform.variant && { variant: platform.variant }),
    created: '2024-01-01T00:00:00Z', rootfs: { type: 'layers', diff_ids: diffIds },
    config: { Labels: { 'dev.hoist.test.nonce': randomBytes(8).toString('hex') } },
  }));
  const config: Blob = {
    digest: sha256(configData), size: configData.length,
    mediaType: format === 'oci' ? MediaType.ociConfig : MediaType.dockerConfig, data: configData,
  };
  const mediaType = format === 'oci' ? MediaType.ociManifest : MediaType.dockerManifest;
  const bytes = Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType,
    config: { mediaType: config.mediaType, digest: config.digest, size: config.size },
    layers: layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })),
  }, null, 2));
  return { digest: sha256(bytes), mediaType, bytes, blobs: [config, ...layers], children: [] };
}

export const defaultPlatforms = [
  { os: 'linux', architecture: 'amd64' },
  { os: 'linux', architecture: 'arm64', variant: 'v8' },
  { os: 'linux', architecture: 's390x' },
];

export function buildIndex(options: ImageOptions & { platforms?: ImageOptions['platform'][] } = {}): BuiltImage {
  const format = options.format ?? 'oci';
  const platforms = options.platforms ?? defaultPlatforms;
  const children = platforms.map((platform) => buildImage({ ...options, platform }));
  const mediaType = format === 'oci' ? MediaType.ociIndex : MediaType.dockerList;
  const bytes = Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType,
    manifests: children.map((child, i) => ({
      mediaType: child.mediaType, digest: child.digest, size: child.bytes.length, platform: platforms[i],
    })),
  }, null, 2));
  return { digest: sha256(bytes), mediaType, bytes, blobs: [], children };
}

/** Minimal auth for the test pusher: basic, or the bearer handshake with push scope. */
async function authorize(registry: TestRegistry, repo: string): Promise<Record<string, string>> {
  const auth = registry.auth;
  if (auth.kind === 'none') return {};
  const basic = `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString('base64')}`;
  if (auth.kind === 'basic') return { authorization: basic };
  const ts = registry.tokenServer!;
  const res = await fetch(`${ts.realm}?service=${ts.service}&scope=repository:${repo}:pull,push`, { headers: { authorization: basic } });
  const body = (await res.json()) as { token: string };
  return { authorization: `Bearer ${body.token}` };
}

async function check(res: Response, what: string): Promise<Response> {
  if (!res.ok) throw new Error(`${what}: ${res.status} ${await res.text()}`);
  return res;
}

/** Pushes an image or index (children first) and tags it; returns its digest. */
export async function pushImage(registry: TestRegistry, repo: string, image: BuiltImage, tags: string[] = []): Promise<string> {
  const headers = await authorize(registry, repo);
  const base = `${registry.url}/v2/${repo}`;
  for (const child of image.children) await pushImage(registry, repo, child);
  for (const blob of image.blobs) {
    const head = await fetch(`${base}/blobs/${blob.digest}`, { method: 'HEAD', headers });
    if (head.ok) continue;
    const start = await check(await fetch(`${base}/blobs/uploads/`, { method: 'POST', headers }), `start upload to ${repo}`);
    const location = new URL(start.headers.get('location')!, registry.url);
    location.searchParams.set('digest', blob.digest);
    await check(await fetch(location, {
      method: 'PUT', headers: { ...headers, 'content-type': 'application/octet-stream' }, body: blob.data,
    }), `upload ${blob.digest}`);
  }
  for (const ref of [image.digest, ...tags]) {
    await check(await fetch(`${base}/manifests/${ref}`, {
      method: 'PUT', headers: { ...headers, 'content-type': image.mediaType }, body: image.bytes,
    }), `put manifest ${repo}:${ref}`);
  }
  return image.digest;
}
