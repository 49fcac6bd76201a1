/**
 * Reading Compose files: YAML (the `yaml` library, with line positions), `${VAR}`
 * interpolation from the environment and the project's `.env`, `include`, and validation
 * against the current Compose Specification JSON Schema (vendored in
 * spec/vendor/compose-spec.json, Apache-2.0, version in spec/vendor/README.md). Every
 * problem names its file, line and column.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node } from 'yaml';
import { ManifestErrors, TsconvergeError } from '../core/errors.js';
import { readAssetText } from '../core/assets.js';
import { aliasBudget, aliasOverflow, applyComposeTags, stripMarkers, takeComposeTags } from './compose-yaml.js';

export interface ComposeFile {
  readonly file: string;
  readonly dir: string;
  readonly doc: Document;
  readonly lines: LineCounter;
  /** The file's content after interpolation. */
  readonly data: Record<string, unknown>;
}

export interface ImportWarning {
  readonly file: string;
  readonly line?: number;
  readonly column?: number;
  /** Dotted path of the key, e.g. services.web.build. */
  readonly key: string;
  readonly message: string;
}

export function formatWarning(w: ImportWarning): string {
  return `${w.file}${w.line !== undefined ? `:${w.line}:${w.column ?? 1}` : ''}: ${w.key}: ${w.message}`;
}

type Seg = string | number;

/** The YAML node for a path: a map key's own node (so the line is the key's), or a list item. */
export function nodeAt(doc: Document, segs: readonly Seg[]): Node | undefined {
  let node: unknown = doc.contents;
  let found: Node | undefined;
  for (const seg of segs) {
    if (isMap(node)) {
      const pair = node.items.find((p) => String((p.key as { value?: unknown } | null)?.value ?? p.key) === String(seg));
      if (!pair) return found;
      found = pair.key as Node;
      node = pair.value;
    } else if (isSeq(node)) {
      const item = node.items[Number(seg)] as Node | undefined;
      if (!item) return found;
      found = item;
      node = item;
    } else return found;
  }
  return found;
}

/** How many leading segments of a path a document holds, and the node of the deepest one (a map key's own node, or a list item). */
function deepest(doc: Document, segs: readonly Seg[]): { depth: number; node?: Node } {
  let node: unknown = doc.contents;
  let found: Node | undefined;
  let depth = 0;
  for (const seg of segs) {
    let next: unknown;
    if (isMap(node)) {
      const pair = node.items.find((p) => String((p.key as { value?: unknown } | null)?.value ?? p.key) === String(seg));
      if (!pair) break;
      found = pair.key as Node;
      next = pair.value;
    } else if (isSeq(node)) {
      // a list written as KEY=value (environment, labels) holds the map's key in an item
      const item = (
        typeof seg === 'string' && !/^[0-9]+$/.test(seg)
          ? node.items.find((it) => isScalar(it) && (String(it.value) === seg || String(it.value).startsWith(`${seg}=`)))
          : node.items[Number(seg)]
      ) as Node | undefined;
      if (!item) break;
      found = item;
      next = item;
    } else break;
    node = next;
    depth++;
  }
  return { depth, ...(found ? { node: found } : {}) };
}

/**
 * Where a path is: in the file that holds the most of it (the last such file when several
 * do: later files override earlier ones). A path the data has but no file spells out (a
 * list entry written as KEY=value, a key merged in from a fragment) is placed at the
 * deepest part that is written.
 */
export function locate(files: readonly ComposeFile[], segs: readonly Seg[]): { file: string; line?: number; column?: number } {
  let best: { f: ComposeFile; depth: number; node?: Node } | undefined;
  for (let i = files.length - 1; i >= 0; i--) {
    const f = files[i]!;
    const d = deepest(f.doc, segs);
    if (d.node?.range && (!best || d.depth > best.depth)) best = { f, ...d };
  }
  if (best?.node?.range) {
    const pos = best.f.lines.linePos(best.node.range[0]);
    return { file: best.f.file, line: pos.line, column: pos.col };
  }
  return { file: files[files.length - 1]?.file ?? '' };
}

/** KEY=value lines; `#` comments; surrounding quotes removed (docker-compose 1.26+ and v2). */
export function parseEnvFile(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const body = line.startsWith('export ') ? line.slice(7) : line;
    const eq = body.indexOf('=');
    if (eq <= 0) continue;
    let v = body.slice(eq + 1).trim();
    if (v.length >= 2 && (v[0] === '"' || v[0] === "'") && v.at(-1) === v[0]) v = v.slice(1, -1);
    out[body.slice(0, eq).trim()] = v;
  }
  return out;
}

const VAR = /\$(?:(\$)|\{([^}]*)\}|([A-Za-z_][A-Za-z0-9_]*))/g;

