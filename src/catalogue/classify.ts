/**
 * Node classification: an environment's manifests/site.yaml names the roles (each a
 * list of modules) and the rules that give nodes a role, more modules and parameters.
 *
 *   roles:
 *     web: { description: Public web front ends, modules: [ntp, dns, webapp] }
 *   nodes:
 *     - name: web-01          # exact name          (most specific)
 *       role: web
 *     - glob: "web-*"         # glob: * ? [abc]
 *       role: web
 *     - regex: "^db-[0-9]+$"  # RE2 regular expression (linear time), as written (anchor it)
 *       role: db
 *     - facts: { os.codename: bookworm }   # every listed fact equal (or one of a list)
 *       modules: [sysctl-baseline]
 *   default: { role: web }    # optional: without it an unmatched node is an error
 *
 * Every matching rule adds its modules and params. The role comes from the most
 * specific rules that name one (exact name > glob or regex > facts only > default);
 * two rules of that level naming different roles are an error.
 */
import { RE2JS } from 're2js';
import { TsconvergeError, type SourceLocation } from '../core/errors.js';
import type { Facts } from '../facts/facts.js';
import { createAjv } from '../spec/schemas.js';
import { describeAjvError, usefulErrors } from './load.js';
import type { YamlTree } from './yamltree.js';
import { secretsIn } from './data.js';

const MODULES = { type: 'array', items: { type: 'string', minLength: 1 }, uniqueItems: true };
const FACT_VALUE = { type: ['string', 'number', 'boolean'] };
const SITE_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['roles', 'nodes'],
  properties: {
    $schema: { type: 'string' },
    roles: {
      type: 'object',
      propertyNames: { pattern: '^[a-z][a-z0-9_-]*$' },
      additionalProperties: {
        type: 'object',
        additionalProperties: false,
        required: ['modules'],
        properties: { description: { type: 'string' }, modules: MODULES },
      },
    },
    nodes: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        properties: {
          name: { type: 'string', minLength: 1 },
          glob: { type: 'string', minLength: 1 },
          regex: { type: 'string', minLength: 1 },
          facts: { type: 'object', minProperties: 1, additionalProperties: { oneOf: [FACT_VALUE, { type: 'array', items: FACT_VALUE, minItems: 1 }] } },
          role: { type: 'string' },
          modules: MODULES,
          params: { type: 'object' },
          description: { type: 'string' },
        },
      },
    },
    default: { type: 'object', additionalProperties: false, required: ['role'], properties: { role: { type: 'string' }, modules: MODULES } },
  },
};
const validateSite = createAjv().compile(SITE_SCHEMA);

interface Rule {
  name?: string;
  glob?: string;
  regex?: string;
  facts?: Record<string, unknown>;
  role?: string;
  modules?: string[];
  params?: Record<string, unknown>;
}
interface Site {
  roles: Record<string, { description?: string; modules: string[] }>;
  nodes: Rule[];
  default?: { role: string; modules?: string[] };
}

export interface ModuleUse {
  readonly name: string;
  /** Where the module is named (a role, a rule or the default in site.yaml). */
  readonly location: SourceLocation;
}

export interface Classification {
  readonly node: string;
  readonly role: string;
  /** Where the role was given: the deciding rule, or the default. */
  readonly roleLocation: SourceLocation;
  readonly modules: readonly ModuleUse[];
  /** Pointers in site.yaml of the `params` of every matching rule, in file order. */
  readonly params: readonly string[];
}

/** A glob as an RE2 pattern (linear time, like regex rules). */
export function globToRegExp(glob: string): RE2JS {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*') re += '.*';
    else if (c === '?') re += '.';
    else if (c === '[') {
      const end = glob.indexOf(']', i + 1);
      if (end < 0) re += '\\[';
      else {
        re +=
          '[' +
          glob
            .slice(i + 1, end)
            .replace(/^!/, '^')
            .replace(/\\/g, '\\\\') +
          ']';
        i = end;
      }
    } else re += c.replace(/[.+^${}()|\\/]/g, '\\$&');
  }
  return compileRegex(`^${re}$`);
}

