// `hoist verify IMAGE@DIGEST` (or IMAGE:TAG): the signatures and attestations attached to an
// image, checked the way `cosign verify` checks them, with the same verification code the
// controller runs: bundles among the referrers and legacy `.sig`/`.att` layers, Rekor entries
// and RFC 3161 timestamps against a trusted root (the public-good root unless told otherwise),
// keys or a keyless identity. So anyone can check what Hoist promoted, or what staging holds.
import { readFileSync } from 'node:fs';
import { checkAttestations, type VerifiedAttestation } from '../../provenance/attestations.ts';
import { slsaPredicateTypes } from '../../provenance/slsa.ts';
import { parseReference, RegistryClient, type Reference } from '../../registry/index.ts';
import type { Found } from '../../signing/discover.ts';
import { TrustError } from '../../signing/errors.ts';
import { checkSignatures, whereFound } from '../../signing/image.ts';
import { loadPublicKey } from '../../signing/keys.ts';
import type { IdentityMatcher, SignerPolicy } from '../../signing/policy.ts';
import { publicGoodTrustedRoot, readTrustedRootFile, type TrustedRoot } from '../../signing/trusted-root.ts';
import type { Verified } from '../../signing/verify.ts';
import { ExitCode, UsageError, type Command, type CommandIO } from '../command.ts';
import { dockerConfigCredentials } from '../credentials.ts';
import { parseFlags } from '../flags.ts';

const flags = {
  key: { type: 'string', multiple: true },
  'certificate-identity': { type: 'string' },
  'certificate-identity-regexp': { type: 'string' },
  'certificate-oidc-issuer': { type: 'string' },
  'certificate-oidc-issuer-regexp': { type: 'string' },
  'trusted-root': { type: 'string' },
  'insecure-ignore-tlog': { type: 'boolean', default: false },
  'insecure-ignore-sct': { type: 'boolean', default: false },
  'attestation-type': { type: 'string', multiple: true },
  attestations: { type: 'boolean', default: false },
  output: { type: 'string', short: 'o', default: 'table' },
  'registry-config': { type: 'string' },
  'insecure-registry': { type: 'string', multiple: true },
} as const;

const flagHelp = `
Who must have signed (as cosign verify; a key, or a keyless identity and its issuer):
      --key FILE                         a public key (cosign.pub); repeatable, any one suffices
      --certificate-identity ID          the certificate's subject, exactly (e.g. an email or workflow URL)
      --certificate-identity-regexp RE   ... or matching this regular expression
      --certificate-oidc-issuer URL      the OIDC issuer, exactly (e.g. https://token.actions.githubusercontent.com)
      --certificate-oidc-issuer-regexp RE  ... or matching this regular expression

Trust:
      --trusted-root FILE      sigstore trusted_root.json (default: the public-good root built into hoist)
      --insecure-ignore-tlog   accept signatures without a transparency-log entry (keyless ones then need an RFC 3161 timestamp)
      --insecure-ignore-sct    accept Fulcio certificates without a signed certificate timestamp

Attestations (verified with the same signer policy):
      --attestation-type TYPE  also require an attestation of this predicate type: a URI, or slsaprovenance
                               (SLSA v1 or v0.2); repeatable
      --attestations           also list every attestation the signer made, of any type

Output and registries:
  -o, --output FORMAT          table or json (default table)
      --registry-config FILE   dockerconfigjson with registry credentials (default ~/.docker/config.json)
      --insecure-registry HOST talk plain http to HOST (loopback registries always are)

Exit codes: 0 verified; 1 not verified (the reasons are printed; an image that is not in the
registry is not verified, as with cosign); 2 bad usage.`;

interface Values {
  key?: string[];
  'certificate-identity'?: string;
  'certificate-identity-regexp'?: string;
  'certificate-oidc-issuer'?: string;
  'certificate-oidc-issuer-regexp'?: string;
  'trusted-root'?: string;
  'insecure-ignore-tlog'?: boolean;
  'insecure-ignore-sct'?: boolean;
}

