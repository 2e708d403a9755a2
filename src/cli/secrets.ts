// The Secrets a PromotionManifest names, for a run outside the cluster (`hoist plan` in PR CI).
// `--secrets-dir DIR` serves them in the two shapes people already have:
//   - Secret manifests: any DIR/*.yaml, *.yml or *.json holding `kind: Secret` documents (or a
//     `kind: List` of them), as `kubectl get secret NAME -o yaml` or `kubectl create secret
//     docker-registry NAME --dry-run=client -o yaml` write them, and as a decrypted SOPS file
//     of a Flux repository holds them (`data` base64, or `stringData`);
//   - a mounted Secret volume: DIR/<name>/<key>, one file per key, as the kubelet mounts a
//     Secret (and as a CI system mounts one).
// A Secret is looked up by name; a manifest with a namespace only takes a Secret of that
// namespace or of none, as the controller reads Secrets from the manifest's own namespace.
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { UsageError } from './command.ts';

export interface SecretData {
  type?: string;
  /** Decoded values by key. */
  data: Record<string, Buffer>;
}

interface Found extends SecretData {
  name: string;
  namespace?: string;
  /** Where it was read, for messages. */
  from: string;
}

const dockerConfigType = 'kubernetes.io/dockerconfigjson';
/** Above this a file is not a Secret manifest anyone meant (the API server's limit is 1 MiB). */
const maxFileBytes = 4 * 1024 * 1024;

/** How --secrets-dir is laid out, for messages that say what to put where. */
export function secretsDirHelp(name: string): string {
  return `a Secret manifest named ${name} in DIR/*.yaml (kubectl get secret ${name} -o yaml > DIR/${name}.yaml), or DIR/${name}/<key> files`;
}

export class SecretsDir {
  readonly dir: string;
  #manifests: Promise<Found[]> | undefined;

  constructor(dir: string) {
    this.dir = dir;
  }

  /** The Secret `name` for a manifest in `namespace` (undefined: any), or undefined when it is not here. */
  async read(name: string, namespace?: string): Promise<SecretData | undefined> {
    const mounted = await this.#mounted(name);
    if (mounted) return mounted;
    const all = (await (this.#manifests ??= this.#readManifests())).filter((s) => s.name === name);
    const matching = all.filter((s) => namespace === undefined || s.namespace === undefined || s.namespace === namespace);
    if (matching.length > 1) {
      throw new UsageError(`--secrets-dir ${this.dir}: Secret "${name}" is defined more than once (${matching.map((s) => s.from).join(', ')}); keep one, or give each a metadata.namespace`);
    }
    return matching[0];
  }

  /** DIR/<name>/<key>: a mounted volume; the kubelet's `..data` links and dot-dot entries are not keys. */
  async #mounted(name: string): Promise<SecretData | undefined> {
    if (name.includes('/') || name.startsWith('.')) return undefined;
    const path = join(this.dir, name);
    const info = await stat(path).catch(() => undefined);
    if (!info?.isDirectory()) return undefined;
    const data: Record<string, Buffer> = {};
    for (const key of await readdir(path)) {
      if (key.startsWith('..')) continue;
      const file = join(path, key);
      const fileInfo = await stat(file).catch(() => undefined);
      if (!fileInfo?.isFile()) continue;
      if (fileInfo.size > maxFileBytes) throw new UsageError(`--secrets-dir: ${file} is ${fileInfo.size} bytes; a Secret key holds at most 1 MiB`);
      data[key] = await readFile(file);
    }
    return { ...(data['.dockerconfigjson'] && { type: dockerConfigType }), data };
  }

  async #readManifests(): Promise<Found[]> {
    let entries: string[];
    try {
      entries = (await readdir(this.dir)).filter((f) => /\.(ya?ml|json)$/.test(f)).sort();
    } catch (error) {
      throw new UsageError(`--secrets-dir ${this.dir}: ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such directory' : (error as Error).message}`);
    }
    const found: Found[] = [];
    for (const entry of entries) {
      const file = join(this.dir, entry);
      const info = await stat(file);
      if (!info.isFile() || info.size > maxFileBytes) continue;
      for (const document of parseAllDocuments(await readFile(file, 'utf8'))) {
        if (document.errors.length > 0) continue;
        const value = document.toJS() as unknown;
        for (const item of listItems(value)) {
          const secret = asSecret(item, file);
          if (secret) found.push(secret);
        }
      }
    }
    return found;
  }
}

function listItems(value: unknown): unknown[] {
  const v = value as { kind?: unknown; items?: unknown } | null;
  if (v && typeof v === 'object' && v.kind === 'List' && Array.isArray(v.items)) return v.items;
  return [value];
}

/** A `kind: Secret` document, decoded; anything else (other kinds, bad base64) is not one. */
function asSecret(value: unknown, from: string): Found | undefined {
  const v = value as { kind?: unknown; type?: unknown; metadata?: { name?: unknown; namespace?: unknown }; data?: unknown; stringData?: unknown } | null;
  if (!v || typeof v !== 'object' || v.kind !== 'Secret' || typeof v.metadata?.name !== 'string') return undefined;
  const data: Record<string, Buffer> = {};
  const section = (s: unknown) => (s && typeof s === 'object' && !Array.isArray(s) ? Object.entries(s as Record<string, unknown>) : []);
  for (const [key, text] of section(v.data)) {
    if (typeof text !== 'string' || !/^[A-Za-z0-9+/\s]*={0,2}\s*$/.test(text)) {
      throw new UsageError(`--secrets-dir: ${from}: Secret ${v.metadata.name}: data.${key} is not base64; put plain text under stringData instead`);
    }
    data[key] = Buffer.from(text, 'base64');
  }
  // As the API server does: stringData wins over data for the same key.
  for (const [key, text] of section(v.stringData)) if (typeof text === 'string') data[key] = Buffer.from(text, 'utf8');
  return {
    name: v.metadata.name,
    ...(typeof v.metadata.namespace === 'string' && { namespace: v.metadata.namespace }),
    ...(typeof v.type === 'string' && { type: v.type }),
    data, from,
  };
}

/** One key of a Secret in `dir`, for the trust settings (public keys, the signing key and its password). */
export function secretKeyReader(dir: SecretsDir, namespace?: string): (name: string, key: string) => Promise<Buffer> {
  return async (name, key) => {
    const secret = await dir.read(name, namespace);
    if (!secret) throw new Error(`Secret "${name}" is not in --secrets-dir ${dir.dir}: put ${secretsDirHelp(name)} there`);
    const value = secret.data[key];
    if (value === undefined) {
      // The reason the controller gives: a missing cosign.password then means "no password".
      throw Object.assign(new Error(`Secret "${name}" in --secrets-dir ${dir.dir} has no key "${key}"; add it`), { reason: 'SecretKeyNotFound' });
    }
    return value;
  };
}