const compiled = new Map<string, RE2JS>();
/**
 * Regexes in site.yaml run on RE2 (re2js): matching is linear in the node name, so a
 * pattern such as ^(a+)+$ cannot hang the compiler. Patterns RE2 cannot run in linear
 * time (backreferences, lookaround) are refused when site.yaml is checked.
 */
export function compileRegex(pattern: string): RE2JS {
  let re = compiled.get(pattern);
  if (!re) {
    re = RE2JS.compile(pattern);
    if (compiled.size > 1000) compiled.clear();
    compiled.set(pattern, re);
  }
  return re;
}

function factAt(facts: Facts, dotted: string): unknown {
  let cur: unknown = facts;
  for (const k of dotted.split('.')) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[k];
  }
  return cur;
}

function err(code: 'MANIFEST_INVALID' | 'NODE_UNCLASSIFIED' | 'ROLE_CONFLICT', message: string, location: SourceLocation, hint: string): TsconvergeError {
  return new TsconvergeError(code, message, { location, hint, terminal: true });
}

export interface SiteCheckOptions {
  /**
   * The node's name is a trusted identity (the catalogue server: its certificate's name) and
   * its facts are only its own claim: rules that match on facts may not give a role or
   * modules, nor secrets in their params (nor may the data files facts select: data.ts
   * checkFactLayers). A lying node could otherwise pick what it receives.
   */
  readonly trustedNamesOnly?: boolean;
}

/** Check site.yaml's shape and its references to roles; returns every error. */
export function checkSite(tree: YamlTree, opts: SiteCheckOptions = {}): TsconvergeError[] {
  if (!validateSite(tree.value)) {
    return usefulErrors(validateSite.errors ?? []).map((e) => {
      const d = describeAjvError(e, SITE_SCHEMA);
      return err(
        'MANIFEST_INVALID',
        `${d.pointer ? `field ${d.pointer.slice(1)}: ` : ''}${d.message}`,
        tree.locate(d.pointer),
        'see docs/catalogue.md, "Node classification"',
      );
    });
  }
  const site = tree.value as unknown as Site;
  const errors: TsconvergeError[] = [];
  const roles = Object.keys(site.roles);
  const checkRole = (role: string | undefined, pointer: string): void => {
    if (role !== undefined && !roles.includes(role)) {
      errors.push(
        err(
          'MANIFEST_INVALID',
          `unknown role "${role}". Roles declared in this file: ${roles.join(', ') || 'none'}`,
          tree.locate(pointer),
          'declare the role under roles:',
        ),
      );
    }
  };
  site.nodes.forEach((r, i) => {
    const by = (['name', 'glob', 'regex'] as const).filter((k) => r[k] !== undefined);
    if (by.length > 1 || (by.length === 0 && r.facts === undefined)) {
      errors.push(
        err(
          'MANIFEST_INVALID',
          `a node rule matches by one of name, glob or regex, and/or by facts${by.length > 1 ? `; this one has ${by.join(' and ')}` : ''}`,
          tree.locate(`/nodes/${i}`),
          'split it into two rules',
        ),
      );
    }
    checkRole(r.role, `/nodes/${i}/role`);
    if (opts.trustedNamesOnly && r.facts !== undefined) {
      const gives = (['role', 'modules'] as const).filter((k) => r[k] !== undefined);
      const hint = "give roles and modules by name:, glob: or regex: (the certificate's name decides); a facts: rule may only set params (no secrets)";
      if (gives.length) {
        errors.push(
          err(
            'MANIFEST_INVALID',
            `a rule that matches on facts cannot give ${gives.join(' or ')} to nodes served by the catalogue server: facts are what a node claims, its certificate's name is what it is`,
            tree.locate(`/nodes/${i}/${gives[0]}`),
            hint,
          ),
        );
      }
      if (secretsIn(r.params).length > 0) {
        errors.push(
          err(
            'MANIFEST_INVALID',
            'a rule that matches on facts cannot hand out secrets on the catalogue server: a node could claim those facts',
            tree.locate(`/nodes/${i}/params`),
            hint,
          ),
        );
      }
    }
    if (r.regex !== undefined) {
      try {
        compileRegex(r.regex);
      } catch (e) {
        errors.push(
          err(
            'MANIFEST_INVALID',
            `invalid regular expression: ${(e as Error).message}`,
            tree.locate(`/nodes/${i}/regex`),
            'RE2 syntax (linear time: no backreferences or lookaround); anchor with ^...$',
          ),
        );
      }
    }
  });
  checkRole(site.default?.role, '/default/role');
  return errors;
}

