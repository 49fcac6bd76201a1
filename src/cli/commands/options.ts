/**
 * Options and argument parsers more than one command file shares, each defined once so
 * the commands that take them read and parse them the same.
 */
import { Option, InvalidArgumentError, type Command } from 'commander';
import { DEFAULTS } from '../../core/defaults.js';

export function positiveInt(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`expected a positive integer, got "${v}"`);
  return n;
}

export function nonNegativeInt(v: string): number {
  const n = Number(v);
  if (!/^\d+$/.test(v) || !Number.isSafeInteger(n)) throw new InvalidArgumentError(`expected a whole number >= 0, got "${v}"`);
  return n;
}

/** A whole number from 0 to 10,000,000 (the server's and the CA's counts, ports, days). */
export function wholeNumber(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 10_000_000) throw new InvalidArgumentError(`expected a whole number, got "${v}"`);
  return n;
}

/** `--format human|json` (default human); `description` says where it goes. */
export function formatOption(description: string): Option {
  return new Option('--format <format>', description).choices(['human', 'json']).default('human');
}

/** The fleet options shared by compile, explain, apply and plan. */
export function fleetOptions(cmd: Command): Command {
  return cmd
    .option('--facts <file>', "facts of the node, as JSON (default: this host's when it is the node, else only its name)")
    .option('--environment <env>', 'environment of a fleet tree (default: TSCONVERGE_ENVIRONMENT, else the only one)')
    .option('--secrets-dir <dir>', 'directory of secret files, mode 0600/0400 (default: TSCONVERGE_SECRETS_DIR, else /etc/tsconverge/secrets)');
}

/** What apply and plan share: the catalogue to converge, how, and the fleet options. */
export function runOptions(cmd: Command): Command {
  return fleetOptions(
    cmd
      .argument('[path]', 'manifest file or directory of *.yaml files', DEFAULTS.manifests)
      .addOption(formatOption('output format on stdout'))
      .option('--root <dir>', 'host root directory for files and bind-mount sources (tests use a temp dir)', '/')
      .option('--concurrency <n>', 'resources applied at once', positiveInt, DEFAULTS.concurrency)
      .option('--timeout <seconds>', "time limit for one resource's apply", positiveInt, DEFAULTS.applyTimeoutMs / 1000)
      .option('--retries <n>', 'extra attempts after a transient failure (bad input is never retried)', nonNegativeInt, DEFAULTS.retries)
      .option('--node <name>', 'when PATH is a fleet tree (it has environments/): the node to compile for (default: the hostname fact)')
      .option('--allow-replace', 'replace stateful: true resources too (otherwise such a replace is held and reported)')
      .option('--adopt', 'take over existing containers, networks and volumes that tsconverge did not create (as adopt: true on each)')
      .option(
        '--state-dir <dir>',
        'run state: the run lock, last applied state, owed restarts, adoptions (default: $TSCONVERGE_STATE_DIR, else <root>/var/lib/tsconverge)',
      )
      .option('--no-compile-cache', 'compile PATH at every run: do not reuse (nor, for apply, store) the catalogue compiled from unchanged inputs'),
  );
}

/** The CA directory, for `ca ...` and `server`. */
export function caOptions(cmd: Command): Command {
  return cmd
    .option('--ca-dir <dir>', 'the CA directory (default: STATE_DIR/ca)')
    .option('--state-dir <dir>', 'state directory (default: TSCONVERGE_STATE_DIR, else /var/lib/tsconverge)');
}

/** The operator's connection to the catalogue server, for `nodes` and `rollout ...`. */
export function operatorOptions(cmd: Command): Command {
  return cmd
    .requiredOption('--server <url>', 'the catalogue server, e.g. https://puppet.example.org:8140')
    .option('--ca-dir <dir>', 'a CA directory to take ca.crt, operator.crt and operator.key from (default: STATE_DIR/ca)')
    .option('--state-dir <dir>', 'state directory (default: TSCONVERGE_STATE_DIR, else /var/lib/tsconverge)')
    .option('--ca-file <file>', 'the CA certificate')
    .option('--cert <file>', 'operator certificate')
    .option('--key <file>', 'operator key')
    .addOption(formatOption('output format'));
}
