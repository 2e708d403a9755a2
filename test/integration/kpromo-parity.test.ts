// Hoist against kpromo itself: kpromo's own parser (sigs.k8s.io/promo-tools/v4, built into
// scripts/testbed/kpromo-edges by the test bed) and Hoist read the same thin-manifest
// directories — the real registry.k8s.io sample, kpromo's own testdata, and cases for each
// pattern — and must agree on every project's edges and on accepting or refusing it. Where Hoist
// differs on purpose, the reason must be one docs/migrating-from-kpromo.md lists.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { promisify } from 'node:util';
import { loadManifests, type LoadedManifests } from '../../src/manifest/load.ts';
import { expandEdges, Repositories } from '../../src/manifest/model.ts';
import { testbedCache, tool } from '../support/testbed.ts';

const execFileAsync = promisify(execFile);

interface KpromoEdge { src: string; digest: string; dst: string; tag: string }
interface KpromoOutcome { name?: string; accepted: boolean; error?: string; edges: KpromoEdge[] }
interface KpromoReport { run: KpromoOutcome; projects: KpromoOutcome[] }

/** Hoist refuses these per dmap entry (or image), where kpromo promotes them or refuses the whole project. */
const entryRefusals = ['InvalidDigest', 'InvalidTag', 'InvalidName', 'EmptyValue', 'MissingField', 'WrongType', 'UnknownField', 'DuplicateKey', 'TagConflict', 'OverlappingEdges'];
/** Hoist refuses these projects as a whole, where kpromo accepts them. */
const projectRefusals = ['MultipleSourceRegistries', 'SourceIsDestination', 'InvalidName'];

const sample = 'test/fixtures/k8sio/registry.k8s.io-sample';
const cases = 'test/fixtures/kpromo-cases';

async function kpromo(dir: string): Promise<KpromoReport> {
  const { stdout } = await execFileAsync(tool('kpromo-edges'), [dir], { maxBuffer: 256 * 1024 * 1024 });
  return JSON.parse(stdout) as KpromoReport;
}

const key = (e: KpromoEdge) => `${e.src}@${e.digest} -> ${e.dst}:${e.tag}`;

function hoistEdges(loaded: LoadedManifests, project: string): Set<string> | undefined {
  const manifest = loaded.specs.find((m) => m.name === project);
  if (!manifest) return undefined;
  const out = new Set<string>();
  for (const e of expandEdges(manifest.spec, new Repositories())) {
    for (const tag of e.tags.length === 0 ? [''] : e.tags) {
      out.add(key({ src: `${e.src.host}/${e.src.name}`, digest: e.digest, dst: `${e.dst.host}/${e.dst.name}`, tag }));
    }
  }
  return out;
}

/** Compares one directory; returns the differences seen, for the docs check. */
async function compare(dir: string): Promise<{ loaded: LoadedManifests; report: KpromoReport; differences: string[] }> {
  const [report, loaded] = await Promise.all([kpromo(dir), loadManifests(dir).catch(() => undefined)]);
  assert.ok(loaded, `${dir}: Hoist could not load it`);
  const differences: string[] = [];
  for (const project of report.projects) {
    const name = project.name!;
    const edges = hoistEdges(loaded, name);
    const refused = loaded.refused.find((r) => r.name === name);
    const entries = loaded.specs.find((m) => m.name === name)?.refusedEntries ?? [];
    const where = `${dir}: project ${name}`;
    assert.ok(edges || refused, `${where}: Hoist neither accepted nor refused it`);
    if (project.accepted) {
      if (refused) {
        for (const e of refused.errors) assert.ok(projectRefusals.includes(e.reason), `${where}: kpromo accepts it, Hoist refuses it for an undocumented reason: ${e.message}`);
        differences.push(...refused.errors.map((e) => e.reason));
        continue;
      }
      const theirs = new Set(project.edges.map(key));
      const extra = [...edges!].filter((e) => !theirs.has(e));
      assert.deepEqual(extra, [], `${where}: edges kpromo does not make`);
      const refusedEntries = new Set(entries.map((e) => `${e.entry!.image}\0${e.entry!.digest ?? ''}`));
      const missing = project.edges.filter((e) => !edges!.has(key(e)));
      for (const e of missing) {
        const image = e.src.slice(e.src.indexOf('/', e.src.indexOf('/') + 1) + 1);
        const byEntry = [...refusedEntries].some((r) => {
          const [refusedImage, digest] = r.split('\0');
          return (digest === e.digest || digest === '') && (refusedImage === '' || e.src.endsWith(`/${refusedImage}`));
        });
        assert.ok(byEntry, `${where}: Hoist misses the edge ${key(e)} (image ${image}) without refusing its entry`);
      }
      for (const e of entries) assert.ok(entryRefusals.includes(e.reason), `${where}: undocumented entry refusal: ${e.message}`);
      differences.push(...entries.map((e) => e.reason));
    } else {
      if (refused) continue; // both refuse
      assert.ok(entries.length > 0, `${where}: kpromo refuses it (${project.error}), Hoist accepts it with nothing refused`);
      for (const e of entries) assert.ok(entryRefusals.includes(e.reason), `${where}: kpromo refuses it (${project.error}); Hoist refuses an entry for an undocumented reason: ${e.message}`);
      differences.push(...entries.map((e) => e.reason));
    }
  }
  // Across projects: kpromo refuses the whole run on overlapping edges; Hoist refuses those entries.
  const overlapping = loaded.errors.some((e) => e.reason === 'OverlappingEdges');
  if (report.run.error === 'overlapping edges detected') assert.ok(overlapping || loaded.errors.some((e) => e.reason === 'TagConflict'), `${dir}: kpromo finds overlapping edges, Hoist does not`);
  if (report.run.accepted) assert.equal(overlapping, false, `${dir}: Hoist finds overlapping edges kpromo accepts`);
  return { loaded, report, differences };
}

