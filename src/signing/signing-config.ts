// Sigstore's signing config (application/vnd.dev.sigstore.signingconfig.v0.2+json, what
// `cosign signing-config create` writes and TUF distributes): which Fulcio, Rekor and timestamp
// authority a signer uses. Hoist picks one of each the way cosign and sigstore-js do: the
// newest service, by validity start, that has not ended and speaks an API version Hoist writes.
import { readFile } from 'node:fs/promises';
import { SigningConfig, type Service } from '@sigstore/protobuf-specs';
import { TrustError, contentFreeProblem } from './errors.ts';
import type { SigningServices } from './options.ts';

export interface SigningConfigChoice {
  /** Fulcio, when the config names one. */
  fulcioURL?: string;
  services: SigningServices;
}

function pick(services: Service[], maxVersion: number, now: Date): Service | undefined {
  return services
    .filter((s) => s.majorApiVersion >= 1 && s.majorApiVersion <= maxVersion && (!s.validFor?.end || s.validFor.end >= now) && (!s.validFor?.start || s.validFor.start <= now))
    .sort((a, b) => (b.validFor?.start?.getTime() ?? 0) - (a.validFor?.start?.getTime() ?? 0))[0];
}

/** The services a signing config (object or JSON text) names; `source` is for messages. */
export function parseSigningConfig(input: unknown, source: string, now = new Date()): SigningConfigChoice {
  let json = input;
  if (typeof input === 'string' || Buffer.isBuffer(input)) {
    try {
      json = JSON.parse(input.toString());
    } catch (error) {
      throw new TrustError('InvalidSigningConfig', `the signing config ${source} is not JSON (${contentFreeProblem(error)})`);
    }
  }
  if (typeof json !== 'object' || json === null) throw new TrustError('InvalidSigningConfig', `the signing config ${source} is not a JSON object`);
  let config: SigningConfig;
  try {
    config = SigningConfig.fromJSON(json);
  } catch (error) {
    throw new TrustError('InvalidSigningConfig', `the signing config ${source} is not a sigstore signing config (${contentFreeProblem(error)})`);
  }
  if (!config.mediaType.startsWith('application/vnd.dev.sigstore.signingconfig.')) {
    throw new TrustError('InvalidSigningConfig', `the signing config ${source} has media type "${config.mediaType}", not application/vnd.dev.sigstore.signingconfig.v0.2+json`);
  }
  const fulcio = pick(config.caUrls, 1, now);
  const rekor = pick(config.rekorTlogUrls, 2, now);
  const tsa = pick(config.tsaUrls, 1, now);
  if (config.rekorTlogUrls.length > 0 && !rekor) throw new TrustError('InvalidSigningConfig', `the signing config ${source} names no Rekor that is valid now with API version 1 or 2`);
  if (config.tsaUrls.length > 0 && !tsa) throw new TrustError('InvalidSigningConfig', `the signing config ${source} names no timestamp authority that is valid now with API version 1`);
  return {
    ...(fulcio && { fulcioURL: fulcio.url }),
    services: {
      ...(rekor && { rekorURL: rekor.url, rekorVersion: rekor.majorApiVersion as 1 | 2 }),
      ...(tsa && { timestampAuthorityURL: tsa.url }),
    },
  };
}

export async function readSigningConfigFile(file: string): Promise<SigningConfigChoice> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new TrustError('InvalidSigningConfig', `cannot read the signing config ${file} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
  return parseSigningConfig(text, file);
}
