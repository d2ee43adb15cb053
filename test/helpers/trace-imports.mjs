// A module-resolution hook that records every module URL a process loads
// (to the file named by OIDC_GW_TRACE_IMPORTS). Used to prove that commands
// load their heavy dependencies lazily.
import { register } from 'node:module';

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