/** Compose interpolation of one string: $VAR, ${VAR}, ${VAR:-d}, ${VAR-d}, ${VAR:?err}, ${VAR?err}, $$. */
export function interpolate(s: string, env: Readonly<Record<string, string>>, onMissing: (name: string) => void): string {
  return s.replace(VAR, (_m, dollar: string | undefined, braced: string | undefined, bare: string | undefined) => {
    if (dollar) return '$';
    const expr = braced ?? bare!;
    const m = /^([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])(.*))?$/s.exec(expr);
    if (!m) throw new Error(`invalid interpolation format "\${${expr}}"`);
    const [, name, op, arg = ''] = m;
    const val = env[name!];
    const unset = val === undefined;
    const empty = unset || val === '';
    if (op === ':-') return empty ? arg : val!;
    if (op === '-') return unset ? arg : val!;
    if (op === ':?' && empty) throw new Error(`required variable ${name} is missing a value: ${arg}`);
    if (op === '?' && unset) throw new Error(`required variable ${name} is missing a value: ${arg}`);
    if (unset) {
      onMissing(name!);
      return '';
    }
    return val!;
  });
}

/** The schema names its parts with draft-04 `id` (annotations only); Ajv 8 refuses that keyword. */
function stripIds(node: unknown, inProperties = false): void {
  if (!node || typeof node !== 'object') return;
  if (Array.isArray(node)) {
    node.forEach((n) => stripIds(n));
    return;
  }
  const o = node as Record<string, unknown>;
  if (!inProperties && typeof o.id === 'string') delete o.id;
  for (const [k, v] of Object.entries(o)) stripIds(v, !inProperties && (k === 'properties' || k === 'patternProperties' || k === 'definitions'));
}

let validator: (((data: unknown) => boolean) & { errors?: { instancePath: string; message?: string; params?: Record<string, unknown> }[] | null }) | undefined;

async function composeValidator(): Promise<NonNullable<typeof validator>> {
  if (validator) return validator;
  const { Ajv2019 } = await import('ajv/dist/2019.js');
  const schemaFile = fileURLToPath(new URL('../../spec/vendor/compose-spec.json', import.meta.url));
  const schema = JSON.parse(readAssetText('spec/vendor/compose-spec.json', schemaFile)) as Record<string, unknown>; // an SEA asset in the executable
  delete schema.$schema; // "http://json-schema.org/draft/2019-09/schema#": the same draft Ajv2019 knows under https
  stripIds(schema);
  const ajv = new Ajv2019({ allErrors: true, strict: false, validateFormats: false, allowUnionTypes: true });
  validator = ajv.compile(schema) as NonNullable<typeof validator>;
  return validator;
}

const toInt = (v: string): unknown => (/^[+-]?[0-9]+$/.test(v.trim()) ? Number(v) : v);
const toFloat = (v: string): unknown => (/^[+-]?[0-9]*\.?[0-9]+$/.test(v.trim()) ? Number(v) : v);
const toBool = (v: string): unknown => (/^(y|yes|true|on)$/i.test(v.trim()) ? true : /^(n|no|false|off)$/i.test(v.trim()) ? false : v);

/** Compose's type conversion after interpolation (compose/config/interpolation.py): "${PORT}" is a number where one is expected. */
const CASTS: readonly [RegExp, (v: string) => unknown][] = [
  [/^services\.[^.]+\.ports\.\d+\.(target|published)$/, toInt],
  [/^services\.[^.]+\.(cpus|deploy\.resources\.limits\.cpus)$/, toFloat],
  [/^services\.[^.]+\.healthcheck\.retries$/, toInt],
  [/^services\.[^.]+\.(healthcheck\.disable|read_only|privileged|tty|stdin_open|oom_kill_disable)$/, toBool],
  [/^services\.[^.]+\.volumes\.\d+\.read_only$/, toBool],
  [/^services\.[^.]+\.volumes\.\d+\.tmpfs\.size$/, toInt],
  [/^networks\.[^.]+\.(attachable|internal|external|enable_ipv6)$/, toBool],
  [/^(volumes|secrets|configs)\.[^.]+\.external$/, toBool],
];

function cast(at: readonly Seg[], v: string): unknown {
  const key = at.join('.');
  const rule = CASTS.find(([re]) => re.test(key));
  return rule ? rule[1](v) : v;
}

function interpolateAll(
  value: unknown,
  env: Readonly<Record<string, string>>,
  at: Seg[],
  fail: (at: Seg[], msg: string) => void,
  missing: (at: Seg[], name: string) => void,
): unknown {
  if (typeof value === 'string') {
    try {
      return cast(
        at,
        interpolate(value, env, (name) => missing(at, name)),
      );
    } catch (err) {
      fail(at, (err as Error).message);
      return value;
    }
  }
  if (Array.isArray(value)) return value.map((v, i) => interpolateAll(v, env, [...at, i], fail, missing));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, interpolateAll(v, env, [...at, k], fail, missing)]));
  }
  return value;
}

