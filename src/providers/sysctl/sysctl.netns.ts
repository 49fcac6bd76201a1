/**
 * Test driver, run by sysctl.test.ts inside a fresh network namespace
 * (`unshare --net node --import tsx sysctl.netns.ts ROOT STEPS_JSON`), where net.*
 * keys are private: it plays the engine (read, views, apply) for each step and
 * prints one JSON line per step. Never run it outside a throwaway namespace.
 */
import { readFileSync } from 'node:fs';
import { createSysctlProvider, type SysctlAttrs } from './sysctl.js';
import { planOf, resource, testContext } from '../hostio.testkit.js';

interface Step {
  readonly name: string;
  readonly attrs: SysctlAttrs;
  readonly apply: boolean;
}

const [root, stepsJson] = process.argv.slice(2);
const steps = JSON.parse(stepsJson!) as Step[];
const ctx = testContext(root!);
const p = createSysctlProvider();
for (const s of steps) {
  const r = resource<SysctlAttrs>('sysctl', s.name, s.attrs);
  const out: Record<string, unknown> = { name: s.name };
  try {
    const { plan, observed } = await planOf(p, r, ctx);
    out.action = plan.action;
    out.changes = plan.changes.map((c) => [c.path, c.from ?? null, c.to ?? null]);
    if (s.apply && plan.action !== 'none') await p.apply(r, plan, observed, ctx);
  } catch (err) {
    out.error = { code: (err as { code?: string }).code, message: (err as Error).message };
  }
  try {
    out.live = readFileSync(`/proc/sys/${s.name.replace(/\./g, '/')}`, 'utf8').trim();
  } catch {
    out.live = null;
  }
  process.stdout.write(JSON.stringify(out) + '\n');
}
