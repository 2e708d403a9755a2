// The inventory kept in a file between runs of the CLI (`hoist promote --cache-file`): written
// whole, to a temporary file renamed over the old one, so a crash never leaves half a file; read
// back with every field checked. A file that is not an inventory is ignored with a warning: the
// run then reads everything, as without a cache.
import { closeSync, fchmodSync, fstatSync, openSync, readSync, renameSync, writeSync } from 'node:fs';
import { Inventory, InventoryDataError, type InventoryOptions } from './inventory.ts';

/** Largest cache file read: a registry.k8s.io-sized inventory is ~20 MiB. */
const maxFileBytes = 512 * 1024 * 1024;

export interface LoadedInventory {
  inventory: Inventory;
  /** Why the file was not used, if it existed and was not an inventory. */
  problem?: string;
}

export function loadInventory(file: string, options: InventoryOptions = {}): LoadedInventory {
  const inventory = new Inventory(options);
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { inventory };
    return { inventory, problem: `${file}: ${(error as Error).message}; not used` };
  }
  try {
    if (fstatSync(fd).size > maxFileBytes) return { inventory, problem: `${file} is larger than ${maxFileBytes} bytes; not used` };
    inventory.import(lines(fd));
    return { inventory };
  } catch (error) {
    if (!(error instanceof InventoryDataError)) return { inventory: new Inventory(options), problem: `${file}: ${(error as Error).message}; not used` };
    return { inventory: new Inventory(options), problem: `${file} is not a Hoist inventory (${error.message}); not used, it will be rewritten` };
  } finally {
    closeSync(fd);
  }
}

/** The file's lines, read a MiB at a time: a registry.k8s.io-sized file is never held whole. */
function* lines(fd: number): Generator<string> {
  const chunk = Buffer.alloc(1 << 20);
  let rest = '';
  for (let n = readSync(fd, chunk); n > 0; n = readSync(fd, chunk)) {
    const text = rest + chunk.toString('utf8', 0, n);
    const parts = text.split('\n');
    rest = parts.pop()!;
    yield* parts;
  }
  if (rest) yield rest;
}

export function saveInventory(file: string, inventory: Inventory): void {
  const temporary = `${file}.${process.pid}.tmp`;
  const fd = openSync(temporary, 'w', 0o600);
  try {
    fchmodSync(fd, 0o600);
    let pending = '';
    for (const line of inventory.lines()) {
      pending += `${line}\n`;
      if (pending.length >= 1 << 20) {
        writeSync(fd, pending);
        pending = '';
      }
    }
    writeSync(fd, pending);
  } finally {
    closeSync(fd);
  }
  renameSync(temporary, file);
}
