// Each phase's logic against an in-memory registry (test/support/memory-registry.ts): how Plan
// classifies edges and reads each fact once, shared tags refused, verification verdicts under
// Enforce and Warn, Promote's grouping and its refusals, the digests Sign and Attest work on,
// and signing and attesting with a key, twice (the second run finds its own work). The same
// phases against real registries are in test/integration/{pipeline,trust}.test.ts.
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { describe, test } from 'node:test';
import { parseRepository, type Repository } from '../../src/api/reference.ts';
import { attachmentKey } from '../../src/pipeline/attachments.ts';
import { attestPhase } from '../../src/pipeline/phases/attest.ts';
import { Listings } from '../../src/pipeline/listings.ts';
import { planPhase, refuseSharedTags } from '../../src/pipeline/phases/plan.ts';
import { copyGroups, digestsInProduction, promotePhase } from '../../src/pipeline/phases/promote.ts';
import { provenancePhase } from '../../src/pipeline/phases/provenance.ts';
import { setupPhase } from '../../src/pipeline/phases/setup.ts';
import { signPhase } from '../../src/pipeline/phases/sign.ts';
import { validatePhase } from '../../src/pipeline/phases/validate.ts';
import { EdgeOutcome, type Edge, type EdgeState, type PipelineEvent, type PipelineOptions, type RunContext, type TrustOptions } from '../../src/pipeline/types.ts';
import { applyVerdicts, checkDigests } from '../../src/pipeline/verification.ts';
import { ImageCopier, Inventory } from '../../src/registry/index.ts';
import { encryptPrivateKey, publicKeyPem } from '../../src/signing/keys.ts';
import { buildImage, buildIndex, type BuiltImage } from '../support/images.ts';
import { MemoryRegistry } from '../support/memory-registry.ts';

const staging = parseRepository('staging.example/app');
const prodA = parseRepository('prod-a.example/app');
const prodB = parseRepository('prod-b.example/app');

function edge(src: Repository, dst: Repository, digest: string, tags: string[] = ['v1']): Edge {
  return { src, dst, digest, tags };
}

function context(registry: MemoryRegistry, edges: Edge[], options: Partial<PipelineOptions> = {}, inventory = new Inventory()) {
  const client = registry.client(inventory);
  const events: PipelineEvent[] = [];
  const ctx: RunContext = {
    edges, client, copier: new ImageCopier(client), signal: new AbortController().signal,
    options: { mode: 'Promote', concurrency: 4, planConcurrency: 4, ...options },
    emit: (e) => events.push(e), outcomes: [], destinationTags: new Map(), inProduction: [], attestations: [],
    listings: new Listings(), attachmentsDue: new Set(), unfinished: new Set(),
  };
  return { ctx, events };
}

const states = (ctx: RunContext) => ctx.outcomes.map((o) => o.state);

function outcome(e: Edge, state: EdgeState): EdgeOutcome {
  const o = new EdgeOutcome(e);
  o.state = state;
  return o;
}

describe('Setup', () => {
  test('refuses invalid options and stops a run with nothing to do', async () => {
    const registry = new MemoryRegistry();
    const bad = await setupPhase.run(context(registry, [edge(staging, prodA, 'sha256:x')], { concurrency: 0 }).ctx);
    assert.deepEqual([bad.stop, bad.reason], ['failed', 'InvalidOptions']);
    assert.equal((await setupPhase.run(context(registry, []).ctx)).stop, 'done');
    assert.match((await setupPhase.run(context(registry, [edge(staging, prodA, 'sha256:x'), edge(staging, prodB, 'sha256:x')]).ctx)).message, /2 edges from 1 source to 2 destination/);
    assert.deepEqual(registry.calls, [], 'no registry is read');
  });
});

