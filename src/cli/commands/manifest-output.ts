// What `hoist validate`, `hoist plan --parse-only` and `hoist promote` say about the manifests
// they loaded: every problem located like a compiler's, a summary, the exit code, and for
// `plan --parse-only -o json|yaml` the edges as data, streamed (registry.k8s.io's tree is
// ~400,000 edges, ~80 MB of JSON), one edge per line so two plans diff line by line.
import type { Repository } from '../../api/reference.ts';
import { sortErrors } from '../../manifest/errors.ts';
import { acceptedEdgeCount, type LoadedManifests } from '../../manifest/load.ts';
import { expandRun, Repositories, sharedDestinations } from '../../manifest/model.ts';
import type { CommandIO } from '../command.ts';

/** Done, but something was refused: a manifest, an entry, or (later) an edge. */
export const refusedExitCode = 3;

export interface ManifestVerdict {
  /** Nothing can go on: no manifest was accepted, the path named none, or refusals left no edge. */
  nothingAccepted: boolean;
  /** Some manifest or entry was refused. */
  someRefused: boolean;
}

const plural = (n: number, word: string) => `${n.toLocaleString('en-US')} ${n === 1 ? word : word === 'entry' ? 'entries' : `${word}s`}`;

/** Prints every warning and error to stderr, sorted by file and line, and a summary of what was refused. */
export function reportManifestProblems(loaded: LoadedManifests, io: CommandIO, what = 'the manifests'): ManifestVerdict {
  for (const problem of sortErrors([...loaded.errors, ...loaded.warnings])) io.err.write(`${problem.format()}\n`);
  const entries = loaded.errors.filter((e) => e.scope === 'entry').length;
  // Nothing goes on when no manifest was accepted, or when refusals left no edge at all.
  const nothingAccepted = loaded.specs.length === 0 || (loaded.errors.length > 0 && acceptedEdgeCount(loaded) === 0);
  const someRefused = loaded.errors.length > 0;
  if (someRefused) {
    const parts: string[] = [];
    if (loaded.refused.length > 0) parts.push(`${plural(loaded.refused.length, 'manifest')} refused (${loaded.refused.map((r) => r.name ?? r.source).join(', ')})`);
    if (entries > 0) parts.push(`${plural(entries, 'entry')} refused; the rest of ${entries === 1 ? 'its manifest' : 'their manifests'} goes on`);
    if (parts.length === 0) parts.push(`${plural(loaded.errors.length, 'problem')} in ${what}`);
    io.err.write(`error: ${parts.join('; ')}\n`);
  }
  return { nothingAccepted, someRefused };
}

export function acceptedSummary(loaded: LoadedManifests): string {
  const warnings = loaded.warnings.length;
  return `${plural(loaded.specs.length, 'manifest')}, ${plural(acceptedEdgeCount(loaded), 'edge')}${warnings ? ` (${plural(warnings, 'warning')})` : ''}`;
}

/** Writes `text` and waits while the stream's buffer is full, so output of any size stays flat in memory. */
async function write(out: NodeJS.WritableStream, text: string | Buffer): Promise<void> {
  if (!out.write(text)) await new Promise<void>((resolve) => out.once('drain', () => resolve()));
}

/**
 * `plan --parse-only`: the summary (table), or the manifests, problems and every edge as data
 * (json, yaml). Exit 0 when everything was accepted, 3 when something was refused, 1 when
 * nothing was.
 */
