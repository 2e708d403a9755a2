// A k8s.io-shaped signed tree for the replication benchmark: the projects of registry.k8s.io's
// promoter manifests (a few giants, ~60 small ones; bench/support/thin-tree.ts's plan), 23
// production registries (one canonical primary, 22 mirrors), ~57% of digests unsigned (promoted
// before signing existed), the signed ones with a legacy `.sig` (kpromo's) and some also with a
// sigstore bundle and an attestation in the `sha256-<hex>` referrers index (Hoist's, cosign v3's),
// and a share of (digest, mirror) pairs missing their signatures. Seeded, so every run builds the
// same shape. Pushed straight into the backend registries, not through the benchmark's proxies.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { bundleManifest, legacyManifest, CosignMediaType } from '../../src/signing/formats.ts';
import { seededRandom } from '../../test/support/random.ts';
import { sha256 } from '../../test/support/images.ts';

export interface Blob { digest: string; size: number; data: Buffer }
export interface Stored { digest: string; mediaType: string; bytes: Buffer; blobs: Blob[] }

/** One signed digest's artifacts, as cosign lays them out. */
export interface Artifacts {
  /** The `.sig` tag's manifest. */
  sig: Stored;
  /** Hoist/cosign v3 style: the referrers (signature and attestation bundles) and the tag index listing them. */
  referrers?: Stored[];
  index?: Stored;
}

export interface TreeDigest { digest: string; manifest: Stored; tag: string; artifacts?: Artifacts; missing: Set<number> }
export interface TreeImage { project: string; name: string; config: Blob; layer: Blob; digests: TreeDigest[] }
export interface SignedTree { images: TreeImage[]; registries: number }

const plan = (scale: number) => {
  const projects = [
    { name: 'k8s-staging-kubernetes', images: 24, digests: 8000 },
    { name: 'k8s-staging-mirrors', images: 60, digests: 600 },
    { name: 'k8s-staging-sig-storage', images: 480, digests: 1400 },
    { name: 'k8s-staging-cluster-api', images: 40, digests: 900 },
  ];
  for (let p = 0; p < 61; p++) projects.push({ name: `k8s-staging-project-${p}`, images: 1 + (p % 9), digests: 10 + ((p * 37) % 190) });
  // ~17,000 digests at scale 1, as k8s.io's tree has.
  return projects.map((p) => {
    const digests = Math.max(1, Math.round(p.digests * scale * 1.4));
    return { ...p, digests, images: Math.min(p.images, digests) };
  });
};

const blobOf = (data: Buffer): Blob => ({ digest: sha256(data), size: data.length, data });
const json = (value: unknown) => Buffer.from(JSON.stringify(value));

function storedManifest(bytes: Buffer, mediaType: string, blobs: Blob[]): Stored {
  return { digest: sha256(bytes), mediaType, bytes, blobs };
}

/** The artifacts cosign would leave for `subject`: a `.sig`, and with `bundles` a signature and an attestation bundle in the tag index. */
function artifactsOf(subject: Stored, reference: string, bundles: boolean): Artifacts {
  const payload = json({ critical: { identity: { 'docker-reference': reference }, image: { 'docker-manifest-digest': subject.digest }, type: 'cosign container image signature' }, optional: null });
  const layer = blobOf(payload);
  const sigManifest = legacyManifest([{
    mediaType: CosignMediaType.simpleSigning, digest: layer.digest, size: layer.size,
    annotations: { 'dev.cosignproject.cosign/signature': Buffer.from(`bench-signature-${subject.digest}`).toString('base64') },
  }]);
  const artifacts: Artifacts = { sig: storedManifest(sigManifest.bytes, sigManifest.mediaType, [sigManifest.config, layer]) };
  if (!bundles) return artifacts;
  const descriptor = { mediaType: subject.mediaType, digest: subject.digest, size: subject.bytes.length };
  artifacts.referrers = ['https://sigstore.dev/cosign/sign/v1', 'https://slsa.dev/provenance/v1'].map((predicate) => {
    const bundle = bundleManifest(json({ bench: predicate, subject: subject.digest }), descriptor, predicate, new Date(Date.UTC(2026, 0, 1)));
    return storedManifest(bundle.bytes, bundle.mediaType, bundle.blobs);
  });
  const index = json({
    schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json',
    manifests: artifacts.referrers.map((r) => ({ mediaType: r.mediaType, digest: r.digest, size: r.bytes.length, artifactType: CosignMediaType.bundle })),
  });
  artifacts.index = storedManifest(index, 'application/vnd.oci.image.index.v1+json', []);
  return artifacts;
}

