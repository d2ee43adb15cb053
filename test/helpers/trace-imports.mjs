// Records every module a process loads (to the file named by
// OIDC_GW_TRACE_IMPORTS), one path or URL a line: ES module resolutions
// through a resolve hook, require() calls (the CLI's bundle is CommonJS)
// through Module._load, with the requiring file, so that the bundle's own
// files show up too. Used to prove that commands load heavy dependencies lazily.
import { appendFileSync } from 'node:fs';
import Module, { register } from 'node:module';

const out = process.env.OIDC_GW_TRACE_IMPORTS;

register(
  `data:text/javascript,${encodeURIComponent(`
    import { appendFileSync } from 'node:fs';
    const out = process.env.OIDC_GW_TRACE_IMPORTS;
    export async function resolve(specifier, context, next) {
      const result = await next(specifier, context);
      if (out) appendFileSync(out, result.url + '\\n');
      return result;
    }
  `)}`,
  import.meta.url,
);

const load = Module._load;
Module._load = function traced(request, parent, isMain) {
  if (out) {
    let resolved = request;
    try {
      resolved = Module._resolveFilename(request, parent, isMain);
    } catch {
      // Left to the real load to report.
    }
    appendFileSync(out, `${parent?.filename ?? '(none)'} -> ${resolved}\n`);
  }
  return load.apply(this, arguments);
};
