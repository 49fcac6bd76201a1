import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts', 'scripts/**/*.test.ts'],
    exclude: ['bench/**', 'node_modules/**', 'dist/**'],
    testTimeout: 180_000,
    hookTimeout: 180_000,
    // Integration tests share one Docker engine on a 2-core machine.
    maxWorkers: 2,
    reporters: ['default'],
  },
});
