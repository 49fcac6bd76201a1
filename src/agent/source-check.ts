/**
 * The checks of a catalogue source's flags, apart from the source itself (source.ts), so
 * the agent process that only schedules runs (src/cli/agent.ts superviseChildren) can stop
 * at start on a bad flag without loading the compiler or the TLS code.
 */
import { TsconvergeError } from '../core/errors.js';
import type { SourceSelection } from './source-types.js';

/** Throws the error a run would give for this selection; returns which source it names. */
export function checkSourceSelection(sel: SourceSelection): 'server' | 'manifests' {
  if (sel.server !== undefined) {
    if (sel.manifests !== undefined)
      throw new TsconvergeError('INVALID_VALUE', '--manifests and --server are two catalogue sources; give one', { terminal: true });
    if (!sel.server.caFingerprint && !sel.server.caFile)
      throw new TsconvergeError('INVALID_VALUE', '--server needs a pinned CA: --ca-fingerprint sha256:... or --ca-file FILE', {
        terminal: true,
        hint: 'the server prints its fingerprint at `tsconverge ca init` and `tsconverge ca fingerprint`',
      });
    if (sel.node === undefined) throw new TsconvergeError('INVALID_VALUE', 'the server source needs the node name', { terminal: true });
    return 'server';
  }
  if (sel.manifests === undefined) {
    throw new TsconvergeError(
      'INVALID_VALUE',
      'the agent needs a catalogue source: --manifests PATH (a manifest file or directory, or a fleet tree with --node)',
      { terminal: true, hint: 'tsconverge agent --manifests /etc/tsconverge/manifests' },
    );
  }
  return 'manifests';
}