describe('Plan', () => {
  test('classifies each edge from what the registries hold', async () => {
    const registry = new MemoryRegistry();
    const [present, fresh, moved, other, untagged] = [buildImage(), buildImage(), buildImage(), buildImage(), buildImage()];
    for (const image of [present, fresh, moved, untagged]) registry.put('staging.example/app', image);
    registry.put('prod-a.example/app', present, ['v1']);
    registry.put('prod-a.example/app', other, ['v3']);
    const { ctx, events } = context(registry, [
      edge(staging, prodA, present.digest, ['v1']),
      edge(staging, prodA, fresh.digest, ['v2']),
      edge(staging, prodA, moved.digest, ['v3']),
      edge(staging, prodA, buildImage().digest, ['v4']),
      edge(staging, prodA, untagged.digest, []),
    ]);
    const result = await planPhase.run(ctx);
    assert.deepEqual(states(ctx), ['present', 'promote', 'tagMove', 'lost', 'promote']);
    assert.deepEqual(ctx.outcomes.map((o) => o.reason), [undefined, undefined, 'TagMoveRefused', 'DigestNotFound', undefined]);
    assert.deepEqual(ctx.outcomes[2]!.conflicts, [{ tag: 'v3', digest: other.digest }]);
    assert.equal(result.message, '5 edges: 2 to promote, 1 already present, 1 lost, 1 tag moves refused');
    assert.deepEqual(events.map(({ outcomes, ...rest }: any) => { assert.equal(outcomes, ctx.outcomes); return rest; }), [{ type: 'planned', edges: 5, toPromote: 2 }]);
    assert.equal(ctx.destinationTags.get('prod-a.example/app')?.get('v1'), present.digest, 'Promote need not read tags again');
  });

  test('reads each fact once: one HEAD per source digest, one listing per destination repository', async () => {
    const registry = new MemoryRegistry();
    const image = buildImage();
    registry.put('staging.example/app', image);
    registry.put('prod-a.example/app', image, ['v1']);
    const other = parseRepository('prod-a.example/other');
    const { ctx } = context(registry, [edge(staging, prodA, image.digest), edge(staging, prodB, image.digest), edge(staging, other, image.digest, ['v1', 'v2'])]);
    await planPhase.run(ctx);
    assert.equal(registry.count(`HEAD manifest ${image.digest} staging.example/app`), 1);
    assert.equal(registry.count('GET tags'), 3);
    assert.equal(registry.count('HEAD manifest v1'), 1, 'only a tag that exists is read');
  });

  test('an unreadable destination fails only its own edges, with the registry\'s reason', async () => {
    const registry = new MemoryRegistry();
    const image = buildImage();
    registry.put('staging.example/app', image);
    registry.failHost('prod-b.example', 'Unauthorized');
    const { ctx } = context(registry, [edge(staging, prodA, image.digest), edge(staging, prodB, image.digest)]);
    await planPhase.run(ctx);
    assert.deepEqual(states(ctx), ['promote', 'failed']);
    assert.equal(ctx.outcomes[1]!.reason, 'Unauthorized', 'the registry\'s own reason');
    assert.match(ctx.outcomes[1]!.detail!, /^reading the destination failed: /);
  });

  test('a run with nothing to promote stops after Plan', async () => {
    const registry = new MemoryRegistry();
    const image = buildImage();
    registry.put('staging.example/app', image);
    registry.put('prod-a.example/app', image, ['v1']);
    const { ctx } = context(registry, [edge(staging, prodA, image.digest)]);
    const result = await planPhase.run(ctx);
    assert.equal(result.stop, 'done');
    assert.match(result.message, /nothing to promote/);
  });

  test('a failed source read fails the edge; a missing source digest is lost; staging is read only for what a destination lacks', async () => {
    const registry = new MemoryRegistry();
    const [there, missing] = [buildImage(), buildImage()];
    registry.put('staging.example/app', there);
    registry.put('prod-a.example/app', there, ['v1']);
    const { ctx } = context(registry, [edge(staging, prodA, there.digest, ['v1']), edge(staging, prodA, missing.digest, ['v2'])]);
    await planPhase.run(ctx);
    assert.deepEqual(states(ctx), ['present', 'lost']);
    assert.equal(registry.count(`HEAD manifest ${there.digest} staging.example/app`), 0, 'a digest every destination holds is not looked up in staging');
    assert.equal(registry.count(`HEAD manifest ${missing.digest} staging.example/app`), 1);

    registry.failHost('staging.example', 'ServerError');
    const again = context(registry, [edge(staging, prodA, missing.digest, ['v2'])]).ctx;
    await planPhase.run(again);
    assert.deepEqual([again.outcomes[0]!.state, again.outcomes[0]!.reason], ['failed', 'ServerError']);
    assert.match(again.outcomes[0]!.detail!, /^reading the source failed: /);
  });

  test('a digest gone from staging, or staging unreadable: destinations that hold it are still present, only the others lost or failed', async () => {
    const registry = new MemoryRegistry();
    const gone = buildImage();
    registry.put('prod-a.example/app', gone, ['v1']);
    registry.put('prod-a.example/untagged', gone, []);
    const untagged = parseRepository('prod-a.example/untagged');
    const edges = [edge(staging, prodA, gone.digest, ['v1']), edge(staging, untagged, gone.digest, []), edge(staging, prodB, gone.digest, ['v1'])];
    const lost = context(registry, edges).ctx;
    await planPhase.run(lost);
    assert.deepEqual(states(lost), ['present', 'present', 'lost']);
    assert.equal(lost.outcomes[2]!.reason, 'DigestNotFound');

    registry.failHost('staging.example', 'Unauthorized');
    const unreadable = context(registry, edges).ctx;
    const result = await planPhase.run(unreadable);
    assert.deepEqual(states(unreadable), ['present', 'present', 'failed']);
    assert.equal(unreadable.outcomes[2]!.reason, 'Unauthorized');
    assert.notEqual(result.stop, 'failed', 'a plan that read its destinations has not failed');
  });

  test('a rerun with the inventory costs one tag list per destination repository; a deleted tag is caught, a new one read', async () => {
    const registry = new MemoryRegistry();
    const [a, b] = [buildImage(), buildImage()];
    for (const image of [a, b]) registry.put('staging.example/app', image);
    registry.put('prod-a.example/app', a, ['v1']);
    registry.put('prod-b.example/app', a, ['v1']);
    const inventory = new Inventory();
    const edges = [edge(staging, prodA, a.digest), edge(staging, prodB, a.digest)];
    await planPhase.run(context(registry, edges, {}, inventory).ctx);
    assert.equal(registry.count('HEAD manifest v1'), 2, 'the first plan reads each tag');

    registry.calls.length = 0;
    const { ctx } = context(registry, edges, {}, inventory);
    await planPhase.run(ctx);
    assert.deepEqual(states(ctx), ['present', 'present']);
    assert.deepEqual(registry.calls, ['GET tags prod-a.example/app', 'GET tags prod-b.example/app'], 'nothing but the tag lists');

    // Past the verification interval every tag is read again.
    registry.calls.length = 0;
    await planPhase.run(context(registry, edges, { verifyIntervalMs: 0 }, inventory).ctx);
    assert.equal(registry.count('HEAD manifest v1'), 2);

    // A tag deleted (no longer listed) is missing at once, and read again when it reappears.
    registry.calls.length = 0;
    registry.deleteTag('prod-b.example/app', 'v1');
    const deleted = context(registry, edges, {}, inventory).ctx;
    await planPhase.run(deleted);
    assert.deepEqual(states(deleted), ['present', 'promote']);
    registry.put('prod-b.example/app', b, ['v1']);
    const moved = context(registry, edges, {}, inventory).ctx;
    await planPhase.run(moved);
    assert.deepEqual(states(moved), ['present', 'tagMove'], 'a tag that reappears is read, not believed');
  });

  test('a destination host that cannot be reached fails its own edges at once after the first read gives up', async () => {
    const registry = new MemoryRegistry();
    const image = buildImage();
    registry.put('staging.example/app', image);
    registry.failHost('prod-b.example', 'ConnectionFailed');
    const others = ['one', 'two', 'three'].map((n) => parseRepository(`prod-b.example/${n}`));
    const { ctx } = context(registry, [edge(staging, prodA, image.digest), ...others.map((dst) => edge(staging, dst, image.digest))], { planConcurrency: 1 });
    await planPhase.run(ctx);
    assert.deepEqual(states(ctx), ['promote', 'failed', 'failed', 'failed']);
    assert.equal(registry.count('GET tags prod-b.example'), 1, 'one attempt, the rest not sent');
    assert.ok(ctx.outcomes.slice(1).every((o) => o.reason === 'ConnectionFailed'));
  });

  test('two edges giving one destination tag to two digests are both refused; an edge already in place stays', () => {
    const a = outcome(edge(staging, prodA, 'sha256:aaa', ['v1']), 'promote');
    const b = outcome(edge(parseRepository('staging.example/b'), prodA, 'sha256:bbb', ['v1', 'v2']), 'promote');
    const c = outcome(edge(staging, prodB, 'sha256:aaa', ['v1']), 'promote');
    const d = outcome(edge(staging, parseRepository('prod-a.example/x'), 'sha256:ddd', ['v1']), 'present');
    const e = outcome(edge(staging, parseRepository('prod-a.example/x'), 'sha256:eee', ['v1']), 'promote');
    refuseSharedTags([a, b, c, d, e]);
    assert.deepEqual([a, b, c, d, e].map((o) => o.state), ['tagMove', 'tagMove', 'promote', 'present', 'tagMove']);
    assert.match(b.detail!, /prod-a\.example\/app:v1 is given to 2 digests in this run/);
    assert.equal(b.reason, 'TagMoveRefused');
  });
});

