// Reading manifest files as untrusted input: only regular files, only from inside the directory
// the user named (a symlink out of it is refused before anything is read, so no byte of its
// target is ever echoed in an error), never more than a fixed size, and never blocking on a FIFO
// or a device.
import { constants } from 'node:fs';
import { lstat, open, realpath, stat } from 'node:fs/promises';
import { sep } from 'node:path';
import { ManifestError } from './errors.ts';

/**
 * The largest manifest file read: 8 MiB. registry.k8s.io's largest images.yaml
 * (k8s-staging-kubernetes) is ~0.95 MB; parsing costs ~80 bytes of memory per byte with the
 * full YAML parser, so this bounds one file to well under a GB even on the slow path.
 */
export const maxManifestFileBytes = 8 * 1024 * 1024;

const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;

function kindOf(info: { isDirectory(): boolean; isFIFO(): boolean; isCharacterDevice(): boolean; isBlockDevice(): boolean; isSocket(): boolean }): string {
  if (info.isDirectory()) return 'a directory';
  if (info.isFIFO()) return 'a FIFO (named pipe)';
  if (info.isCharacterDevice() || info.isBlockDevice()) return 'a device';
  if (info.isSocket()) return 'a socket';
  return 'not a regular file';
}

/** Whether `path` (already resolved) lies inside `root` (already resolved). */
export function isInside(path: string, root: string): boolean {
  return path === root || path.startsWith(root.endsWith(sep) ? root : root + sep);
}

/**
 * The text of a manifest file, or a located error naming the file. With `within`, a file whose
 * real path (after symlinks) is outside that directory is refused. ENOENT is reported with
 * reason MissingManifestFile; callers word it for what is missing.
 */
export async function readManifestFile(file: string, within?: string): Promise<string | ManifestError> {
  const fail = (reason: ConstructorParameters<typeof ManifestError>[0], detail: string) => new ManifestError(reason, file, 1, 1, detail);
  let link;
  try {
    link = await lstat(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return code === 'ENOENT' ? fail('MissingManifestFile', 'file not found') : fail('UnreadableFile', `cannot read the file: ${(error as Error).message}`);
  }
  // Checked for every file, not only links: a linked directory on the way (images/<project>
  // pointing elsewhere) leads out just as well.
  if (within !== undefined) {
    const [target, root] = await Promise.all([realpath(file).catch(() => undefined), realpath(within).catch(() => within)]);
    if (target === undefined) return fail('MissingManifestFile', 'a symbolic link to a file that does not exist');
    if (!isInside(target, root)) {
      return fail('OutsideDirectory', `resolves (through a symbolic link) to a file outside ${within}; manifests are read only from inside the directory given — copy the file in instead of linking it`);
    }
  }
  const info = await stat(file).catch(() => undefined);
  if (!info) return fail('MissingManifestFile', 'a symbolic link to a file that does not exist');
  if (!info.isFile()) return fail('NotARegularFile', `is ${kindOf(info)}, not a manifest file; remove it or rename it so it does not end in .yaml`);
  if (info.size > maxManifestFileBytes) {
    return fail('FileTooLarge', `the file is ${mib(info.size)}; manifest files are read up to ${mib(maxManifestFileBytes)} — split the project into several`);
  }
  // O_NONBLOCK: if the file was swapped for a FIFO since stat, opening it must not wait for a writer.
  let handle;
  try {
    handle = await open(file, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (error) {
    return fail('UnreadableFile', `cannot read the file: ${(error as Error).message}`);
  }
  try {
    const now = await handle.stat();
    if (!now.isFile()) return fail('NotARegularFile', `is ${kindOf(now)}, not a manifest file`);
    // Read to the end, whatever stat said: the file may have grown since.
    const chunks: Buffer[] = [];
    let length = 0;
    for (;;) {
      const chunk = Buffer.alloc(Math.max(64 * 1024, Math.min(now.size + 1, maxManifestFileBytes + 1) - length));
      const { bytesRead } = await handle.read(chunk, 0, chunk.length, length);
      if (bytesRead === 0) break;
      chunks.push(chunk.subarray(0, bytesRead));
      length += bytesRead;
      if (length > maxManifestFileBytes) break;
    }
    const buffer = Buffer.concat(chunks, length);
    if (length > maxManifestFileBytes) {
      return fail('FileTooLarge', `the file is larger than ${mib(maxManifestFileBytes)}, the most a manifest file may hold — split the project into several`);
    }
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(buffer);
    } catch {
      return fail('UnreadableFile', 'the file is not UTF-8 text');
    }
  } catch (error) {
    return fail('UnreadableFile', `cannot read the file: ${(error as Error).message}`);
  } finally {
    await handle.close();
  }
}
