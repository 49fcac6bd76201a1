import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { generate, OUTPUTS } from './gen-types.js';

describe('generated files', () => {
  it('src/generated/kinds.ts, inventory.ts, wire.ts and spec/manifest.schema.json are fresh (run npm run gen:types)', async () => {
    const out = await generate();
    expect(readFileSync(OUTPUTS.types, 'utf8')).toBe(out.types);
    expect(readFileSync(OUTPUTS.manifest, 'utf8')).toBe(out.manifest);
    expect(readFileSync(OUTPUTS.inventory, 'utf8')).toBe(out.inventory);
    expect(readFileSync(OUTPUTS.wire, 'utf8')).toBe(out.wire);
  });
});

describe('generated references (docs/kinds.md, docs/push.md)', () => {
  it('are generated from spec/ and fresh (run npm run gen:docs)', async () => {
    const { renderDocs } = await import('./gen-docs.js');
    for (const [file, text] of await renderDocs()) expect(readFileSync(file, 'utf8'), file).toBe(text);
  });
});
