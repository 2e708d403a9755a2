// The inventory kept in a file between runs of the CLI (`hoist promote --cache-file`): written
// whole, to a temporary file renamed over the old one, so a crash never leaves half a file; read
// back with every field checked. A file that is not an inventory is ignored with a warning: the
// run then reads everything, as without a cache.
import { chmodSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
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
  let text: string;
  try {
    const bytes = readFileSync(file);
    if (bytes.length > maxFileBytes) return { inventory, problem: `${file} is larger than ${maxFileBytes} bytes; not used` };
    text = bytes.toString('utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { inventory };
    return { inventory, problem: `${file}: ${(error as Error).message}; not used` };
  }
  try {
    inventory.import(JSON.parse(text));
    return { inventory };
  } catch (error) {
    const why = error instanceof InventoryDataError ? error.message : 'not valid JSON';
    return { inventory: new Inventory(options), problem: `${file} is not a Hoist inventory (${why}); not used, it will be rewritten` };
  }
}

export function saveInventory(file: string, inventory: Inventory): void {
  const temporary = `${file}.${process.pid}.tmp`;
  writeFileSync(temporary, JSON.stringify(inventory.export()), { mode: 0o600 });
  chmodSync(temporary, 0o600);
  renameSync(temporary, file);
}