export interface TreeOptions {
  scale: number;
  /** Logical production registries: 0 is the primary, the rest mirrors. */
  registries: number;
  /** Share of digests with no signature at all. */
  unsigned: number;
  /** Share of signed digests with bundles (Hoist/cosign v3) besides the `.sig`. */
  bundled: number;
  /** Share of (signed digest, mirror) pairs whose artifacts are missing at the mirror. */
  missing: number;
  seed: number;
}

export function buildSignedTree(options: TreeOptions): SignedTree {
  const random = seededRandom(options.seed);
  const images: TreeImage[] = [];
  for (const project of plan(options.scale)) {
    const weights = Array.from({ length: project.images }, (_, i) => 1 / (i + 1));
    const sum = weights.reduce((a, b) => a + b, 0);
    let left = project.digests;
    for (let i = 0; i < project.images; i++) {
      const count = i === project.images - 1 ? left : Math.max(1, Math.min(left - (project.images - 1 - i), Math.round(project.digests * weights[i]! / sum)));
      left -= count;
      const name = `${i % 4 === 3 ? 'sub/' : ''}image-${i}`;
      const config = blobOf(json({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] }, config: { Labels: { project: project.name, image: name } } }));
      const layer = blobOf(Buffer.from(`${project.name}/${name} layer`));
      const digests: TreeDigest[] = [];
      for (let j = 0; j < count; j++) {
        const manifest = storedManifest(json({
          schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
          config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: config.digest, size: config.size },
          layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: layer.digest, size: layer.size }],
          annotations: { 'dev.hoist.bench': `${project.name}/${name}/${j}` },
        }), 'application/vnd.oci.image.manifest.v1+json', [config, layer]);
        const signed = random() >= options.unsigned;
        const artifacts = signed ? artifactsOf(manifest, `registry.k8s.io/${name}`, random() < options.bundled) : undefined;
        const missing = new Set<number>();
        if (signed) for (let k = 1; k < options.registries; k++) if (random() < options.missing) missing.add(k);
        digests.push({ digest: manifest.digest, manifest, tag: `v1.${Math.floor(j / 20)}.${j % 20}`, ...(artifacts && { artifacts }), missing });
      }
      images.push({ project: project.name, name, config, layer, digests });
    }
  }
  return { images, registries: options.registries };
}

/** Writes the tree as a kpromo thin-manifest directory: manifests/<p>/promoter-manifest.yaml, images/<p>/images.yaml. */
export function writeThinManifests(dir: string, tree: SignedTree, registryName: (k: number, project: string) => string): void {
  const projects = new Map<string, TreeImage[]>();
  for (const image of tree.images) projects.set(image.project, [...projects.get(image.project) ?? [], image]);
  for (const [project, images] of projects) {
    mkdirSync(join(dir, 'manifests', project), { recursive: true });
    mkdirSync(join(dir, 'images', project), { recursive: true });
    const registries = ['registries:', `- name: gcr.io/${project}`, '  src: true'];
    for (let k = 0; k < tree.registries; k++) registries.push(`- name: ${registryName(k, project)}`);
    writeFileSync(join(dir, 'manifests', project, 'promoter-manifest.yaml'), `${registries.join('\n')}\n`);
    const lines: string[] = [];
    for (const image of images) {
      lines.push(`- name: ${image.name}`, '  dmap:');
      for (const d of image.digests) lines.push(`    "${d.digest}": ["${d.tag}"]`);
    }
    writeFileSync(join(dir, 'images', project, 'images.yaml'), `${lines.join('\n')}\n`);
  }
}

export interface TreeShape {
  projects: number; images: number; digests: number; signed: number; bundled: number; unsigned: number;
  pairs: number; missingPairs: number; primaryRepos: number; mirrorRepos: number;
}

export function shapeOf(tree: SignedTree): TreeShape {
  const s: TreeShape = { projects: new Set(tree.images.map((i) => i.project)).size, images: tree.images.length, digests: 0, signed: 0, bundled: 0, unsigned: 0, pairs: 0, missingPairs: 0, primaryRepos: tree.images.length, mirrorRepos: 0 };
  for (const image of tree.images) {
    let anySigned = false;
    for (const d of image.digests) {
      s.digests++;
      if (!d.artifacts) { s.unsigned++; continue; }
      anySigned = true;
      s.signed++;
      if (d.artifacts.index) s.bundled++;
      s.pairs += tree.registries - 1;
      s.missingPairs += d.missing.size;
    }
    if (anySigned) s.mirrorRepos += tree.registries - 1;
  }
  return s;
}
