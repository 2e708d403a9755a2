// The sigstore-conformance bundle-verify suite (test/fixtures/sigstore/conformance, 70 real
// cases) through Hoist's verification entry point, at cosign's default thresholds (one
// transparency-log entry, one SCT, one verified time for certificates): every case named
// `*_fail` must be refused, every other one accepted. A case whose trusted root is malformed
// is refused when the root is loaded, as sigstore-go refuses it.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { loadPublicKey } from '../../src/signing/keys.ts';
import type { SignerPolicy } from '../../src/signing/policy.ts';
import { parseTrustedRoot, publicGoodTrustedRoot } from '../../src/signing/trusted-root.ts';
import { verifyBundle, type Verdict } from '../../src/signing/verify.ts';

const assets = new URL('../fixtures/sigstore/conformance/test/assets/bundle-verify/', import.meta.url).pathname;
const DEFAULT_IDENTITY = 'https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main';
const DEFAULT_ISSUER = 'https://token.actions.githubusercontent.com';

const cases = readdirSync(assets).filter((name) => existsSync(join(assets, name, 'bundle.sigstore.json'))).sort();
const optional = (dir: string, file: string) => (existsSync(join(dir, file)) ? readFileSync(join(dir, file)) : undefined);

/** Runs one case the way `cosign verify-blob --bundle` would; a refusal is a verdict with a reason. */
async function runCase(name: string): Promise<Verdict> {
  const dir = join(assets, name);
  const rootText = optional(dir, 'trusted_root.json');
  let trustedRoot;
  try {
    trustedRoot = rootText ? parseTrustedRoot(rootText, `${name}/trusted_root.json`) : await publicGoodTrustedRoot();
  } catch (error) {
    return { reason: 'InvalidSignature', error: `trusted root refused: ${(error as Error).message}` };
  }
  const keyPem = optional(dir, 'key.pub');
  let key;
  try {
    key = keyPem && loadPublicKey(keyPem);
  } catch (error) {
    return { reason: 'InvalidSignature', error: `key refused: ${(error as Error).message}` };
  }
  const policy: SignerPolicy = {
    keys: key ? [{ name: 'key.pub', key }] : [],
    identities: keyPem ? [] : [{
      issuer: optional(dir, 'issuer')?.toString().trim() ?? DEFAULT_ISSUER,
      subject: optional(dir, 'identity')?.toString().trim() ?? DEFAULT_IDENTITY,
    }],
    certificateAuthorities: [],
    trustedRoot,
  };
  let bundle: unknown;
  try {
    bundle = JSON.parse(readFileSync(join(dir, 'bundle.sigstore.json'), 'utf8'));
  } catch (error) {
    return { reason: 'InvalidSignature', error: `bundle is not JSON: ${(error as Error).message}` };
  }
  return verifyBundle(bundle, optional(dir, 'artifact') ?? readFileSync(join(assets, 'a.txt')), policy);
}

describe('sigstore-conformance bundle-verify', () => {
  test('the suite is all here (70 cases)', () => {
    assert.equal(cases.length, 70);
  });
  for (const name of cases) {
    const mustFail = name.endsWith('_fail');
    test(`${name}: ${mustFail ? 'refused' : 'verified'}`, async () => {
      const verdict = await runCase(name);
      if (mustFail) {
        const why = optional(join(assets, name), 'README')?.toString().trim() ?? '(no README)';
        assert.ok('error' in verdict, `accepted, but the case must fail: ${why}`);
        assert.match(verdict.error, /^[A-Z][A-Za-z]+: |^(trusted root|key) refused|^bundle is not JSON/);
      } else {
        assert.ok('verified' in verdict, `refused: ${'error' in verdict ? verdict.error : ''}`);
      }
    });
  }

  test('a case @sigstore/verify 4.1 gets wrong is refused by Hoist: a tlog key without a validity start', async () => {
    const verdict = await runCase('trust-root-tlog-missing-validity-start_fail');
    assert.ok('error' in verdict);
    assert.match(verdict.error, /tlogs\[\d+\].* has no publicKey\.validFor\.start/);
  });
});