function identityOf(values: Values): IdentityMatcher | undefined {
  const subject = values['certificate-identity'];
  const subjectRegExp = values['certificate-identity-regexp'];
  const issuer = values['certificate-oidc-issuer'];
  const issuerRegExp = values['certificate-oidc-issuer-regexp'];
  if (subject === undefined && subjectRegExp === undefined && issuer === undefined && issuerRegExp === undefined) return undefined;
  if ((subject === undefined) === (subjectRegExp === undefined)) {
    throw new UsageError('keyless verification needs exactly one of --certificate-identity or --certificate-identity-regexp');
  }
  if ((issuer === undefined) === (issuerRegExp === undefined)) {
    throw new UsageError('keyless verification needs exactly one of --certificate-oidc-issuer or --certificate-oidc-issuer-regexp');
  }
  for (const [flag, pattern] of [['certificate-identity-regexp', subjectRegExp], ['certificate-oidc-issuer-regexp', issuerRegExp]] as const) {
    if (pattern === undefined) continue;
    try {
      new RegExp(pattern, 'u');
    } catch (error) {
      throw new UsageError(`--${flag}: not a valid regular expression (${(error as Error).message})`);
    }
  }
  return {
    ...(issuer !== undefined && { issuer }), ...(issuerRegExp !== undefined && { issuerRegExp }),
    ...(subject !== undefined && { subject }), ...(subjectRegExp !== undefined && { subjectRegExp }),
  };
}

