/**
 * Kind `logging.rotate`: one logrotate rule for host log files.
 *
 * Owned: the whole file /etc/logrotate.d/<name> (or `configPath`). A new file is
 * checked with `logrotate -d` before it replaces the old one; a rejected file leaves
 * the old one byte-identical. The log paths inside the rule are written as declared:
 * they name files on the host that reads the rule.
 */
import type { Provider, Resource } from '../types.js';
import { checkRotate, renderRotate, rotateView, type RotateSettings } from './logrotate.js';
import { checkDropInName, createOwnedFileProvider, type OwnedFileAttrs, type OwnedFileObserved } from './owned.js';

export interface RotateAttrs extends OwnedFileAttrs, Partial<RotateSettings> {
  readonly configPath?: string;
}

function settingsOf(r: Resource<RotateAttrs>): RotateSettings {
  const { ensure: _e, configPath: _c, ...rest } = r.attrs;
  return { ...rest, paths: r.attrs.paths ?? [] };
}

export function rotateConfigPath(r: Resource<RotateAttrs>): string {
  return r.attrs.configPath ?? `/etc/logrotate.d/${checkDropInName(r.name, r.id)}`;
}

export function createLogrotateProvider(): Provider<RotateAttrs, OwnedFileObserved> {
  return createOwnedFileProvider<RotateAttrs>({
    kind: 'logging.rotate',
    checker: { binary: 'logrotate', pkg: 'logrotate', checks: 'logrotate rules' },
    path: rotateConfigPath,
    render: (r) => renderRotate(settingsOf(r), r.id),
    toView: rotateView,
    check: (logrotate, tmp, _content, target, r, ctx) => checkRotate(logrotate, tmp, target, r.id, ctx.signal, ctx.exec),
  });
}
