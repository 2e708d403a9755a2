// Writes the reason tables of docs/troubleshooting.md from the catalogue in src/api/reasons.ts,
// between the markers below; everything else in the guide is left as written.
//   npm run generate:docs         rewrite the tables
// test/unit/reasons.test.ts fails when the committed tables are not what this would write.
import { readFileSync, writeFileSync } from 'node:fs';
import { reasons, type Reason, type ReasonEntry, type ReasonTopic } from '../src/api/reasons.ts';

export const guide = 'docs/troubleshooting.md';
const begin = '<!-- reasons: generated from src/api/reasons.ts by `npm run generate:docs`; edit the catalogue, not these tables -->';
const end = '<!-- end of generated reasons -->';

const sections: { topic: ReasonTopic; title: string; intro: string }[] = [
  { topic: 'status', title: 'Ready and Reconciling', intro: 'The reasons of a manifest in normal operation.' },
  { topic: 'run', title: 'How a run ended', intro: 'The reason of `Ready` (and of `Stalled`) when a run did not do everything, and the Events that list images.' },
  { topic: 'spec', title: 'The spec and the options', intro: 'Checks before anything is read from a registry.' },
  { topic: 'secrets', title: 'Secrets', intro: 'Secrets are read from the manifest\'s own namespace only.' },
  { topic: 'trust', title: 'Signatures, provenance and signing', intro: 'Per-image verification reasons are in `status.failedImages`; the run then ends `VerificationFailed`.' },
  { topic: 'replication', title: 'Signature replication', intro: 'A SignatureReplication\'s run (`hoist replicate`, docs/replication.md); per mirror in `status.failures`.' },
  { topic: 'registry', title: 'Registry answers', intro: 'Per image (`status.failedImages[].reason`, Events) and inside messages, e.g. `reading the destination failed: Unauthorized: ...`.' },
  { topic: 'manifest', title: 'Manifest files and spec rules', intro: '`hoist validate` and `hoist promote` report these at `file:line:col`; the rules the CRD cannot check also stall a PromotionManifest.' },
  { topic: 'phase', title: 'Phase conditions', intro: 'One condition per phase of the last run. A failed phase (`status: False`) carries the reason it failed with, from the tables above.' },
];

/** The second column: what the reason does to the resource when a run ends with it. */
function effect(entry: ReasonEntry): string {
  if (!entry.uses.includes('run')) return '—';
  if (entry.topic === 'status') return 'Ready';
  return entry.terminal ? 'Stalled' : 'retried with backoff';
}

const cell = (text: string) => text.replaceAll('|', '\\|').replaceAll('\n', ' ');

export function reasonTables(): string {
  const entries = Object.entries(reasons) as [Reason, ReasonEntry][];
  const out: string[] = [begin, ''];
  for (const { topic, title, intro } of sections) {
    out.push(`### ${title}`, '', intro, '', '| Reason | As a run\'s reason | Meaning | What to do |', '|---|---|---|---|');
    for (const [reason, entry] of entries.filter(([, e]) => e.topic === topic)) {
      out.push(`| \`${reason}\` | ${effect(entry)} | ${cell(entry.meaning)} | ${cell(entry.action)} |`);
    }
    out.push('');
  }
  out.push(end);
  return out.join('\n');
}

/** The guide with its generated block replaced by the current tables. */
export function withReasonTables(markdown: string): string {
  const from = markdown.indexOf(begin);
  const to = markdown.indexOf(end);
  if (from < 0 || to < from) throw new Error(`${guide} has no generated reasons block (${begin} ... ${end})`);
  return `${markdown.slice(0, from)}${reasonTables()}${markdown.slice(to + end.length)}`;
}

if (import.meta.main) {
  writeFileSync(guide, withReasonTables(readFileSync(guide, 'utf8')));
}
