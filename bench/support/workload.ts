// A k8s.io-shaped promotion workload: many small kpromo manifests, one image each, a handful to
// a few dozen digests per image, one or two tags per digest, each manifest promoting to its own
// subset of the production registries. Seeded, so every run builds the same shape (the image
// contents are random, so the digests differ between runs).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildImage, type BuiltImage } from '../../test/support/images.ts';
import { seededRandom } from '../../test/support/random.ts';

export interface WorkloadDigest { image: BuiltImage; digest: string; tags: string[] }
export interface WorkloadImage {
  /** Image name inside a registry, e.g. `kube-thing-7`. */
  name: string;
  digests: WorkloadDigest[];
  /** Indices into the list of destination registries. */
  destinations: number[];
}
export interface Workload { images: WorkloadImage[] }

export interface WorkloadOptions {
  manifests: number;
  /** Multiplies the number of digests per image (at least 1 each). */
  scale: number;
  /** Number of destination registries to choose from (22 on k8s.io's scale). */
  registries: number;
  minDestinations: number;
  seed: number;
}


const words = ['kube', 'etcd', 'pause', 'coredns', 'csi', 'metrics', 'ingress', 'node', 'cluster', 'dns', 'proxy', 'agent'];

/** A tiny single-arch image: one layer of a few hundred bytes and a config. */
const tinyImage = (): BuiltImage => buildImage({ layers: [200] });

function newDigest(j: number, twoTags: boolean, prefix: string): WorkloadDigest {
  const image = tinyImage();
  const tag = `${prefix}${Math.floor(j / 10)}.${j % 10}.0`;
  return { image, digest: image.digest, tags: twoTags ? [tag, `${tag}-r1`] : [tag] };
}

export function generateWorkload(options: WorkloadOptions): Workload {
  const random = seededRandom(options.seed);
  const images: WorkloadImage[] = [];
  for (let m = 0; m < options.manifests; m++) {
    const name = `${words[m % words.length]}-${words[Math.floor(m / words.length) % words.length]}-${m}`;
    // Skewed towards few digests, as on k8s.io: most images have a few, some have dozens.
    const base = 3 + Math.floor(37 * random() ** 2);
    const count = Math.max(1, Math.round(base * options.scale));
    const digests = Array.from({ length: count }, (_, j) => newDigest(j, random() < 0.4, 'v1.'));
    const wanted = options.minDestinations + Math.floor(random() * (options.registries - options.minDestinations + 1));
    const all = Array.from({ length: options.registries }, (_, i) => i);
    for (let i = all.length - 1; i > 0; i--) {
      const k = Math.floor(random() * (i + 1));
      [all[i], all[k]] = [all[k]!, all[i]!];
    }
    images.push({ name, digests, destinations: all.slice(0, wanted).sort((a, b) => a - b) });
  }
  return { images };
}

/** `count` new digests spread round-robin over the images, tagged in a range no old tag uses. */
export function addDigests(workload: Workload, count: number, seed: number): Map<string, WorkloadDigest[]> {
  const random = seededRandom(seed);
  const added = new Map<string, WorkloadDigest[]>();
  for (let i = 0; i < count; i++) {
    const image = workload.images[i % workload.images.length]!;
    const list = added.get(image.name) ?? [];
    list.push(newDigest(list.length, random() < 0.4, 'v2.'));
    added.set(image.name, list);
  }
  return added;
}

export interface ManifestSet {
  /** Registry name of staging, e.g. `127.0.0.1:4000/staging`. */
  staging: string;
  /** Destination registry names, indexed like WorkloadImage.destinations. */
  registries: string[];
}

/** Writes one plain kpromo manifest per image into `dir`. */
export function writeManifests(dir: string, set: ManifestSet, images: { name: string; digests: WorkloadDigest[]; destinations: number[] }[]): void {
  mkdirSync(dir, { recursive: true });
  for (const image of images) {
    if (image.digests.length === 0) continue;
    const lines = [
      'registries:',
      `- name: ${set.staging}`,
      '  src: true',
      ...image.destinations.map((d) => `- name: ${set.registries[d]}`),
      'images:',
      `- name: ${image.name}`,
      '  dmap:',
      ...image.digests.map((d) => `    "${d.digest}": [${d.tags.map((t) => `"${t}"`).join(', ')}]`),
    ];
    writeFileSync(join(dir, `${image.name}.yaml`), `${lines.join('\n')}\n`);
  }
}

export interface Shape { manifests: number; digests: number; tags: number; edges: number; edgeTags: number; destinationRepos: number; registries: number }

export function shapeOf(images: { digests: WorkloadDigest[]; destinations: number[] }[]): Shape {
  let digests = 0, tags = 0, edges = 0, edgeTags = 0, destinationRepos = 0;
  const used = new Set<number>();
  for (const image of images) {
    if (image.digests.length === 0) continue;
    const t = image.digests.reduce((n, d) => n + d.tags.length, 0);
    digests += image.digests.length;
    tags += t;
    edges += image.digests.length * image.destinations.length;
    edgeTags += t * image.destinations.length;
    destinationRepos += image.destinations.length;
    for (const d of image.destinations) used.add(d);
  }
  return { manifests: images.filter((i) => i.digests.length > 0).length, digests, tags, edges, edgeTags, destinationRepos, registries: used.size };
}
