// The reason catalogue (src/api/reasons.ts) is the one place reasons are decided and documented:
// every reason the registry client, the trust code and the manifest reader give their errors is
// in it (checked by the type checker), every reason is a valid condition reason, the
// troubleshooting guide's tables are what the catalogue generates, and no reason is documented
// that nothing in src produces.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { CONDITION_REASON_PATTERN } from '../../src/api/patterns.ts';
import { isTerminal, phaseNames, reasons, type Reason } from '../../src/api/reasons.ts';
import type { ManifestErrorReason } from '../../src/manifest/errors.ts';
import type { RegistryErrorReason } from '../../src/registry/errors.ts';
import type { TrustErrorReason } from '../../src/signing/errors.ts';
import type { Verdict } from '../../src/signing/verify.ts';
import { guide, withReasonTables } from '../../scripts/generate-reasons-doc.ts';

// Compile-time: each union of error reasons is part of the catalogue. A reason added to one of
// them without a catalogue entry fails `npm run typecheck` here.
const fromRegistry: readonly Reason[] = [] as RegistryErrorReason[];
const fromTrust: readonly Reason[] = [] as TrustErrorReason[];
const fromManifests: readonly Reason[] = [] as ManifestErrorReason[];
const fromVerification: readonly Reason[] = [] as NonNullable<Extract<Verdict, { reason?: unknown }>['reason']>[];

test('every reason is a valid condition reason, with a meaning and an action', () => {
  assert.equal(fromRegistry.length + fromTrust.length + fromManifests.length + fromVerification.length, 0);
  const pattern = new RegExp(CONDITION_REASON_PATTERN);
  for (const [reason, entry] of Object.entries(reasons)) {
    assert.match(reason, pattern);
    assert.ok(reason.length <= 128, reason);
    assert.ok(entry.meaning.length > 10 && entry.action.length > 3, reason);
  }
});

test('spec, Secret and trust problems stall; registry trouble and unexpected failures are retried', () => {
  for (const r of ['InvalidSpec', 'RegistryNotAllowed', 'SecretNotFound', 'DuplicateImage', 'ProvenanceSignerUnknown', 'KeylessNeedsTrustedRoot', 'WrongKeyPassword', 'TagMoveRefused', 'DigestNotFound', 'VerificationFailed']) {
    assert.equal(isTerminal(r), true, r);
  }
  for (const r of ['ImagesFailed', 'Timeout', 'RunFailed', 'SecretForbidden', 'PromoteFailed', 'SigningFailed', 'Unauthorized', 'Succeeded', 'NoSuchReason']) {
    assert.equal(isTerminal(r), false, r);
  }
});

test(`${guide}'s reason tables are generated from the catalogue and current (npm run generate:docs)`, () => {
  const text = readFileSync(guide, 'utf8');
  assert.equal(text, withReasonTables(text));
  for (const reason of Object.keys(reasons)) assert.ok(text.includes(`| \`${reason}\` |`), reason);
});

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));
}

test('no reason is documented that nothing produces', () => {
  const code = sources('src').filter((f) => f !== join('src', 'api', 'reasons.ts')).map((f) => readFileSync(f, 'utf8')).join('\n');
  // Phase condition reasons are made from the phase names by the engine (phaseReason).
  const phaseMade = new Set(phaseNames.flatMap((p) => [`${p}Succeeded`, `${p}Skipped`]));
  const unused = Object.keys(reasons).filter((r) => !phaseMade.has(r) && !code.includes(`'${r}'`));
  assert.deepEqual(unused, []);
});