/** The policy from flags; a flag that cannot work is a usage error now, before any registry is read. */
async function policyOf(values: Values): Promise<SignerPolicy> {
  const identity = identityOf(values);
  const keyFiles = values.key ?? [];
  if (!identity && keyFiles.length === 0) {
    throw new UsageError('say who must have signed: --key FILE, or --certificate-identity[-regexp] with --certificate-oidc-issuer[-regexp]');
  }
  const keys = keyFiles.map((file) => {
    let pem: Buffer;
    try {
      pem = readFileSync(file);
    } catch (error) {
      throw new UsageError(`--key ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    }
    try {
      return { name: file, key: loadPublicKey(pem, `--key ${file}`) };
    } catch (error) {
      throw new UsageError((error as Error).message);
    }
  });
  let trustedRoot: TrustedRoot;
  try {
    trustedRoot = values['trusted-root'] !== undefined ? await readTrustedRootFile(values['trusted-root']) : await publicGoodTrustedRoot();
  } catch (error) {
    throw error instanceof TrustError ? new UsageError(`--trusted-root: ${error.message}`) : error;
  }
  return {
    keys, identities: identity ? [identity] : [], certificateAuthorities: trustedRoot.certificateAuthorities, trustedRoot,
    ...(values['insecure-ignore-tlog'] && { ignoreTlog: true }), ...(values['insecure-ignore-sct'] && { ignoreSCT: true }),
  };
}

/** `slsaprovenance` is cosign's name for SLSA provenance; anything else is a predicate type URI. */
function predicateTypesOf(types: string[]): string[] {
  return types.flatMap((t) => {
    if (t === 'slsaprovenance') return slsaPredicateTypes;
    if (t === 'slsaprovenance1') return ['https://slsa.dev/provenance/v1'];
    if (t === 'slsaprovenance02') return ['https://slsa.dev/provenance/v0.2'];
    if (!/^[a-z][a-z0-9+.-]*:/i.test(t)) throw new UsageError(`--attestation-type ${t}: give a predicate type URI, or slsaprovenance`);
    return [t];
  });
}

const formatOf = (found: Found) => (found.kind === 'bundle' ? 'bundle' : 'legacy');

function signatureView(found: Found, verified: Verified) {
  return {
    format: formatOf(found),
    location: whereFound(found),
    signer: verified.signer,
    ...(verified.identity && { identity: { subject: verified.identity.subject, issuer: verified.identity.issuer } }),
    timestamps: verified.timestamps.map((t) => ({ kind: t.kind, time: t.time.toISOString() })),
    tlogEntries: verified.tlogEntries.map((e) => ({ logIndex: e.logIndex, logId: e.logId, kind: e.kind, ...(e.integratedTime && { integratedTime: e.integratedTime.toISOString() }) })),
  };
}

function attestationView(a: VerifiedAttestation) {
  return { predicateType: a.statement.predicateType, ...signatureView(a.found, a.verified) };
}

interface ImageReport {
  image: string;
  digest: string;
  verified: boolean;
  /** The image manifest itself was not found: only what is stored for the digest was checked. */
  imageMissing?: boolean;
  signatures: ReturnType<typeof signatureView>[];
  attestations: ReturnType<typeof attestationView>[];
  problems: string[];
}

async function verifyOne(client: RegistryClient, ref: Reference, policy: SignerPolicy, attestationTypes: string[] | undefined, all: boolean): Promise<ImageReport> {
  const repo = { host: ref.host, name: ref.name };
  const head = await client.headManifest(repo, ref.digest ?? ref.tag!);
  if (!head && !ref.digest) throw new UsageError(`${ref.host}/${ref.name}:${ref.tag} does not exist`);
  const digest = ref.digest ?? head!.digest;
  const signatures = await checkSignatures(client, repo, digest, policy);
  // As cosign verify: an image that is not there is not verified, whatever signatures are stored
  // under its digest's tags (they are still checked and listed, so a lost image is told apart).
  const missing = head ? [] : [`DigestNotFound: ${ref.host}/${ref.name}@${digest} is not in the registry; only signatures stored for its digest were found`];
  const report: ImageReport = {
    image: `${ref.host}/${ref.name}`, digest, verified: head !== undefined && signatures.valid.length > 0,
    ...(!head && { imageMissing: true }),
    signatures: signatures.verified.map((v) => signatureView(v.found, v.verified)),
    attestations: [],
    problems: [...missing, ...(signatures.valid.length > 0 ? [] : signatures.problems)],
  };
  if (attestationTypes || all) {
    const wanted = attestationTypes ?? [];
    const attestations = await checkAttestations(client, repo, digest, wanted, policy);
    report.attestations = attestations.verified.map(attestationView);
    for (const type of attestationTypes ?? []) {
      if (!attestations.verified.some((a) => a.statement.predicateType === type)) {
        // SLSA: one of v1 or v0.2 suffices.
        if (slsaPredicateTypes.includes(type) && attestations.verified.some((a) => slsaPredicateTypes.includes(a.statement.predicateType))) continue;
        report.verified = false;
        report.problems.push(`no verified ${type} attestation`, ...attestations.problems);
      }
    }
  }
  report.problems = [...new Set(report.problems)];
  return report;
}

function table(report: ImageReport): string {
  const lines = [`${report.verified ? 'Verified' : 'NOT verified'}: ${report.image}@${report.digest}${report.imageMissing ? ' (the image is not in the registry)' : ''}`];
  const row = (what: string, v: ReturnType<typeof signatureView>) => {
    const time = v.timestamps.map((t) => `${t.time} (${t.kind === 'transparency-log' ? 'Rekor' : 'TSA'})`).join(', ') || '-';
    const log = v.tlogEntries.map((e) => `${e.kind} #${e.logIndex}`).join(', ') || '-';
    return `  ${what} ${v.format.padEnd(6)} ${v.signer}\n      signed at ${time}; log ${log}; ${v.location}`;
  };
  for (const s of report.signatures) lines.push(row('signature  ', s));
  for (const a of report.attestations) lines.push(row(`attestation ${a.predicateType}`, a));
  if (report.problems.length > 0) lines.push('  problems:', ...report.problems.map((p) => `    ${p}`));
  return `${lines.join('\n')}\n`;
}

async function run(args: string[], io: CommandIO): Promise<number> {
  const { values, positionals } = parseFlags('verify', args, flags, { positionals: true });
  if (positionals.length === 0) throw new UsageError('name the image: hoist verify HOST/REPOSITORY@sha256:<digest> (or :TAG)');
  if (values.output !== 'table' && values.output !== 'json') throw new UsageError(`--output must be table or json, got "${values.output}"`);
  const refs = positionals.map((text) => {
    let ref: Reference;
    try {
      ref = parseReference(text);
    } catch (error) {
      throw new UsageError((error as Error).message);
    }
    if (!ref.digest && !ref.tag) throw new UsageError(`${text}: give a digest (@sha256:...) or a tag`);
    return ref;
  });
  const policy = await policyOf(values);
  const attestationTypes = values['attestation-type'] ? predicateTypesOf(values['attestation-type']) : undefined;
  const client = new RegistryClient({ credentials: dockerConfigCredentials(values['registry-config']), insecureHosts: values['insecure-registry'] ?? [] });
  const reports: ImageReport[] = [];
  try {
    for (const ref of refs) reports.push(await verifyOne(client, ref, policy, attestationTypes, values.attestations === true));
  } finally {
    await client.close();
  }
  if (values.output === 'json') {
    io.out.write(`${JSON.stringify(reports.length === 1 ? reports[0] : reports, null, 2)}\n`);
  } else {
    for (const report of reports) io.out.write(table(report));
  }
  return reports.every((r) => r.verified) ? ExitCode.Ok : ExitCode.Failed;
}

export const verifyCommand: Command = {
  name: 'verify',
  usage: `hoist verify IMAGE@DIGEST|IMAGE:TAG... [flags]\n${flagHelp}`,
  flags,
  run,
};
