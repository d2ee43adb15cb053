/**
 * Everything `decode` needs without --verify, behind one module: the command
 * imports it once, and the bundle ships it as one chunk (fewer files to load
 * on the fast path). Nothing here loads jose.
 */
export { extractToken, type ExtractedToken, type InputForm } from './input.js';
export {
  applySignature,
  exitCodeOf,
  gatewayFor,
  inspectToken,
  issuerFromInput,
  type Check,
  type InspectOptions,
  type Report,
} from './inspect.js';
export { renderReport } from './report-text.js';