describe('Provenance and Validate', () => {
  const trustWithoutSigners: TrustOptions = { verification: { provenance: { mode: 'Enforce', builderIds: ['https://builder.example'] } } };

  test('no policy or mode Off: Skipped, nothing read', async () => {
    const registry = new MemoryRegistry();
    const { ctx } = context(registry, [], { trust: { verification: { signatures: { mode: 'Off', keys: [] } } } });
    assert.equal((await validatePhase.run(ctx)).skipped, true);
    assert.equal((await provenancePhase.run(context(registry, []).ctx)).skipped, true);
    assert.deepEqual(registry.calls, []);
  });

  test('provenance without a signer to trust fails with ProvenanceSignerUnknown', async () => {
    const result = await provenancePhase.run(context(new MemoryRegistry(), [], { trust: trustWithoutSigners }).ctx);
    assert.deepEqual([result.stop, result.reason], ['failed', 'ProvenanceSignerUnknown']);
    assert.match(result.message, /add keys or identities to spec\.verification\.signatures/);
  });

  test('each staging digest is checked once; a check that throws is a failed verdict', async () => {
    const { ctx } = context(new MemoryRegistry(), []);
    const edges = [outcome(edge(staging, prodA, 'sha256:a'), 'promote'), outcome(edge(staging, prodB, 'sha256:a'), 'present'), outcome(edge(staging, prodA, 'sha256:b'), 'promote')];
    const checked: string[] = [];
    const verdicts = await checkDigests(ctx, edges, async (_src, digest) => {
      checked.push(digest);
      if (digest === 'sha256:b') throw new Error('registry down');
      return undefined;
    });
    assert.deepEqual(checked.sort(), ['sha256:a', 'sha256:b']);
    assert.equal(verdicts.get('staging.example/app@sha256:b'), 'verification failed: registry down');
  });

  test('Enforce refuses the failed digests\' edges; Warn records a warning and lets them go', () => {
    const make = () => [outcome(edge(staging, prodA, 'sha256:a'), 'promote'), outcome(edge(staging, prodB, 'sha256:a'), 'promote'), outcome(edge(staging, prodA, 'sha256:b'), 'present')];
    const verdicts = new Map([['staging.example/app@sha256:a', 'no signatures'], ['staging.example/app@sha256:b', undefined]]);
    const enforced = make();
    const result = applyVerdicts(enforced, verdicts, 'Enforce', 'signatures', 'SignatureNotVerified');
    assert.deepEqual(enforced.map((o) => o.state), ['unverified', 'unverified', 'present']);
    assert.deepEqual([enforced[0]!.reason, enforced[0]!.detail], ['SignatureNotVerified', 'no signatures']);
    assert.match(result.message, /^signatures: 1 of 2 staging digests verified, 1 refused \(SignatureNotVerified\): staging\.example\/app@sha256:a: no signatures$/);
    const warned = make();
    assert.match(applyVerdicts(warned, verdicts, 'Warn', 'signatures', 'SignatureNotVerified').message, /1 not verified \(Warn: promoted anyway\)/);
    assert.deepEqual(warned.map((o) => o.state), ['promote', 'promote', 'present']);
    assert.deepEqual(warned[0]!.warnings, ['SignatureNotVerified: no signatures']);
  });

  test('Validate with a key policy refuses an unsigned staging digest under Enforce', async () => {
    const registry = new MemoryRegistry();
    const image = buildImage();
    registry.put('staging.example/app', image);
    const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const trust: TrustOptions = {
      verification: { signatures: { mode: 'Enforce', keys: [{ secretRef: { name: 'pub' } }] } },
      readSecret: async () => Buffer.from(publicKeyPem(publicKey)),
    };
    const { ctx } = context(registry, [edge(staging, prodA, image.digest)], { trust });
    await planPhase.run(ctx);
    const result = await validatePhase.run(ctx);
    assert.deepEqual(states(ctx), ['unverified']);
    assert.equal(ctx.outcomes[0]!.reason, 'SignatureNotVerified');
    assert.match(result.message, /0 of 1 staging digests verified, 1 refused/);
  });
});

