// in-toto statements, SLSA predicate facts and policy matching, and the promotion record.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { HOIST_BUILDER_ID, PROMOTION_PREDICATE, promotionStatement } from '../../src/provenance/promotion.ts';
import { builderMatches, normaliseRepository, provenanceFacts, provenanceMismatch, SLSA_V02, SLSA_V1 } from '../../src/provenance/slsa.ts';
import { buildStatement, IN_TOTO_PAYLOAD_TYPE, parseStatement, statementCovers, STATEMENT_V1 } from '../../src/provenance/statement.ts';
import { hoistVersion } from '../../src/version.ts';

const DIGEST = `sha256:${'ab'.repeat(32)}`;

describe('statements', () => {
  test('build, parse (v1 and v0.1) and subject matching', () => {
    const bytes = buildStatement([{ name: 'r.example/app', digest: DIGEST }], 'https://example.com/p', { a: 1 });
    const parsed = parseStatement(IN_TOTO_PAYLOAD_TYPE, bytes);
    assert.ok('statement' in parsed);
    assert.equal(parsed.statement._type, STATEMENT_V1);
    assert.deepEqual(parsed.statement.subject, [{ name: 'r.example/app', digest: { sha256: 'ab'.repeat(32) } }]);
    assert.ok(statementCovers(parsed.statement, DIGEST));
    assert.ok(!statementCovers(parsed.statement, `sha256:${'cd'.repeat(32)}`));
    const v01 = Buffer.from(JSON.stringify({ _type: 'https://in-toto.io/Statement/v0.1', subject: [], predicateType: 'x', predicate: {} }));
    assert.ok('statement' in parseStatement(IN_TOTO_PAYLOAD_TYPE, v01));
    assert.ok('error' in parseStatement('text/plain', bytes));
    assert.ok('error' in parseStatement(IN_TOTO_PAYLOAD_TYPE, Buffer.from('{"_type":"other"}')));
  });
});

