// The manifests as they were before a change, for `hoist plan --diff BASE`. BASE is a path
// (a checkout of the base branch, a copy of the folder) or a git revision: then the same path
// is read at the merge-base of BASE and HEAD, as a pull request's diff is computed on GitHub
// and GitLab (three dots: what this branch changed, not what the base branch did since).
import { execFile } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { mkdtemp, realpath, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { promisify } from 'node:util';
import { UsageError } from './command.ts';

const run = promisify(execFile);

export interface BaseTree {
  /** Where the base manifests are; undefined when the path did not exist at the base revision. */
  path: string | undefined;
  /** What BASE named, and for a revision the commit read. */
  label: string;
  revision?: string;
  cleanup(): Promise<void>;
}

async function git(cwd: string, args: string[]): Promise<string> {
  try {
    const { stdout } = await run('git', args, { cwd, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
    return stdout.trim();
  } catch (error) {
    const e = error as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === 'ENOENT') throw new UsageError('--diff BASE: BASE is not a path, and git is not installed to read it as a revision');
    throw Object.assign(new Error((e.stderr ?? e.message).trim().split('\n')[0] ?? e.message), { git: true });
  }
}

/** Writes `path` of `commit` into `into`, through git archive and tar (both on every CI runner). */
function extract(top: string, commit: string, path: string, into: string): Promise<void> {
  return new Promise((done, fail) => {
    const archive = execFile('git', ['archive', '--format=tar', commit, '--', path], { cwd: top, encoding: 'buffer', maxBuffer: 1024 * 1024 * 1024 });
    const tar = execFile('tar', ['-x', '-C', into], (error) => (error ? fail(new Error(`tar: ${error.message}`)) : done()));
    archive.stdout!.pipe(tar.stdin!);
    archive.on('error', fail);
    archive.on('exit', (code) => { if (code !== 0) fail(new Error(`git archive ${commit} -- ${path} exited ${code}`)); });
  });
}

export async function resolveBase(base: string, target: string): Promise<BaseTree> {
  if (existsSync(base)) return { path: base, label: base, cleanup: async () => {} };
  const absolute = await realpath(resolve(target));
  const cwd = statSync(absolute).isDirectory() ? absolute : dirname(absolute);
  let top: string;
  try {
    top = await git(cwd, ['rev-parse', '--show-toplevel']);
  } catch (error) {
    if (error instanceof UsageError) throw error;
    throw new UsageError(`--diff ${base}: no such path, and ${target} is not in a git repository to read ${base} as a revision`);
  }
  let revision: string;
  try {
    await git(top, ['rev-parse', '--verify', '--quiet', `${base}^{commit}`]);
    revision = await git(top, ['merge-base', base, 'HEAD']);
  } catch {
    throw new UsageError(`--diff ${base}: neither a path nor a git revision with a merge-base with HEAD `
      + '(in CI, fetch the base branch with its history: actions/checkout with fetch-depth: 0, or git fetch --unshallow)');
  }
  const path = relative(await realpath(top), absolute) || '.';
  const exists = await git(top, ['cat-file', '-e', `${revision}:${path === '.' ? '' : path}`]).then(() => true, () => false);
  const label = `${base} (merge-base ${revision.slice(0, 12)})`;
  if (!exists) return { path: undefined, label, revision, cleanup: async () => {} };
  const dir = await mkdtemp(join(tmpdir(), 'hoist-diff-base-'));
  try {
    await extract(top, revision, path, dir);
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
  return { path: join(dir, path), label, revision, cleanup: () => rm(dir, { recursive: true, force: true }) };
}
