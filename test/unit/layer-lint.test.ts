/**
 * The rule of dependencies (docs/architecture.md) as eslint.config.js
 * enforces it: static imports, `await import('...')` and `import('...')`
 * types alike, per layer.
 */
import { ESLint } from 'eslint';
import { describe, expect, test } from 'vitest';

const eslint = new ESLint({ cwd: process.cwd() });

/** The messages of the layer rules for `code` linted as if it were `filePath`. */
async function layerMessages(filePath: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath });
  return (result?.messages ?? [])
    .filter((m) => m.ruleId === 'no-restricted-imports' || m.ruleId === 'no-restricted-syntax')
    .map((m) => `${m.line}: ${m.message}`);
}

const dynamic = (...specifiers: string[]) =>
  `export async function f(): Promise<unknown[]> {\n${specifiers
    .map((s) => `  const m${specifiers.indexOf(s)} = await import('${s}');`)
    .join('\n')}\n  return [${specifiers.map((_, i) => `m${i}`).join(', ')}];\n}\n`;

describe('dynamic import() follows the same layer rules as static imports', () => {
  test('core: no cli, commands, services, config, http, output, idp, context, nor the loud packages', async () => {
    const refused = [
      '../cli/main.js',
      '../commands/serve.js',
      '../services/serve.js',
      '../config/resolve.js',
      '../http/gateway/access-log.js',
      '../output/output.js',
      '../../idp/index.js',
      '../context.js',
      'undici',
      'chalk',
      'node:process',
      '@inquirer/prompts',
    ];
    const messages = await layerMessages('src/core/jwt/probe.ts', dynamic(...refused));
    expect(messages).toHaveLength(refused.length);
    const allowed = ['./time.js', '../gateway/verify.js', '../http-body.js', 'jose', 'node:crypto'];
    expect(await layerMessages('src/core/jwt/probe.ts', dynamic(...allowed))).toEqual([]);
  });

  test('gateway: no cli, commands, services (static or dynamic); its own http/ is fine', async () => {
    expect(
      await layerMessages(
        'src/gateway/http/probe.ts',
        dynamic('../../services/serve.js', '../../cli/main.js', '../../commands/serve.js'),
      ),
    ).toHaveLength(3);
    expect(
      await layerMessages(
        'src/gateway/http/probe.ts',
        "import { runServe } from '../../services/serve.js';\nexport const x = runServe;\n",
      ),
    ).toEqual([
      "1: '../../services/serve.js' import is restricted from being used by a pattern. gateway sits below services/: no cli/, commands/ or services/",
    ]);
    expect(
      await layerMessages(
        'src/gateway/http/probe.ts',
        dynamic('./router.js', '../../core/gateway/verify.js', '../../http/gateway/metrics.js'),
      ),
    ).toEqual([]);
  });

  test('services: no cli, commands; commands: no cli; http/config/output/idp: no services', async () => {
    expect(
      await layerMessages('src/services/probe.ts', dynamic('../cli/main.js', '../commands/x.js')),
    ).toHaveLength(2);
    expect(await layerMessages('src/services/probe.ts', dynamic('../gateway/plan.js'))).toEqual([]);
    expect(await layerMessages('src/commands/probe.ts', dynamic('../cli/main.js'))).toHaveLength(1);
    expect(await layerMessages('src/commands/probe.ts', dynamic('../services/serve.js'))).toEqual(
      [],
    );
    for (const layer of ['http', 'config', 'output', 'idp']) {
      expect(
        await layerMessages(`src/${layer}/probe.ts`, dynamic('../services/serve.js')),
      ).toHaveLength(1);
    }
    expect(
      await layerMessages('src/api/probe.ts', dynamic('../commands/serve.js', 'commander')),
    ).toHaveLength(2);
  });

  test('a type written import("...") counts too', async () => {
    const code =
      "export type S = import('../services/serve.js').GatewayService;\nexport const s: S | undefined = undefined;\n";
    expect(await layerMessages('src/core/probe.ts', code)).toEqual([
      '1: core imports only itself, openid-client and jose',
    ]);
  });
});
