// The controller stays made of small, named steps: no function or method in src/controller is
// longer than 60 lines (measured with the TypeScript parser, body included).
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import ts from 'typescript';

const limit = 60;

function longFunctions(file: string): string[] {
  const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
  const found: string[] = [];
  const visit = (node: ts.Node) => {
    if (ts.isFunctionLike(node) && 'body' in node && node.body) {
      const start = source.getLineAndCharacterOfPosition(node.getStart(source)).line;
      const end = source.getLineAndCharacterOfPosition(node.getEnd()).line;
      const name = 'name' in node && node.name ? node.name.getText(source) : '(anonymous)';
      if (end - start + 1 > limit) found.push(`${file}:${start + 1} ${name} is ${end - start + 1} lines`);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

test(`no function in src/controller is over ${limit} lines`, () => {
  const files = readdirSync('src/controller').filter((f) => f.endsWith('.ts')).map((f) => join('src/controller', f));
  assert.ok(files.length > 10);
  assert.deepEqual(files.flatMap(longFunctions), []);
});
