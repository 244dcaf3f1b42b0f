// The import graph, read by an independent tool (dependency-cruiser, through the TypeScript compiler, so ESM
// `.js` specifiers resolve to the `.ts` sources and type-only imports count): no module imports itself through
// others, the lab shares no codec with the product it checks, and the product reaches the lab only from the CLI
// commands that start it (docs/architecture.md, "Layers"; docs/lab.md).
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { cruise, type ICruiseResult, type IForbiddenRuleType } from 'dependency-cruiser';
import extractTSConfig from 'dependency-cruiser/config-utl/extract-ts-config';
import { tempDir } from '../helpers/tmp.js';

// dist/test/architecture → the repository root
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
// fuzz/ holds fuzz targets when the tree has them.
const SOURCE_DIRS = ['src', 'activities', 'workflows', 'test', 'bench', 'fuzz'].filter((d) =>
  existsSync(path.join(root, d)),
);

/** The product's protocol and format code the lab must not borrow: it checks those, so it speaks for itself. */
const PRODUCT_CODECS = '^src/(winrm|windows|disk|xapi)/';
/** The only product modules that may import the lab: the commands that start it and its sample media. */
const LAB_STARTERS = ['src/cli/lab.ts', 'src/cli/samples.ts'];

const rules: IForbiddenRuleType[] = [
  { name: 'no-circular', severity: 'error', from: {}, to: { circular: true } },
  { name: 'lab-speaks-for-itself', severity: 'error', from: { path: '^src/lab/' }, to: { path: PRODUCT_CODECS } },
  {
    name: 'product-reaches-lab-only-to-start-it',
    severity: 'error',
    from: { path: '^(src|activities|workflows)/', pathNot: ['^src/lab/', ...LAB_STARTERS.map((f) => `^${f}$`)] },
    to: { path: '^src/lab/' },
  },
];

async function cruiseTree(baseDir: string, dirs: string[]): Promise<ICruiseResult> {
  const tsConfigFile = path.join(root, 'tsconfig.json');
  const result = await cruise(
    dirs,
    {
      baseDir,
      validate: true,
      ruleSet: { forbidden: rules },
      tsPreCompilationDeps: true,
      tsConfig: { fileName: tsConfigFile },
      doNotFollow: { path: 'node_modules' },
    },
    {},
    { tsConfig: await extractTSConfig(tsConfigFile) },
  );
  return result.output as ICruiseResult;
}

const graph = cruiseTree(root, SOURCE_DIRS);

function violations(result: ICruiseResult, rule: string): string[] {
  return result.summary.violations
    .filter((v) => v.rule.name === rule)
    .map((v) => (v.cycle ? [v.from, ...v.cycle.map((c) => c.name)].join(' → ') : `${v.from} → ${v.to}`));
}

test('dependency-cruiser resolves every relative import of the sources (so the checks below see the graph)', async () => {
  const result = await graph;
  const unresolved = result.modules.flatMap((m) =>
    m.dependencies.filter((d) => d.couldNotResolve && d.module.startsWith('.')).map((d) => `${m.source}: ${d.module}`),
  );
  assert.deepEqual(unresolved, []);
  const own = result.modules.filter((m) => SOURCE_DIRS.some((d) => m.source.startsWith(`${d}/`)));
  assert.ok(
    own.some((m) => m.source === 'src/lab/guest/wsman.ts'),
    'the lab guest modules are in the graph',
  );
  assert.ok(own.length > 300, `only ${own.length} modules cruised`);
});

test('no import circles in src/, activities/, workflows/, test/, bench/ and fuzz/ (type-only imports included)', async () => {
  assert.deepEqual(violations(await graph, 'no-circular'), []);
});

test('the lab imports none of the product codecs (src/winrm, src/windows, src/disk, src/xapi)', async () => {
  assert.deepEqual(violations(await graph, 'lab-speaks-for-itself'), []);
});

test('outside the lab, only the CLI lab and samples commands import src/lab', async () => {
  assert.deepEqual(violations(await graph, 'product-reaches-lab-only-to-start-it'), []);
});

test('the checks fail when broken: a circle through `.js` specifiers, a borrowed codec, a stray lab import', async (t) => {
  const dir = await tempDir(t, 'xenimage-imports-');
  for (const d of ['src/a', 'src/lab/guest', 'src/winrm', 'activities'])
    await mkdir(path.join(dir, d), { recursive: true });
  await writeFile(
    path.join(dir, 'src/a/one.ts'),
    "import { two } from './two.js';\nexport const one = (): number => two();\n",
  );
  await writeFile(
    path.join(dir, 'src/a/two.ts'),
    "import type { one } from './one.js';\nexport const two = (): number => 2;\nexport type One = typeof one;\n",
  );
  await writeFile(path.join(dir, 'src/winrm/xml.ts'), 'export const parse = (s: string): string => s;\n');
  await writeFile(path.join(dir, 'src/lab/guest/wsman.ts'), "export { parse } from '../../winrm/xml.js';\n");
  await writeFile(path.join(dir, 'activities/guest.ts'), "export { parse } from '../src/lab/guest/wsman.js';\n");
  const result = await cruiseTree(dir, ['src', 'activities']);
  // two.ts imports one.ts for a type only: the circle is still found.
  assert.deepEqual(violations(result, 'no-circular'), ['src/a/one.ts → src/a/two.ts → src/a/one.ts']);
  assert.deepEqual(violations(result, 'lab-speaks-for-itself'), ['src/lab/guest/wsman.ts → src/winrm/xml.ts']);
  assert.deepEqual(violations(result, 'product-reaches-lab-only-to-start-it'), [
    'activities/guest.ts → src/lab/guest/wsman.ts',
  ]);
});