/** Classify `node` with `facts` by the rules of a checked site.yaml. */
export function classifyNode(tree: YamlTree, node: string, facts: Facts): Classification {
  const site = tree.value as unknown as Site;
  const matched: { rule: Rule; index: number; level: number }[] = [];
  site.nodes.forEach((rule, index) => {
    const byName =
      rule.name !== undefined
        ? rule.name === node
        : rule.glob !== undefined
          ? globToRegExp(rule.glob).test(node)
          : rule.regex !== undefined
            ? compileRegex(rule.regex).test(node)
            : true;
    const byFacts = Object.entries(rule.facts ?? {}).every(([k, want]) => {
      const have = factAt(facts, k);
      return (Array.isArray(want) ? want : [want]).some((w) => have !== undefined && have !== null && String(have) === String(w));
    });
    if (byName && byFacts) matched.push({ rule, index, level: rule.name !== undefined ? 3 : rule.glob !== undefined || rule.regex !== undefined ? 2 : 1 });
  });
  const withRole = matched.filter((m) => m.rule.role !== undefined);
  const top = Math.max(0, ...withRole.map((m) => m.level));
  const deciding = withRole.filter((m) => m.level === top);
  const roles = [...new Set(deciding.map((m) => m.rule.role!))];
  if (roles.length > 1) {
    const a = deciding.find((m) => m.rule.role === roles[0])!;
    const b = deciding.find((m) => m.rule.role === roles[1])!;
    const at = tree.locate(`/nodes/${b.index}/role`);
    throw err(
      'ROLE_CONFLICT',
      `node ${node} matches rules that give conflicting roles: "${roles[0]}" (rule at line ${tree.locate(`/nodes/${a.index}`).line}) and "${roles[1]}" (rule at line ${at.line})`,
      at,
      'a node has one role: make the rules disjoint, or add an exact `name:` rule for this node, which wins over globs, regexes and facts',
    );
  }
  let role: string;
  let roleLocation: SourceLocation;
  if (roles.length === 1) {
    role = roles[0]!;
    roleLocation = tree.locate(`/nodes/${deciding[0]!.index}/role`);
  } else if (site.default) {
    role = site.default.role;
    roleLocation = tree.locate('/default/role');
  } else {
    throw err(
      'NODE_UNCLASSIFIED',
      `node ${node} matches no rule that gives it a role${matched.length ? ` (it matches ${matched.length} rule(s) without a role)` : ''}, and there is no default`,
      tree.locate('/nodes'),
      `add a rule (name:, glob:, regex: or facts:) with a role for ${node}, or a \`default: { role: ROLE }\`; nothing was compiled`,
    );
  }
  const modules: ModuleUse[] = [];
  const add = (names: readonly string[] | undefined, pointer: string): void => {
    (names ?? []).forEach((name, i) => {
      if (!modules.some((m) => m.name === name)) modules.push({ name, location: tree.locate(`${pointer}/${i}`) });
    });
  };
  add(site.roles[role]!.modules, `/roles/${role}/modules`);
  if (roles.length === 0) add(site.default!.modules, '/default/modules');
  for (const m of matched) add(m.rule.modules, `/nodes/${m.index}/modules`);
  const params = matched.filter((m) => m.rule.params !== undefined).map((m) => `/nodes/${m.index}/params`);
  return { node, role, roleLocation, modules, params };
}