/** Turn the relative paths of a file included from elsewhere (include, extends.file) into absolute ones: they are relative to its own directory. */
export function rebasePaths(data: Record<string, unknown>, dir: string): void {
  const abs = (p: unknown): unknown =>
    typeof p === 'string' && !path.isAbsolute(p) && !p.startsWith('~') && !/^[a-z]+:\/\/|^git@/.test(p) ? path.resolve(dir, p) : p;
  const isObj = (v: unknown): v is Record<string, unknown> => !!v && typeof v === 'object' && !Array.isArray(v);
  for (const s of Object.values(isObj(data.services) ? data.services : {})) {
    if (!isObj(s)) continue;
    if (typeof s.build === 'string') s.build = abs(s.build);
    else if (isObj(s.build)) s.build.context = abs(s.build.context ?? '.');
    const ef = (e: unknown): unknown => (isObj(e) ? { ...e, path: abs(e.path) } : abs(e));
    if (s.env_file !== undefined) s.env_file = Array.isArray(s.env_file) ? s.env_file.map(ef) : ef(s.env_file);
    if (isObj(s.extends) && typeof s.extends.file === 'string') s.extends = { ...s.extends, file: abs(s.extends.file) };
    if (Array.isArray(s.volumes)) {
      s.volumes = s.volumes.map((v) => {
        if (isObj(v)) return v.type === 'bind' ? { ...v, source: abs(v.source) } : v;
        const str = String(v);
        return /^\.\.?(\/|:)/.test(str) ? `${String(abs(str.slice(0, str.indexOf(':'))))}${str.slice(str.indexOf(':'))}` : v;
      });
    }
  }
  for (const top of ['secrets', 'configs']) {
    for (const d of Object.values(isObj(data[top]) ? (data[top] as Record<string, unknown>) : {}))
      if (isObj(d) && typeof d.file === 'string') d.file = abs(d.file);
  }
}

/**
 * Read one file: YAML with its alias expansion bounded by the file's size, `!reset` and
 * `!override` kept as markers, interpolated, checked against the schema. Errors go to
 * `errors` with file, line and column; undefined when the file is unusable.
 */
async function loadOne(
  given: string,
  env: Readonly<Record<string, string>>,
  warn: (w: ImportWarning) => void,
  errors: TsconvergeError[],
): Promise<ComposeFile | undefined> {
  const validate = await composeValidator();
  const file = path.resolve(given);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    errors.push(
      new TsconvergeError('MANIFEST_NOT_FOUND', `cannot read Compose file: ${(err as Error).message}`, {
        location: { file: given },
        hint: 'give the path of a docker-compose.yml',
      }),
    );
    return undefined;
  }
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, merge: true, uniqueKeys: true, prettyErrors: false });
  if (doc.errors.length) {
    for (const e of doc.errors) {
      const pos = lines.linePos(e.pos[0]);
      errors.push(
        new TsconvergeError('COMPOSE_INVALID', `invalid YAML: ${e.message.split('\n')[0]}`, { location: { file: given, line: pos.line, column: pos.col } }),
      );
    }
    return undefined;
  }
  // Merge keys copy fragments into every service that uses them: the bound comes from the file's size, not the manifests' fixed one.
  const budget = aliasBudget(Buffer.byteLength(text));
  const bomb = aliasOverflow(doc, budget);
  if (bomb) {
    const pos = bomb.node.range ? lines.linePos(bomb.node.range[0]) : { line: 1, col: 1 };
    errors.push(
      new TsconvergeError(
        'COMPOSE_INVALID',
        `the aliases expand to more than ${budget} YAML nodes (the bound for a file of ${text.length} bytes); refused as an alias bomb`,
        {
          location: { file: given, line: pos.line, column: pos.col },
          hint: 'an alias here expands an anchor that itself holds many aliases; write the values out or use fewer levels of anchors',
        },
      ),
    );
    return undefined;
  }
  const marks = takeComposeTags(doc, lines);
  const raw = doc.toJS({ maxAliasCount: -1 }) as unknown;
  const cf0 = { file: given, dir: path.dirname(file), doc, lines, data: {} };
  const where = (at: Seg[]) => locate([cf0], at);
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) {
    errors.push(new TsconvergeError('COMPOSE_INVALID', 'a Compose file is a mapping with a services key', { location: { file: given, line: 1, column: 1 } }));
    return undefined;
  }
  const before = errors.length;
  const data = interpolateAll(
    raw,
    env,
    [],
    (at, msg) => errors.push(new TsconvergeError('COMPOSE_INVALID', msg, { location: { ...where(at), pointer: '/' + at.join('/') } })),
    (at, name) => warn({ ...where(at), key: at.join('.'), message: `the ${name} variable is not set; using an empty string (as Compose does)` }),
  ) as Record<string, unknown>;
  if (errors.length > before) return undefined;
  applyComposeTags(data, marks);
  if (!validate(stripMarkers(data))) {
    for (const e of validate.errors ?? []) {
      const at = e.instancePath
        .split('/')
        .slice(1)
        .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
      const extra = e.params?.additionalProperty ? ` (${String(e.params.additionalProperty)})` : '';
      if (e.params?.additionalProperty) at.push(String(e.params.additionalProperty)); // point at the key itself
      errors.push(
        new TsconvergeError('COMPOSE_INVALID', `does not match the compose-spec schema: ${e.message ?? 'invalid'}${extra}`, {
          location: { ...where(at), pointer: e.instancePath || '/' },
          hint: 'see https://github.com/compose-spec/compose-spec/blob/main/spec.md (schema: spec/vendor/compose-spec.json)',
        }),
      );
    }
    return undefined;
  }
  return { ...cf0, data };
}