describe('kpromo parity: kpromo\'s own parser and Hoist read the same trees alike', () => {
  const seen = new Set<string>();

  test('the real registry.k8s.io sample: same 21 projects, same edges (3,256 as kpromo counts them)', async () => {
    const { loaded, report, differences } = await compare(sample);
    assert.equal(report.run.accepted, true);
    assert.equal(report.run.edges.length, 3256);
    assert.equal(report.projects.length, 21);
    assert.deepEqual(loaded.refused, []);
    assert.deepEqual(differences, []);
    assert.deepEqual(loaded.errors, []);
    // The patterns kpromo accepts are warnings here, each located.
    assert.ok(loaded.warnings.some((w) => w.reason === 'DuplicateImage' && w.file.endsWith('k8s-staging-etcdadm/images.yaml')));
    assert.ok(loaded.warnings.some((w) => w.reason === 'NoImages' && w.file.endsWith('k8s-staging-llm-instance-gateway/images.yaml')));
  });

  test('kpromo\'s own testdata (canary, singleton, empty)', async () => {
    const testdata = join(testbedCache(), 'kpromo-testdata');
    for (const dir of ['canary', 'singleton']) {
      const { loaded, report } = await compare(join(testdata, dir));
      assert.equal(report.run.accepted, true, dir);
      assert.ok(loaded.specs.length > 0 && loaded.errors.length === 0, dir);
    }
    // No manifests/ folder: both refuse.
    const report = await kpromo(join(testdata, 'empty'));
    assert.equal(report.run.accepted, false);
    const loaded = await loadManifests(join(testdata, 'empty'));
    assert.deepEqual(loaded.errors.map((e) => e.reason), ['NoManifests']);
  });

  for (const dir of ['accepted-with-warnings', 'entry-refusals', 'overlap', 'project-refusals', 'both-refuse']) {
    test(`cases: ${dir}`, async () => {
      const { loaded, report, differences } = await compare(join(cases, dir));
      for (const d of differences) seen.add(d);
      if (dir === 'accepted-with-warnings') {
        assert.deepEqual(differences, []);
        assert.deepEqual(loaded.errors, []);
        assert.deepEqual([...new Set(loaded.warnings.map((w) => w.reason))].sort(),
          ['DuplicateImage', 'DuplicateRegistry', 'DuplicateTag', 'EmptyDmap', 'NoDestinationRegistry', 'NoImages']);
      }
      if (dir === 'overlap') {
        assert.equal(report.run.error, 'overlapping edges detected');
        assert.deepEqual(loaded.errors.map((e) => `${e.reason} ${e.entry?.digest?.slice(7, 9)}`), ['OverlappingEdges aa', 'OverlappingEdges bb']);
        assert.deepEqual(loaded.specs.map((m) => Object.keys(m.spec.images[0]!.dmap).map((d) => d.slice(7, 9))), [['cc'], ['cc']]);
      }
    });
  }

  test('every difference seen is listed in docs/migrating-from-kpromo.md', () => {
    const docs = readFileSync('docs/migrating-from-kpromo.md', 'utf8');
    for (const reason of [...entryRefusals, ...projectRefusals]) assert.match(docs, new RegExp(`\`${reason}\``), `docs/migrating-from-kpromo.md does not list ${reason}`);
    for (const reason of seen) assert.ok([...entryRefusals, ...projectRefusals].includes(reason), reason);
  });
});