export async function printParsedPlan(loaded: LoadedManifests, output: 'table' | 'json' | 'yaml', io: CommandIO, verdict: ManifestVerdict): Promise<number> {
  const code = verdict.nothingAccepted ? 1 : verdict.someRefused ? refusedExitCode : 0;
  if (output === 'table') {
    if (!verdict.nothingAccepted) io.out.write(`ok: ${acceptedSummary(loaded)}\n`);
    return code;
  }
  const manifests = loaded.specs.map((m) => JSON.stringify({
    source: m.source, ...(m.name !== undefined && { name: m.name }), ...(m.namespace !== undefined && { namespace: m.namespace }),
    edges: acceptedEdgeCount({ ...loaded, specs: [m] }), refusedEntries: m.refusedEntries.length,
  }));
  const refused = loaded.refused.map((r) => JSON.stringify({ source: r.source, ...(r.name !== undefined && { name: r.name }), reasons: [...new Set(r.errors.map((e) => e.reason))] }));
  const problems = sortErrors([...loaded.errors, ...loaded.warnings]).map((p) => JSON.stringify(p));
  const json = output === 'json';
  const list = (name: string, items: string[], last = false) => (json
    ? `  "${name}": [${items.length === 0 ? '' : `\n    ${items.join(',\n    ')}\n  `}]${last ? '' : ','}\n`
    : `${name}:${items.length === 0 ? ' []' : `\n${items.map((i) => `  - ${i}`).join('\n')}`}\n`);
  await write(io.out, `${json ? '{\n' : ''}${list('manifests', manifests)}${list('refused', refused)}${list('problems', problems)}`);

  const specs = loaded.specs.map((m) => m.spec);
  const repositories = new Repositories();
  // Built straight into Buffers from pieces encoded once (per repository, per digest), and with
  // no object per edge: the ~80 MB of output never exists as JavaScript values, so memory stays
  // near what parsing needs. Only where manifests share a destination (and an edge may gain tags
  // from a later manifest) are the edges built first.
  const refs = new Map<Repository, Buffer>();
  const ref = (repo: Repository) => {
    let bytes = refs.get(repo);
    if (bytes === undefined) refs.set(repo, bytes = Buffer.from(JSON.stringify(`${repo.host}/${repo.name}`)));
    return bytes;
  };
  const [open, separator, close] = (json ? ['  "edges": [\n    ', ',\n    ', '\n  ]\n}\n'] : ['edges:\n  - ', '\n  - ', '\n']).map((t) => Buffer.from(t));
  // Two buffers in turn: one is filled while the other is being written, and a buffer is
  // reused only once its write has completed, so the output costs 512 KiB whatever its size.
  const size = 256 * 1024;
  const buffers = [Buffer.allocUnsafe(size), Buffer.allocUnsafe(size)] as const;
  const written: Promise<void>[] = [Promise.resolve(), Promise.resolve()];
  let current = 0;
  let buffer: Buffer = buffers[0];
  let at = 0;
  let count = 0;
  const flush = async () => {
    const chunk = buffer.subarray(0, at);
    written[current] = new Promise<void>((resolve, reject) => {
      io.out.write(chunk, (error?: Error | null) => (error ? reject(error) : resolve()));
    });
    current = 1 - current;
    await written[current];
    buffer = buffers[current as 0 | 1];
    at = 0;
  };
  /** One edge; awaits only when the buffer is full (a promise per edge would be garbage the size of the output). */
  const edge = (before: Buffer, dst: Buffer, after: Buffer): Promise<void> | undefined => {
    const lead = count++ === 0 ? open! : separator!;
    const pending = at + lead.length + before.length + dst.length + after.length > size ? flush() : undefined;
    const put = () => {
      at += lead.copy(buffer, at);
      at += before.copy(buffer, at);
      at += dst.copy(buffer, at);
      at += after.copy(buffer, at);
    };
    if (pending) return pending.then(put);
    put();
    return undefined;
  };
  const around = (src: Repository, digest: string, tags: readonly string[]) => [
    Buffer.from(`{"source":${ref(src).toString()},"digest":"${digest}","destination":`),
    Buffer.from(`,"tags":${JSON.stringify(tags)}}`),
  ] as const;

  if (sharedDestinations(specs, repositories).size > 0) {
    for (const e of expandRun(specs, repositories)) {
      const [before, after] = around(e.src, e.digest, e.tags);
      const full = edge(before, ref(e.dst), after);
      if (full) await full;
    }
  } else {
    // The same order as expandEdges: images by name, digests sorted, destinations as listed.
    for (const spec of specs) {
      const source = spec.registries.find((r) => r.src)!;
      const destinations = spec.registries.filter((r) => !r.src);
      const images = [...spec.images].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      for (const image of images) {
        const src = repositories.get(source.name, image.name);
        const dsts = destinations.map((d) => ref(repositories.get(d.name, image.name)));
        for (const digest of Object.keys(image.dmap).sort()) {
          const [before, after] = around(src, digest, image.dmap[digest]!);
          for (const dst of dsts) {
            const full = edge(before, dst, after);
            if (full) await full; // `await undefined` would still cost a promise per edge
          }
        }
      }
    }
  }
  const end = count === 0 ? Buffer.from(json ? '  "edges": []\n}\n' : 'edges: []\n') : close!;
  if (at + end.length > size) await flush();
  at += end.copy(buffer, at);
  await flush();
  await Promise.all(written);
  return code;
}