/** What an `include` entry names: its files, its project directory (relative paths resolve there) and its env files. */
function includeEntry(entry: unknown, dir: string): { files: string[]; projectDir?: string; envFiles: string[] } {
  const o = entry && typeof entry === 'object' ? (entry as { path?: unknown; project_directory?: unknown; env_file?: unknown }) : { path: entry };
  const list = (v: unknown): string[] => (Array.isArray(v) ? v : [v]).filter((x): x is string => typeof x === 'string');
  return {
    files: list(o.path).map((x) => path.resolve(dir, x)),
    ...(typeof o.project_directory === 'string' ? { projectDir: path.resolve(dir, o.project_directory) } : {}),
    envFiles: list(o.env_file).map((x) => path.resolve(dir, x)),
  };
}

/**
 * Read, interpolate and validate every file, and the files they `include` (each included
 * project before the file that includes it, its relative paths made absolute against its
 * project directory: the included file's own, or the entry's `project_directory`; its
 * variables from the entry's `env_file`, else the `.env` there, with the given environment
 * winning). Throws ManifestErrors (each with file, line, column and pointer) when any file
 * is malformed or breaks the compose-spec schema.
 */
export async function loadComposeFiles(
  files: readonly string[],
  env: Readonly<Record<string, string>>,
  warn: (w: ImportWarning) => void,
  shell: Readonly<Record<string, string>> = env,
): Promise<ComposeFile[]> {
  const errors: TsconvergeError[] = [];
  const out: ComposeFile[] = [];
  const seen = new Set<string>();
  const load = async (
    given: string,
    included: { projectDir: string; env: Readonly<Record<string, string>> } | undefined,
    vars: Readonly<Record<string, string>>,
  ): Promise<void> => {
    const abs = path.resolve(given);
    if (included && seen.has(abs)) {
      errors.push(new TsconvergeError('COMPOSE_INVALID', `${given} includes itself (through include)`, { location: { file: given } }));
      return;
    }
    seen.add(abs);
    const cf = await loadOne(given, included?.env ?? vars, warn, errors);
    if (!cf) return;
    for (const entry of Array.isArray(cf.data.include) ? cf.data.include : []) {
      const e = includeEntry(entry, cf.dir);
      for (const f of e.files) {
        const projectDir = e.projectDir ?? path.dirname(f);
        const dotenv: Record<string, string> = {};
        for (const ef of e.envFiles.length ? e.envFiles : [path.join(projectDir, '.env')]) {
          try {
            Object.assign(dotenv, parseEnvFile(readFileSync(ef, 'utf8')));
          } catch (err) {
            if (e.envFiles.length)
              errors.push(
                new TsconvergeError('COMPOSE_INVALID', `include: cannot read the env file ${ef}: ${(err as Error).message}`, {
                  location: { ...locate([cf], ['include']) },
                }),
              );
          }
        }
        await load(f, { projectDir, env: { ...dotenv, ...shell } }, vars);
      }
    }
    delete cf.data.include;
    if (included) rebasePaths(cf.data, included.projectDir);
    out.push(cf);
  };
  for (const given of files) await load(given, undefined, env);
  if (errors.length) throw new ManifestErrors(errors);
  return out;
}

/** One more file, read the same way (for extends.file); throws ManifestErrors. */
export async function loadExtendsFile(file: string, env: Readonly<Record<string, string>>, warn: (w: ImportWarning) => void): Promise<ComposeFile> {
  const errors: TsconvergeError[] = [];
  const cf = await loadOne(file, env, warn, errors);
  if (!cf) throw new ManifestErrors(errors);
  rebasePaths(cf.data, cf.dir);
  return cf;
}
