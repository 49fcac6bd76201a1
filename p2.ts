import { loadManifestFile } from './src/catalogue/load.ts';
const r = await loadManifestFile(process.argv[2] ?? '/tmp/hp/m/a.yaml');
for (const e of r.errors) console.log(e.format().split('\n')[0]);