describe('SLSA', () => {
  const v1 = {
    buildDefinition: {
      externalParameters: { workflow: { repository: 'https://github.com/kubernetes-sigs/bom', path: '.github/workflows/release.yml' } },
      resolvedDependencies: [{ uri: 'git+https://github.com/kubernetes-sigs/bom@refs/tags/v0.6.0' }],
    },
    runDetails: { builder: { id: 'https://github.com/slsa-framework/slsa-github-generator/.github/workflows/generator_container_slsa3.yml@refs/tags/v2.0.0' } },
  };
  const v02 = {
    builder: { id: 'https://cloudbuild.googleapis.com/GoogleHostedWorker' },
    invocation: { configSource: { uri: 'git+https://github.com/kubernetes/release.git@refs/heads/master' } },
    materials: [{ uri: 'https://github.com/kubernetes/release' }],
  };

  test('facts from v1 and v0.2 predicates', () => {
    assert.deepEqual(provenanceFacts(SLSA_V1, v1), { builderId: v1.runDetails.builder.id, source: 'https://github.com/kubernetes-sigs/bom' });
    assert.deepEqual(provenanceFacts(SLSA_V02, v02), { builderId: v02.builder.id, source: 'https://github.com/kubernetes/release' });
    assert.equal(provenanceFacts('https://example.com/other', v1), undefined);
    // Container-based build type: source is {uri, digest}; Cloud Build v1: buildConfigSource.repository.
    const container = { buildDefinition: { externalParameters: { source: { uri: 'git+https://github.com/o/r@refs/heads/main', digest: { sha1: 'a' } } } } };
    assert.deepEqual(provenanceFacts(SLSA_V1, container), { source: 'https://github.com/o/r' });
    const gcb = { buildDefinition: { externalParameters: { buildConfigSource: { repository: 'https://github.com/o/gcb', ref: 'refs/heads/main', path: 'cloudbuild.yaml' } } } };
    assert.deepEqual(provenanceFacts(SLSA_V1, gcb), { source: 'https://github.com/o/gcb' });
  });

  test('the source is what the builder defines, never a fetched dependency or material', () => {
    const policy = { builderIds: ['https://builder.example/b'], sourceRepositories: ['https://github.com/org/app'] };
    // Built from evil/repo, which fetched org/app: not built from org/app.
    const v1Evil = {
      buildDefinition: {
        externalParameters: { source: 'git+https://github.com/evil/repo@refs/heads/main' },
        resolvedDependencies: [{ uri: 'git+https://github.com/evil/repo@refs/heads/main' }, { uri: 'git+https://github.com/org/app@refs/heads/main' }],
      },
      runDetails: { builder: { id: 'https://builder.example/b' } },
    };
    assert.deepEqual(provenanceFacts(SLSA_V1, v1Evil), { builderId: 'https://builder.example/b', source: 'https://github.com/evil/repo' });
    assert.match(provenanceMismatch(provenanceFacts(SLSA_V1, v1Evil)!, policy)!, /built from https:\/\/github.com\/evil\/repo, not from/);
    const v02Evil = {
      builder: { id: 'https://builder.example/b' },
      invocation: { configSource: { uri: 'git+https://github.com/evil/repo@refs/heads/main' } },
      materials: [{ uri: 'git+https://github.com/org/app' }],
    };
    assert.match(provenanceMismatch(provenanceFacts(SLSA_V02, v02Evil)!, policy)!, /built from https:\/\/github.com\/evil\/repo/);
    // Only dependencies/materials: the source is unknown, and a source policy refuses.
    const v1DepsOnly = { buildDefinition: { externalParameters: {}, resolvedDependencies: [{ uri: 'git+https://github.com/org/app' }] }, runDetails: { builder: { id: 'https://builder.example/b' } } };
    const v02MaterialsOnly = { builder: { id: 'https://builder.example/b' }, materials: [{ uri: 'https://github.com/org/app' }] };
    for (const [type, predicate] of [[SLSA_V1, v1DepsOnly], [SLSA_V02, v02MaterialsOnly]] as const) {
      const facts = provenanceFacts(type, predicate)!;
      assert.equal(facts.source, undefined, type);
      assert.match(provenanceMismatch(facts, policy)!, /names no source repository its builder defines/);
      assert.equal(provenanceMismatch(facts, { builderIds: policy.builderIds }), undefined, 'no source policy: the builder is enough');
    }
  });

  test('repository normalisation keeps userinfo, drops refs, .git and case', () => {
    assert.equal(normaliseRepository('git+https://GitHub.com/o/r.git@refs/tags/v1'), 'https://github.com/o/r');
    assert.equal(normaliseRepository('https://user@host.example/o/r/'), 'https://user@host.example/o/r');
  });

  test('builder ids: exact, or any ref when the policy names none', () => {
    const generator = 'https://github.com/slsa-framework/slsa-github-generator/.github/workflows/generator_container_slsa3.yml';
    assert.ok(builderMatches(generator, `${generator}@refs/tags/v2.0.0`));
    assert.ok(!builderMatches(`${generator}@refs/tags/v1.0.0`, `${generator}@refs/tags/v2.0.0`));
    assert.ok(!builderMatches('https://cloudbuild.googleapis.com/GoogleHosted', 'https://cloudbuild.googleapis.com/GoogleHostedWorker'));
  });

  test('policy: builder id then source repository', () => {
    const facts = provenanceFacts(SLSA_V02, v02)!;
    assert.equal(provenanceMismatch(facts, { builderIds: [v02.builder.id] }), undefined);
    assert.equal(provenanceMismatch(facts, { builderIds: [v02.builder.id], sourceRepositories: ['https://github.com/kubernetes/release.git'] }), undefined);
    assert.match(provenanceMismatch(facts, { builderIds: ['https://other'] })!, /builder https:\/\/cloudbuild.* is not one of/);
    assert.match(provenanceMismatch(facts, { builderIds: [v02.builder.id], sourceRepositories: ['https://github.com/evil/release'] })!, /not from https:\/\/github.com\/evil/);
    assert.match(provenanceMismatch({}, { builderIds: ['x'] })!, /no builder id/);
  });
});

describe('promotion record', () => {
  test('a Statement v1 about every destination, with source, tags, promoter and manifest identity', () => {
    const bytes = promotionStatement({
      digest: DIGEST, source: 'staging.example/app',
      destinations: [{ ref: 'prod-b.example/app', tags: ['v1', 'latest'] }, { ref: 'prod-a.example/app', tags: ['v1', 'latest'] }],
      timestamp: new Date('2026-11-25T00:00:00Z'),
      manifest: { kind: 'PromotionManifest', namespace: 'releases', name: 'app', generation: 2, revision: 'main@sha1:abc' },
    });
    const doc = JSON.parse(bytes.toString('utf8'));
    assert.equal(doc._type, STATEMENT_V1);
    assert.equal(doc.predicateType, PROMOTION_PREDICATE);
    assert.deepEqual(doc.subject.map((s: { name: string }) => s.name), ['prod-b.example/app', 'prod-a.example/app']);
    assert.deepEqual(doc.predicate, {
      source: { ref: `staging.example/app@${DIGEST}`, digest: DIGEST },
      destinations: [
        { ref: `prod-a.example/app@${DIGEST}`, digest: DIGEST, tags: ['latest', 'v1'] },
        { ref: `prod-b.example/app@${DIGEST}`, digest: DIGEST, tags: ['latest', 'v1'] },
      ],
      timestamp: '2026-11-25T00:00:00.000Z',
      promoter: { builderId: HOIST_BUILDER_ID, name: 'hoist', version: hoistVersion },
      manifest: { kind: 'PromotionManifest', namespace: 'releases', name: 'app', generation: 2, revision: 'main@sha1:abc' },
    });
  });
});
