// A synthetic thin-manifest tree shaped like registry.k8s.io's (kubernetes/k8s.io): ~70
// projects, ~17,000 digests, 23 regional destinations for most projects, one project with 70
// destination registries, one images.yaml of ~500 images, one of ~8,000 digests (the real
// k8s-staging-kubernetes images.yaml is ~950 KB), a few comment-only images.yaml files, about
// 1.5 tags per digest. Nothing is pushed anywhere: the digests are random hex, for parsing only.
// Seeded, so every run writes the same bytes.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { seededRandom } from '../../test/support/random.ts';

export interface ThinTreeShape {
  projects: number;
  images: number;
  digests: number;
  /** Hoist's edges: one per (image, digest, destination repository). */
  edges: number;
  /** kpromo's edges: one per (image, digest, destination repository, tag); a tagless digest counts once. */
  kpromoEdges: number;
  /** Bytes of YAML written. */
  bytes: number;
}

const regions = [
  'asia-east1', 'asia-south1', 'asia-northeast1', 'asia-northeast2', 'australia-southeast1', 'europe-north1',
  'europe-southwest1', 'europe-west1', 'europe-west2', 'europe-west3', 'europe-west4', 'europe-west8', 'europe-west9',
  'europe-west10', 'europe-west12', 'me-central1', 'southamerica-west1', 'us-central1', 'us-east1', 'us-east4',
  'us-east5', 'us-south1', 'us-west1',
];

interface ProjectPlan { name: string; images: number; digests: number; destinations: number; commentOnly?: boolean }

/** The projects: a few giants as on k8s.io, then many small ones; `scale` multiplies the digests. */
function plan(scale: number): ProjectPlan[] {
  const projects: ProjectPlan[] = [
    { name: 'k8s-staging-kubernetes', images: 24, digests: 8000, destinations: 23 },
    { name: 'k8s-staging-mirrors', images: 60, digests: 600, destinations: 70 },
    { name: 'k8s-staging-sig-storage', images: 480, digests: 1400, destinations: 23 },
    { name: 'k8s-staging-cluster-api', images: 40, digests: 900, destinations: 23 },
  ];
  for (let p = 0; p < 61; p++) projects.push({ name: `k8s-staging-project-${p}`, images: 1 + (p % 9), digests: 10 + ((p * 37) % 190), destinations: 23 });
  for (let p = 0; p < 5; p++) projects.push({ name: `k8s-staging-new-${p}`, images: 0, digests: 0, destinations: 23, commentOnly: true });
  return projects.map((p) => ({ ...p, digests: Math.round(p.digests * scale), images: Math.min(p.images, Math.max(p.commentOnly ? 0 : 1, Math.round(p.digests * scale))) }));
}

const hex = (random: () => number) => {
  let out = '';
  for (let i = 0; i < 8; i++) out += Math.floor(random() * 0x100000000).toString(16).padStart(8, '0');
  return out;
};

/** Where a tree's registries are: the source of a project, and its d-th destination. */
export interface TreeRegistries {
  source(project: string): string;
  destination(project: string, d: number): string;
}

/** registry.k8s.io's names: gcr.io staging projects, Artifact Registry regions as destinations. */
export const k8sRegistries: TreeRegistries = {
  source: (project) => `gcr.io/${project}`,
  destination: (project, d) => {
    const host = d < regions.length ? `${regions[d]}-docker.pkg.dev` : `${regions[d % regions.length]}-mirror${Math.floor(d / regions.length)}.pkg.dev`;
    return `${host}/k8s-artifacts-prod/images/${project.replace(/^k8s-staging-/, '')}`;
  },
};

/** One project of the tree: its registries and its images' dmaps. */
export interface TreeProject {
  name: string;
  source: string;
  destinations: string[];
  images: { name: string; dmap: [digest: string, tags: string[]][] }[];
  commentOnly: boolean;
}

