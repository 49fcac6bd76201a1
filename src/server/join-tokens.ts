/**
 * One-time join tokens (`tsconverge ca token`): a certificate request that carries a valid
 * token is signed at once. Only the sha256 of each token is kept (CA_DIR/tokens.json, 0600).
 * A token is used up only by a request that succeeds: a request that is refused (a CSR for
 * another name, a second key for a signed node) leaves it as it was.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { caPaths, writeAtomic } from './ca.js';

interface TokenEntry {
  readonly sha256: string;
  readonly created: string;
  readonly expires: string;
}

const hashOf = (token: string): string => createHash('sha256').update(token).digest('hex');

async function readTokens(file: string): Promise<TokenEntry[]> {
  return JSON.parse(await readFile(file, 'utf8').catch(() => '[]')) as TokenEntry[];
}

/** A new join token, valid `ttlHours`; printed once, only its hash is kept. */
export async function createJoinToken(dir: string, ttlHours = 24): Promise<string> {
  const token = randomBytes(24).toString('base64url');
  const p = caPaths(dir);
  const list = (await readTokens(p.tokens)).filter((t) => Date.parse(t.expires) > Date.now());
  list.push({ sha256: hashOf(token), created: new Date().toISOString(), expires: new Date(Date.now() + ttlHours * 3_600_000).toISOString() });
  await writeAtomic(p.tokens, JSON.stringify(list, null, 2) + '\n', 0o600);
  return token;
}

let queue: Promise<unknown> = Promise.resolve();

/**
 * Run `use(valid)` holding the token lock (one at a time in this process, so two requests
 * cannot both spend one token); the token is removed only when `use` returns
 * `{ spent: true }`. When `use` throws, the token stays valid.
 */
export function withJoinToken<T>(dir: string, token: string, use: (valid: boolean) => Promise<{ value: T; spent: boolean }>): Promise<T> {
  const run = async (): Promise<T> => {
    const p = caPaths(dir);
    const list = await readTokens(p.tokens);
    const h = hashOf(token);
    const hit = list.find((t) => t.sha256 === h && Date.parse(t.expires) > Date.now());
    const out = await use(hit !== undefined);
    if (hit && out.spent)
      await writeAtomic(
        p.tokens,
        JSON.stringify(
          list.filter((t) => t !== hit),
          null,
          2,
        ) + '\n',
        0o600,
      );
    return out.value;
  };
  const out = queue.then(run, run);
  queue = out.catch(() => undefined);
  return out;
}

/** Use up a join token now; true when it was valid (each token works once). */
export function consumeJoinToken(dir: string, token: string): Promise<boolean> {
  return withJoinToken(dir, token, async (valid) => ({ value: valid, spent: valid }));
}
