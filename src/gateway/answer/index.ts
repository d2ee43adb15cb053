/**
 * The renderer of each error style. oidc-gw's own is loaded with the
 * gateway; a gateway's emulation is loaded only by the plans that use it
 * (docs/gateways/).
 */
import type { ErrorStyle } from '../plan.js';
import { rfc6750Renderer } from './rfc6750.js';
import type { Renderer } from './types.js';

export async function rendererFor(style: ErrorStyle): Promise<Renderer> {
  switch (style) {
    case 'rfc6750':
      return rfc6750Renderer;
    case 'tyk':
      return (await import('./tyk.js')).tykRenderer;
    case 'kong':
      return (await import('./kong.js')).kongRenderer;
    case 'apim': {
      const apim = await import('./apim.js');
      return { ...apim.apimRenderer, logReason: (_o, r) => apim.apimReasonName(r.reason) };
    }
  }
}