/** The projects of a registry.k8s.io-shaped tree, one at a time (seeded: the same every run). */
export function* treeProjects(options: { seed?: number; scale?: number; registries?: TreeRegistries } = {}): Generator<TreeProject> {
  const random = seededRandom(options.seed ?? 13);
  const registries = options.registries ?? k8sRegistries;
  for (const project of plan(options.scale ?? 1)) {
    const images: TreeProject['images'] = [];
    // Skewed: the first images get most digests, as kubernetes' kube-apiserver & co. do.
    const weights = Array.from({ length: project.images }, (_, i) => 1 / (i + 1));
    const sum = weights.reduce((a, b) => a + b, 0);
    let left = project.digests;
    for (let i = 0; i < project.images; i++) {
      const count = i === project.images - 1 ? left : Math.max(1, Math.min(left - (project.images - 1 - i), Math.round(project.digests * weights[i]! / sum)));
      left -= count;
      const dmap: [string, string[]][] = [];
      for (let j = 0; j < count; j++) {
        const r = random();
        const version = `v1.${Math.floor(j / 20)}.${j % 20}`;
        const tags = r < 0.05 ? [] : r < 0.55 ? [version] : [version, `${version}-r${i}`];
        dmap.push([`sha256:${hex(random)}`, tags]);
      }
      images.push({ name: `${i % 4 === 3 ? 'sub/' : ''}image-${i}`, dmap });
    }
    yield {
      name: project.name, source: registries.source(project.name), commentOnly: project.commentOnly === true, images,
      destinations: Array.from({ length: project.destinations }, (_, d) => registries.destination(project.name, d)),
    };
  }
}

/** Writes manifests/<p>/promoter-manifest.yaml and images/<p>/images.yaml below `dir`. */
export function writeThinTree(dir: string, options: { seed?: number; scale?: number; registries?: TreeRegistries } = {}): ThinTreeShape {
  const shape: ThinTreeShape = { projects: 0, images: 0, digests: 0, edges: 0, kpromoEdges: 0, bytes: 0 };
  for (const project of treeProjects(options)) {
    mkdirSync(join(dir, 'manifests', project.name), { recursive: true });
    mkdirSync(join(dir, 'images', project.name), { recursive: true });
    const registryLines = ['registries:', `- name: ${project.source}`, '  src: true'];
    for (const destination of project.destinations) {
      registryLines.push(`- name: ${destination}`);
      registryLines.push('  service-account: k8s-infra-gcr-promoter@k8s-artifacts-prod.iam.gserviceaccount.com');
    }
    const manifest = `${registryLines.join('\n')}\n`;
    const lines: string[] = [];
    if (project.commentOnly) lines.push('# No images yet');
    for (const image of project.images) {
      lines.push(`- name: ${image.name}`, '  dmap:');
      for (const [digest, tags] of image.dmap) {
        lines.push(`    "${digest}": [${tags.map((t) => `"${t}"`).join(', ')}]`);
        shape.digests++;
        shape.edges += project.destinations.length;
        shape.kpromoEdges += project.destinations.length * Math.max(1, tags.length);
      }
      shape.images++;
    }
    const images = `${lines.join('\n')}\n`;
    writeFileSync(join(dir, 'manifests', project.name, 'promoter-manifest.yaml'), manifest);
    writeFileSync(join(dir, 'images', project.name, 'images.yaml'), images);
    shape.bytes += Buffer.byteLength(manifest) + Buffer.byteLength(images);
    shape.projects++;
  }
  return shape;
}

// `node bench/support/thin-tree.ts DIR [scale]` writes a tree for trying things by hand.
if (import.meta.main) {
  const [dir, scale] = process.argv.slice(2);
  if (!dir) throw new Error('usage: node bench/support/thin-tree.ts DIR [scale]');
  console.log(JSON.stringify(writeThinTree(dir, { scale: scale ? Number(scale) : 1 })));
}
