// Registry credentials for a run from the command line. Two sources, merged per registry host:
//   - a Docker config (--registry-config, else $DOCKER_CONFIG/config.json or ~/.docker/config.json),
//     as crane, skopeo and kpromo read it;
//   - for PromotionManifest YAML, the dockerconfigjson Secrets its registries name
//     (credentials.secretRef), from --secrets-dir, checked exactly as the controller checks them
//     in the cluster, so the file that works there works in PR CI too.
// A manifest that names a Secret nobody supplied is an error that says which flag supplies it,
// never a silent anonymous run.
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { resolveCredentials, type SecretReader } from '../controller/credentials.ts';
import { ReconcileError } from '../controller/errors.ts';
import { registryHost } from '../controller/spec.ts';
import type { LoadedManifest } from '../manifest/load.ts';
import { parseDockerConfig, StaticCredentials, type Credential } from '../registry/index.ts';
import { UsageError } from './command.ts';
import { SecretsDir, secretsDirHelp } from './secrets.ts';

export interface CredentialFlags {
  registryConfig?: string | undefined;
  secretsDir?: string | undefined;
}

export function dockerConfigCredentials(path: string | undefined): StaticCredentials {
  const fallback = join(process.env.DOCKER_CONFIG ?? join(homedir(), '.docker'), 'config.json');
  const file = path ?? (existsSync(fallback) ? fallback : undefined);
  if (!file) return new StaticCredentials();
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new UsageError(`--registry-config ${file}: ${(error as Error).message}`);
  }
  // An empty file (--registry-config /dev/null, or an unset CI secret written out) means
  // "no credentials": anonymous reads, on purpose.
  if (text.trim() === '') return new StaticCredentials();
  return parseDockerConfig(text, file);
}

const label = (m: LoadedManifest) => `${m.name ?? m.source}${m.name ? ` (${m.source})` : ''}`;

/** A SecretReader over --secrets-dir for one manifest; a Secret that is not there is a usage error naming the flag. */
function dirReader(dir: SecretsDir, manifest: LoadedManifest): SecretReader {
  return {
    async read(_namespace, name) {
      const secret = await dir.read(name, manifest.namespace);
      if (!secret) {
        throw new UsageError(`manifest ${label(manifest)} takes registry credentials from Secret "${name}", which is not in --secrets-dir ${dir.dir}: put ${secretsDirHelp(name)} there`);
      }
      const data = Object.fromEntries(Object.entries(secret.data).map(([k, v]) => [k, v.toString('base64')]));
      return { ...(secret.type !== undefined && { type: secret.type }), data };
    },
  };
}

const same = (a: Credential, b: Credential) => JSON.stringify(a) === JSON.stringify(b);

/** The credentials of a run: the Docker config's, with those of the Secrets the manifests name on top. */
export async function runCredentials(flags: CredentialFlags, manifests: LoadedManifest[], note: (line: string) => void): Promise<StaticCredentials> {
  const base = dockerConfigCredentials(flags.registryConfig);
  const naming = manifests.filter((m) => m.spec.registries.some((r) => r.secretName));
  if (naming.length === 0) return base;
  if (flags.secretsDir === undefined) {
    const first = naming[0]!;
    const registry = first.spec.registries.find((r) => r.secretName)!;
    if (flags.registryConfig !== undefined) {
      note(`note: credentials.secretRef of ${naming.length} manifest(s) not read (no --secrets-dir); using --registry-config ${flags.registryConfig} for every registry`);
      return base;
    }
    throw new UsageError(`manifest ${label(first)}: registry "${registry.name}" takes its credentials from Secret "${registry.secretName}" (credentials.secretRef); `
      + `pass --secrets-dir DIR holding ${secretsDirHelp(registry.secretName!)}, or --registry-config FILE with an entry for ${registryHost(registry.name)} `
      + '(--registry-config /dev/null reads anonymously, as a read-only plan of public registries may)');
  }
  const dir = new SecretsDir(flags.secretsDir);
  const entries: Record<string, Credential> = Object.fromEntries(base.hosts.map((h) => [h, base.get(h)]));
  const givenBy = new Map<string, string>();
  for (const manifest of naming) {
    let resolved: StaticCredentials;
    try {
      resolved = await resolveCredentials(dirReader(dir, manifest), manifest.namespace ?? 'default', manifest.spec);
    } catch (error) {
      if (error instanceof ReconcileError) throw new UsageError(`manifest ${label(manifest)}: ${error.reason}: ${error.message}`);
      throw error;
    }
    for (const host of resolved.hosts) {
      const credential = resolved.get(host);
      const earlier = givenBy.get(host);
      if (earlier !== undefined && !same(entries[host]!, credential)) {
        throw new UsageError(`manifests ${earlier} and ${label(manifest)} take different credentials for ${host}; run them one at a time`);
      }
      entries[host] = credential;
      givenBy.set(host, label(manifest));
    }
  }
  return new StaticCredentials(entries);
}