describe('Promote', () => {
  test('edges of one digest to one registry host: the first copies, the others mount from it', async () => {
    const registry = new MemoryRegistry();
    const image = buildImage({ layers: [2048, 2048] });
    registry.put('staging.example/app', image);
    const repos = ['prod-a.example/one', 'prod-a.example/two', 'prod-a.example/three'].map(parseRepository);
    const { ctx, events } = context(registry, [...repos.map((dst) => edge(staging, dst, image.digest)), edge(staging, prodB, image.digest)]);
    await planPhase.run(ctx);
    assert.deepEqual(copyGroups(ctx.outcomes).map((g) => g.length), [3, 1]);
    const result = await promotePhase.run(ctx);
    assert.equal(result.message, '4 of 4 edges promoted');
    assert.deepEqual(states(ctx), ['promoted', 'promoted', 'promoted', 'promoted']);
    assert.equal(registry.count('POST mount'), 6, 'two repositories mount three blobs each');
    assert.deepEqual(ctx.outcomes.map((o) => o.copied?.mounted), [0, 3, 3, 0]);
    for (const repo of [...repos.map((r) => `${r.host}/${r.name}`), 'prod-b.example/app']) assert.equal(registry.tag(repo, 'v1'), image.digest, repo);
    assert.equal(events.filter((e) => e.type === 'edgeFinished').length, 4);
    assert.deepEqual(ctx.inProduction.map((t) => t.destinations.length), [4], 'one digest, four destinations, for Sign and Attest');
  });

  test('a tag that appeared since Plan is refused, never moved; a failed copy fails its edge with the registry\'s reason', async () => {
    const registry = new MemoryRegistry();
    const [ours, theirs] = [buildImage(), buildImage()];
    registry.put('staging.example/app', ours);
    const { ctx } = context(registry, [edge(staging, prodA, ours.digest), edge(staging, prodB, ours.digest)]);
    await planPhase.run(ctx);
    registry.put('prod-a.example/app', theirs, ['v1']);
    registry.failHost('prod-b.example', 'Forbidden');
    const result = await promotePhase.run(ctx);
    assert.deepEqual(states(ctx), ['tagMove', 'failed']);
    assert.deepEqual(ctx.outcomes[0]!.conflicts, [{ tag: 'v1', digest: theirs.digest }]);
    assert.equal(ctx.outcomes[1]!.reason, 'Forbidden');
    assert.equal(registry.tag('prod-a.example/app', 'v1'), theirs.digest, 'the tag was not moved');
    assert.equal(result.stop, undefined, 'one copy did not fail: the run goes on');
  });

  test('every copy failing fails the phase, but Sign and Attest still run', async () => {
    const registry = new MemoryRegistry();
    const image = buildImage();
    registry.put('staging.example/app', image);
    const { ctx } = context(registry, [edge(staging, prodA, image.digest)]);
    await planPhase.run(ctx);
    registry.failHost('prod-a.example', 'ServerError');
    const result = await promotePhase.run(ctx);
    assert.deepEqual([result.stop, result.reason, result.keepGoing], ['failed', 'PromoteFailed', true]);
  });

  test('nothing is copied before beforePromote (the write-ahead record) resolves; if it rejects, nothing at all', async () => {
    const registry = new MemoryRegistry();
    const image = buildImage();
    registry.put('staging.example/app', image);
    let release!: () => void;
    const recorded = new Promise<void>((resolve) => { release = resolve; });
    const waiting = context(registry, [edge(staging, prodA, image.digest)], { beforePromote: () => recorded });
    await planPhase.run(waiting.ctx);
    const promoting = promotePhase.run(waiting.ctx);
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(registry.calls.filter((c) => c.startsWith('PUT') || c.startsWith('POST')).length, 0, 'no write while the record is being written');
    release();
    assert.equal((await promoting).message, '1 of 1 edges promoted');

    const other = buildImage();
    registry.put('staging.example/app', other);
    const refused = context(registry, [edge(staging, prodB, other.digest)], { beforePromote: async () => { throw new Error('the API server answered 503'); } });
    await planPhase.run(refused.ctx);
    const calls = registry.calls.length;
    const result = await promotePhase.run(refused.ctx);
    assert.deepEqual([result.stop, result.reason, result.keepGoing], ['failed', 'ProgressNotRecorded', undefined]);
    assert.match(result.message, /^nothing copied: .*the API server answered 503/);
    assert.equal(registry.calls.length, calls, 'no registry request');
    assert.equal(registry.tag('prod-b.example/app', 'v1'), undefined);
  });

  test('the digests in production merge each digest\'s destinations and tags', () => {
    const targets = digestsInProduction([
      outcome(edge(staging, prodA, 'sha256:a', ['v1']), 'promoted'),
      outcome(edge(staging, prodA, 'sha256:a', ['stable']), 'present'),
      outcome(edge(staging, prodB, 'sha256:a', ['v1']), 'promoted'),
      outcome(edge(staging, prodA, 'sha256:b', ['v2']), 'failed'),
    ]);
    assert.deepEqual(targets.map((t) => [t.digest, t.destinations.map((d) => `${d.repo.host}:${d.tags.join(',')}`)]), [['sha256:a', ['prod-a.example:v1,stable', 'prod-b.example:v1']]]);
  });
});

