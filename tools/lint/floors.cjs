/**
 * The floors of src/, highest first in docs/architecture.md: each top-level folder and
 * the folders it may import. dependency-cruiser.cjs turns this table into rules;
 * drawing.mjs orders the drawing by it. A new folder of src/ gets a row here.
 */
const FLOORS = {
  core: [],
  generated: [],
  facts: ['core'],
  spec: ['core'],
  providers: ['facts', 'core', 'generated'],
  engine: ['providers', 'spec', 'facts', 'core', 'generated'],
  catalogue: ['spec', 'facts', 'core', 'generated'],
  import: ['catalogue', 'engine', 'providers', 'spec', 'facts', 'core', 'generated'],
  server: ['catalogue', 'engine', 'providers', 'spec', 'facts', 'core', 'generated'],
  agent: ['server', 'catalogue', 'engine', 'providers', 'spec', 'facts', 'core', 'generated'],
  push: ['server', 'catalogue', 'engine', 'providers', 'spec', 'facts', 'core', 'generated'],
  cli: ['agent', 'push', 'server', 'import', 'catalogue', 'engine', 'providers', 'spec', 'facts', 'core', 'generated'],
};

module.exports = { FLOORS };
