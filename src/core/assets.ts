/**
 * Files the single executable carries as SEA assets (scripts/build-sea.mjs adds them:
 * today the bundled modules/ tree). Code that reads such files from disk asks for their
 * directory here: from a checkout that is the directory in the repository; in the
 * executable the files are written once, on first use, to a private cache directory
 * (0700, owned by the user, keyed by the assets' digest) and read from there.
 */
import { createRequire } from 'node:module';
import { readFileSync, mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync, lstatSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BUNDLE } from './bundle.js';

/** The asset index the build writes: digest of all assets and their keys (paths relative to the repository). */
export interface AssetIndex {
  readonly digest: string;
  readonly files: readonly string[];
}
export const ASSET_INDEX_KEY = 'tsconverge-assets.json';

function cacheRoot(env: NodeJS.ProcessEnv = process.env): string {
  if (env.TSCONVERGE_CACHE_DIR) return env.TSCONVERGE_CACHE_DIR;
  if (process.getuid?.() === 0) return '/var/cache/tsconverge';
  return path.join(env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'tsconverge');
}

let extracted: string | undefined;

/** The directory holding `sub` (e.g. 'modules'): `repoDir` outside the executable, else the extracted assets. */
export function assetDir(sub: string, repoDir: string): string {
  if (!BUNDLE) return repoDir;
  extracted ??= extractAssets();
  return path.join(extracted, sub);
}

/** One asset file's text by its repository path (e.g. 'spec/vendor/compose-spec.json'): read from `repoFile` outside the executable. */
export function readAssetText(key: string, repoFile: string): string {
  if (!BUNDLE) return readFileSync(repoFile, 'utf8');
  const sea = createRequire(import.meta.url)('node:sea') as typeof import('node:sea');
  return sea.getAsset(key, 'utf8');
}

function extractAssets(): string {
  const sea = createRequire(import.meta.url)('node:sea') as typeof import('node:sea');
  const index = JSON.parse(sea.getAsset(ASSET_INDEX_KEY, 'utf8')) as AssetIndex;
  const root = cacheRoot();
  mkdirSync(root, { recursive: true, mode: 0o700 });
  const st = lstatSync(root);
  if (!st.isDirectory() || (process.getuid && st.uid !== process.getuid()) || (st.mode & 0o022) !== 0) {
    throw new Error(`${root}: the asset cache must be a directory owned by this user and writable by no one else (set TSCONVERGE_CACHE_DIR)`);
  }
  const dir = path.join(root, `assets-${index.digest.slice(0, 16)}`);
  if (existsSync(path.join(dir, '.complete'))) return dir;
  const tmp = mkdtempSync(path.join(root, '.assets-'));
  for (const file of index.files) {
    mkdirSync(path.dirname(path.join(tmp, file)), { recursive: true });
    writeFileSync(path.join(tmp, file), new Uint8Array(sea.getAsset(file)));
  }
  writeFileSync(path.join(tmp, '.complete'), index.digest + '\n');
  try {
    renameSync(tmp, dir);
  } catch {
    rmSync(tmp, { recursive: true, force: true }); // another process extracted them first
  }
  return dir;
}