describe('Sign and Attest', () => {
  async function promoted(registry: MemoryRegistry, image: BuiltImage, trust?: TrustOptions, inventory?: Inventory) {
    registry.put('staging.example/app', image);
    const { ctx } = context(registry, [edge(staging, prodA, image.digest), edge(staging, prodB, image.digest)], trust ? { trust } : {}, inventory);
    await planPhase.run(ctx);
    await promotePhase.run(ctx);
    return ctx;
  }

  test('without a signer both are Skipped; nothing is written', async () => {
    const registry = new MemoryRegistry();
    const ctx = await promoted(registry, buildImage());
    const sign = await signPhase.run(ctx);
    const attest = await attestPhase.run(ctx);
    assert.equal(sign.skipped, true);
    assert.match(sign.message, /signing: not configured/);
    assert.equal(attest.skipped, true);
    assert.equal(registry.count('PUT manifest sha256'), 0);
  });

  test('with a key: every digest and each image of an index is signed once and attested; a rerun finds its own work', async () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const pem = await encryptPrivateKey(privateKey, 'pw', { N: 1024, r: 8, p: 1 });
    const trust: TrustOptions = {
      signing: { key: { secretRef: { name: 'signing' } } },
      readSecret: async (_name, key) => Buffer.from(key === 'cosign.key' ? pem : 'pw'),
    };
    const registry = new MemoryRegistry();
    const index = buildIndex();
    const ctx = await promoted(registry, index, trust);
    const sign = await signPhase.run(ctx);
    const digests = 1 + index.children.length;
    assert.match(sign.message, new RegExp(`^${digests} digests signed by key signing, 0 already signed, in 2 destinations`));
    const attest = await attestPhase.run(ctx);
    assert.equal(attest.message, '2 promotion attestations written, 0 already there, for 1 digests');
    assert.equal(ctx.attestations.length, 2);
    for (const a of ctx.attestations) assert.match(a.ref, /^prod-[ab]\.example\/app@sha256:[0-9a-f]{64}$/);

    const rerun = await promoted(registry, index, trust);
    assert.deepEqual(states(rerun), ['present', 'present']);
    assert.match((await signPhase.run(rerun)).message, new RegExp(`^0 digests signed by key signing, ${digests} already signed`));
    assert.equal((await attestPhase.run(rerun)).message, '0 promotion attestations written, 2 already there, for 1 digests');
  });

  test('configuring a Rekor or a TSA makes earlier marks stale, so Sign looks again for signatures without those proofs', async () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const pem = await encryptPrivateKey(privateKey, 'pw', { N: 1024, r: 8, p: 1 });
    const base = (): TrustOptions => ({ signing: { key: { secretRef: { name: 'signing' } } }, readSecret: async (_name, key) => Buffer.from(key === 'cosign.key' ? pem : 'pw') });
    const bare = await attachmentKey(base());
    assert.equal(await attachmentKey(base()), bare, 'the same settings, the same key');
    const withTsa = await attachmentKey({ ...base(), signingServices: { timestampAuthorityURL: 'https://tsa.example' } });
    const withRekor = await attachmentKey({ ...base(), signingServices: { rekorURL: 'https://rekor.example', rekorVersion: 2 } });
    assert.equal(new Set([bare, withTsa, withRekor]).size, 3);
  });

  test('with the inventory, a rerun with nothing missing reads nothing beyond the tag lists; a deleted signature tag is repaired', async () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const pem = await encryptPrivateKey(privateKey, 'pw', { N: 1024, r: 8, p: 1 });
    const trust: TrustOptions = {
      signing: { key: { secretRef: { name: 'signing' } } },
      readSecret: async (_name, key) => Buffer.from(key === 'cosign.key' ? pem : 'pw'),
    };
    const registry = new MemoryRegistry();
    const image = buildImage();
    const inventory = new Inventory();
    const first = await promoted(registry, image, trust, inventory);
    await signPhase.run(first);
    await attestPhase.run(first);

    registry.calls.length = 0;
    const rerun = await promoted(registry, image, trust, inventory);
    assert.equal(rerun.attachmentsDue.size, 0, 'nothing due');
    const sign = await signPhase.run(rerun);
    const attest = await attestPhase.run(rerun);
    assert.deepEqual(registry.calls, ['GET tags prod-a.example/app', 'GET tags prod-b.example/app'], 'the tag lists, nothing else');
    assert.match(sign.message, /1 digests complete everywhere, not read/);
    assert.equal(attest.message, '0 promotion attestations written, 0 already there, for 0 digests');
    assert.equal(rerun.attestations.length, 2, 'the status still names the attestations, from the marks');

    registry.deleteTag('prod-b.example/app', `${image.digest.replace(':', '-')}.sig`);
    const repair = await promoted(registry, image, trust, inventory);
    assert.deepEqual([...repair.attachmentsDue].map((o) => o.edge.dst.host), ['prod-b.example']);
    // The digest is signed once: prod-a's .sig layer (payload and annotations) is copied, not a new signature made.
    assert.match((await signPhase.run(repair)).message, /^0 digests signed by key signing, 0 already signed, in 1 destinations; 1 digests' signatures copied from another destination/);
    const sigTag = `${image.digest.replace(':', '-')}.sig`;
    assert.ok(registry.tag('prod-b.example/app', sigTag), 'the .sig tag is back');
    assert.equal(registry.tag('prod-b.example/app', sigTag), registry.tag('prod-a.example/app', sigTag), 'both mirrors hold the same .sig manifest');
  });
});
